"""`erase FILE` (or `-`, standard input): ask MoEngage to delete members, one member a call, and
keep a report that proves it. By default with Delete User (the profile and its attributes go
after MoEngage's 24-hour buffer; events stay); with `--gdpr`, MoEngage's GDPR erasure API
(OpenGDPR `request_type: "erasure"`: the personal data of the data subject).

The ids are read and checked first (the mapping's forbidden-id rules), so a bad line stops the
run before anything is sent. Deletes go out in small batches under a client-side rate limit and
MoEngage's own rate-limit gate, with the sender's retries. A member Delete User does not know
("Not Found": never there, or deleted already) counts as done, so running a list again is
harmless. Every outcome names what MoEngage said, never more: `delete_accepted` is a request
MoEngage accepted, not a deletion that happened.

Resumable like `replay`: after each batch every outcome is appended to the report and the
checkpoint is written, so a resumed run sends no settled delete again. A stop request (Ctrl-C,
SIGTERM) lets the deletes in flight finish and records them; a second one abandons them (they
are not recorded, and a resume sends them again: a repeated delete is harmless). When MoEngage
refuses the credentials or stays unavailable through the retries, the run stops after that
batch: every delete of it that settled (also after the one that failed) is recorded, and the
checkpoint lists them, so the resume sends only those that did not.

The report holds no member id and no key: each member is named by HMAC-SHA256 keyed by the
operator's report key, kept apart from the report (a file the operator keeps, or a secret in
KOGNITIV_ERASURE_REPORT_KEY). Whoever holds the key and an id can check that it was erased; the
report alone cannot be searched with a list of candidate ids."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bridge.common.telemetry import mask_member_id
from bridge.ops.erasure_report import (
    DELETE_ACCEPTED,
    ERASURE_ACCEPTED,
    NOT_FOUND,
    REFUSED,
    ErasureReport,
    Outcome,
    ids_digest,
    now_text,
)
from bridge.ops.run_files import (
    AlreadyRun,
    CredentialsRefused,
    FileRunOptions,
    Interrupted,
    StoppableRun,
    run_fingerprint,
)
from delivery import MoEngageRejected, MoEngageSender, MoEngageUnavailable
from delivery.sender import DeliveryReport
from mapping.policy import customer_id_problem

DEFAULT_RATE_PER_MINUTE = 2_000  # Delete User allows 5,000 calls a minute: leave the app room
BATCH_IDS = 16  # deletes settled (and checkpointed) together; 4 are in flight at once
LIMITER_WINDOW_SECONDS = 5
STDIN_REPORT = Path("stdin.erasure.jsonl")


class StillUnavailable(RuntimeError):
    """MoEngage stayed unavailable through the retries: stop, keep the checkpoint, resume."""


def read_member_ids(lines: Iterable[bytes]) -> tuple[list[str], list[str]]:
    """The distinct member ids in order (blank lines and `#` comments skipped, spaces trimmed)
    and the problems found, by line number (the same rules as a mapped customer_id)."""
    ids: dict[str, None] = {}
    problems: list[str] = []
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            problems.append(f"line {number}: not UTF-8 text")
            continue
        if not text or text.startswith("#"):
            continue
        problem = customer_id_problem(text)
        if problem:
            problems.append(f"line {number}: the member id {problem}")
        else:
            ids.setdefault(text, None)
    return list(ids), problems


def masked(member_id: str) -> str:
    """An id as shown on the console before confirming: enough to recognise it, no more
    (e-mail addresses and phone numbers used as ids are masked whole)."""
    shown = mask_member_id(member_id)
    if shown != member_id:
        return shown
    if len(member_id) <= 6:
        return "*" * len(member_id)
    return f"{member_id[:2]}{'*' * (len(member_id) - 4)}{member_id[-2:]}"


@dataclass
class EraseOptions(FileRunOptions):
    CHECKPOINT_SUFFIX = ".erase.checkpoint"

    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    report_path: Path | None = None
    gdpr: bool = False

    @property
    def api(self) -> str:
        """The MoEngage API the run uses, as its checkpoint records it."""
        return "gdpr_erasure" if self.gdpr else "delete_user"

    @property
    def report(self) -> Path:
        return self.report_path or self.side_file(".erasure.jsonl", STDIN_REPORT)


@dataclass
class EraseSummary:
    ids: int = 0
    api: str = "delete_user"
    outcomes: Counter[str] = field(default_factory=Counter)
    resumed_at: int = 0
    http_requests: int = 0

    @property
    def done(self) -> int:
        """Members whose request settled without a refusal: accepted, or not found."""
        return sum(self.outcomes[name] for name in (DELETE_ACCEPTED, ERASURE_ACCEPTED, NOT_FOUND))

    @property
    def refused(self) -> int:
        return self.outcomes[REFUSED]

    def as_dict(self) -> dict[str, object]:
        return {
            "ids": self.ids,
            "api": self.api,
            "done": self.done,
            DELETE_ACCEPTED: self.outcomes[DELETE_ACCEPTED],
            ERASURE_ACCEPTED: self.outcomes[ERASURE_ACCEPTED],
            NOT_FOUND: self.outcomes[NOT_FOUND],
            REFUSED: self.refused,
            "resumed_at": self.resumed_at,
            "moengage_requests": self.http_requests,
        }


class Eraser(StoppableRun):
    """Sends the deletes of one run, batch by batch; one instance per run. Abandoned deletes
    are not recorded: a resume sends them again (a repeated delete is harmless)."""

    def __init__(
        self,
        sender: MoEngageSender,
        report: ErasureReport,
        options: EraseOptions,
    ) -> None:
        super().__init__()
        self.sender = sender
        self.report = report
        self.options = options
        self.summary = EraseSummary()
        self.bucket = options.rate_per_minute * LIMITER_WINDOW_SECONDS / 60
        from aiolimiter import AsyncLimiter  # a command-line extra (requirements-cli.txt)

        self.limiter = AsyncLimiter(self.bucket, LIMITER_WINDOW_SECONDS)
        self.next_id = 0  # every id before it has settled: the resume point
        self.ahead: set[int] = set()  # ids after next_id that settled (a sibling failed)
        self.digest = ""

    async def run(self, ids: Sequence[str]) -> EraseSummary:
        """Erase `ids` (from the checkpoint on); raise Interrupted, CredentialsRefused,
        StillUnavailable or AlreadyRun when the run stops before the end."""
        self.digest = ids_digest(self.report.key, ids)
        keep = self._resume()
        self.summary.ids = len(ids)
        self.summary.api = self.options.api
        with self.report.open(keep) as report:
            while self.next_id < len(ids):
                indices = self._next_batch(len(ids))
                if self.stopping or not await self._settle(indices, ids, report):
                    raise Interrupted()
        self._save_checkpoint(0, completed=True)
        return self.summary

    @property
    def settled(self) -> int:
        """Ids settled and in the report so far."""
        return self.next_id + len(self.ahead)

    def _next_batch(self, total: int) -> list[int]:
        """The next BATCH_IDS ids not settled yet, by position."""
        batch: list[int] = []
        position = self.next_id
        while position < total and len(batch) < BATCH_IDS:
            if position not in self.ahead:
                batch.append(position)
            position += 1
        return batch

    def _units(self, batch: Sequence[str]) -> list[list[dict]]:
        if not self.options.gdpr:
            return [[{"type": "delete", "customer_id": member}] for member in batch]
        submitted = now_text()
        return [
            [{"type": "erasure", "customer_id": member, "submitted_time": submitted}]
            for member in batch
        ]

    async def _settle(self, indices: Sequence[int], ids: Sequence[str], report: IO[str]) -> bool:
        """Send one batch and record what settled; False when stopped before sending."""
        batch = [ids[index] for index in indices]
        if not await self._paced(self.limiter.acquire(len(batch))):
            return False
        delivery = await self._finished(self.sender.deliver_units(self._units(batch)))
        if delivery is None:
            return False  # abandoned by a second stop request: nothing recorded
        self.summary.http_requests += delivery.http_requests
        return self._record(indices, batch, delivery, report)

    def _record(
        self,
        indices: Sequence[int],
        batch: Sequence[str],
        delivery: DeliveryReport,
        report: IO[str],
    ) -> bool:
        """Append every settled outcome of the batch (also those after a delete that did not
        settle), checkpoint, and raise when MoEngage's answer stops the run."""
        results = {result.slots[0][0]: result for result in delivery.results}
        accepted = ERASURE_ACCEPTED if self.options.gdpr else DELETE_ACCEPTED
        stop: Exception | None = None
        for unit, member in enumerate(batch):
            result = results[unit]
            error = result.error
            if isinstance(error, MoEngageRejected) and not error.is_configuration_error:
                outcome: Outcome = REFUSED
                report.write(self.report.line(member, outcome, error.request_id, error.message))
            elif error is None:
                outcome = NOT_FOUND if result.not_found else accepted
                report.write(self.report.line(member, outcome, result.request_id))
            else:
                if stop is None:
                    unavailable = isinstance(error, MoEngageUnavailable)
                    stop = (
                        StillUnavailable(error.message)
                        if unavailable
                        else CredentialsRefused(error.message)
                    )
                continue
            self.summary.outcomes[outcome] += 1
            self.ahead.add(indices[unit])
        while self.next_id in self.ahead:
            self.ahead.remove(self.next_id)
            self.next_id += 1
        report.flush()
        os.fsync(report.fileno())
        self._save_checkpoint(report.tell())
        if stop is not None:
            raise stop
        return True

    def _fingerprint(self) -> dict[str, object]:
        assert self.options.path is not None
        return run_fingerprint(self.options.path, self.options.workspace)

    def _resume(self) -> int | None:
        """The report size to keep, from a checkpoint of the same list whose report is still
        there; None to start anew."""
        checkpoint = self.options.checkpoint
        if checkpoint is None:
            return None
        if self.options.restart:
            checkpoint.unlink(missing_ok=True)
        try:
            saved = json.loads(checkpoint.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(saved, dict) or saved.get("file") != self._fingerprint():
            return None
        if saved.get("ids") != self.digest or saved.get("api", "delete_user") != self.options.api:
            return None  # the list or the API changed since: start again (harmless)
        if saved.get("completed"):
            raise AlreadyRun(saved)
        keep = int(saved.get("report_size", 0))
        report = self.options.report
        if saved.get("report") != str(report.resolve()) or _size(report) < keep:
            return None  # the evidence of the earlier part is gone: start again
        self.next_id = int(saved.get("next_id", 0))
        self.ahead = {int(index) for index in saved.get("settled_ahead", [])}
        self.summary.resumed_at = self.next_id
        self.summary.outcomes.update(saved.get("outcomes", {}))
        return keep

    def _save_checkpoint(self, report_size: int, completed: bool = False) -> None:
        checkpoint = self.options.checkpoint
        if checkpoint is None:
            return
        data = {
            "file": self._fingerprint(),
            "ids": self.digest,
            "api": self.options.api,
            "completed": completed,
            "next_id": self.next_id,
            "settled_ahead": sorted(self.ahead),
            "report": str(self.options.report.resolve()),
            "report_size": report_size,
            "outcomes": dict(self.summary.outcomes),
            "saved_at": time.time(),
        }
        temporary = checkpoint.with_name(checkpoint.name + ".tmp")
        temporary.write_text(json.dumps(data))
        os.replace(temporary, checkpoint)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1
