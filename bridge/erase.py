"""`erase FILE` (or `-`, standard input): delete members from MoEngage with its Delete User API,
one member a call, and keep a report that proves it.

The ids are read and checked first (the mapping's forbidden-id rules), so a bad line stops the
run before anything is sent. Deletes go out in small batches under a client-side rate limit and
MoEngage's own rate-limit gate, with the sender's retries. A member MoEngage does not know
("Not Found": never there, or erased already) counts as erased, so running a list again is
harmless.

Resumable like `replay`: after each batch every outcome is appended to the report and the
checkpoint is written, so a resumed run sends no settled delete again. A stop request (Ctrl-C,
SIGTERM) lets the deletes in flight finish and records them; a second one abandons them (they
are not recorded, and a resume sends them again: a repeated delete is harmless). When MoEngage
refuses the credentials or stays unavailable through the retries, the run stops at the first
delete that did not settle (exit 3 or 1); the deletes of that batch still in flight may be sent
again by the resume, harmlessly.

The report holds no member id: each member is named by a salted hash (HMAC-SHA256 keyed by a
random salt written in the report's first line), so whoever holds an id can check that it was
erased, while the report alone does not list who was."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

from bridge.run_files import CredentialsRefused, FileRunOptions, run_fingerprint
from bridge.telemetry import mask_member_id
from delivery import MoEngageRejected, MoEngageSender, MoEngageUnavailable
from delivery.sender import DeliveryReport
from mapping.policy import customer_id_problem

DEFAULT_RATE_PER_MINUTE = 2_000  # Delete User allows 5,000 calls a minute: leave the app room
BATCH_IDS = 16  # deletes settled (and checkpointed) together; 4 are in flight at once
LIMITER_WINDOW_SECONDS = 5
STDIN_REPORT = Path("stdin.erasure.jsonl")
REPORT_FORMAT = "kognitiv-bridge erasure report 1"
HASH_NAME = "hmac-sha256(salt, member id), hex"
ERASED, NOT_FOUND, REFUSED = "erased", "not_found", "refused"
Outcome = Literal["erased", "not_found", "refused"]


class StillUnavailable(RuntimeError):
    """MoEngage stayed unavailable through the retries: stop, keep the checkpoint, resume."""


class AlreadyErased(RuntimeError):
    """The file was erased to its end before; running it again needs --restart."""

    def __init__(self, saved: dict[str, object]) -> None:
        super().__init__("already erased")
        self.saved = saved


class Interrupted(RuntimeError):
    """Stopped on request; every settled delete is in the report and the checkpoint."""


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


def member_hash(salt: str, member_id: str) -> str:
    """How the report names a member: HMAC-SHA256 keyed by the report's salt."""
    return hmac.new(salt.encode(), member_id.encode(), hashlib.sha256).hexdigest()


@dataclass
class EraseOptions(FileRunOptions):
    CHECKPOINT_SUFFIX = ".erase.checkpoint"

    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    report_path: Path | None = None

    @property
    def report(self) -> Path:
        return self.report_path or self.side_file(".erasure.jsonl", STDIN_REPORT)


@dataclass
class EraseSummary:
    ids: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    resumed_at: int = 0
    http_requests: int = 0

    @property
    def erased(self) -> int:
        """Members MoEngage no longer has: deleted now, or not found (already gone)."""
        return self.outcomes[ERASED] + self.outcomes[NOT_FOUND]

    @property
    def refused(self) -> int:
        return self.outcomes[REFUSED]

    def as_dict(self) -> dict[str, object]:
        return {
            "ids": self.ids,
            "erased": self.erased,
            "deleted_now": self.outcomes[ERASED],
            "not_found": self.outcomes[NOT_FOUND],
            "refused": self.refused,
            "resumed_at": self.resumed_at,
            "moengage_requests": self.http_requests,
        }


class ErasureReport:
    """The evidence file: a header line (format, salt, workspace) then one line per member
    settled, appended as batches settle (resumed and repeated runs append to the same file
    under the same salt, so earlier evidence is never lost)."""

    def __init__(self, path: Path, workspace: str, data_center: str) -> None:
        self.path = path
        self.workspace = workspace
        self.data_center = data_center
        self.salt = ""

    def open(self, keep: int | None) -> IO[str]:
        """The report to append to: an existing one keeps its salt and everything recorded
        (cut back to `keep` bytes, what the checkpoint vouches for, when resuming); a new one
        starts with a header and a fresh salt."""
        header = _header(self.path)
        if header.get("format") == REPORT_FORMAT and isinstance(header.get("salt"), str):
            self.salt = header["salt"]
            handle = self.path.open("r+", encoding="utf-8")
            if keep is not None:
                handle.truncate(keep)
            handle.seek(0, os.SEEK_END)
            return handle
        self.salt = secrets.token_hex(16)
        handle = self.path.open("w", encoding="utf-8")
        header = {
            "format": REPORT_FORMAT,
            "created_at": _now(),
            "workspace": self.workspace,
            "data_center": self.data_center,
            "api": "MoEngage Delete User (POST /v1/customer/delete), identity_type customer_id",
            "member": HASH_NAME,
            "salt": self.salt,
        }
        handle.write(json.dumps(header) + "\n")
        return handle

    def line(
        self,
        member_id: str,
        outcome: Outcome,
        request_id: str | None,
        detail: str | None = None,
    ) -> str:
        entry = {
            "member": member_hash(self.salt, member_id),
            "time": _now(),
            "outcome": outcome,
            "moengage_request_id": request_id,
        }
        if detail:
            entry["detail"] = detail
        return json.dumps(entry) + "\n"


class Eraser:
    """Sends the deletes of one run, batch by batch; one instance per run."""

    def __init__(
        self,
        sender: MoEngageSender,
        report: ErasureReport,
        options: EraseOptions,
    ) -> None:
        self.sender = sender
        self.report = report
        self.options = options
        self.summary = EraseSummary()
        self.bucket = options.rate_per_minute * LIMITER_WINDOW_SECONDS / 60
        from aiolimiter import AsyncLimiter  # a command-line extra (requirements-cli.txt)

        self.limiter = AsyncLimiter(self.bucket, LIMITER_WINDOW_SECONDS)
        self.next_id = 0  # ids settled so far, in order: the resume point
        self.digest = ""
        self.stopping = False
        self._waiting: asyncio.Future[None] | None = None
        self._in_flight: asyncio.Future[DeliveryReport] | None = None

    def stop(self) -> str:
        """The first request lets the deletes in flight finish and sends no more; a second
        abandons them (not recorded: a resume sends them again)."""
        if not self.stopping:
            self.stopping = True
            if self._waiting is not None:
                self._waiting.cancel()
            return "finishing" if self._in_flight is not None else "stopping"
        if self._in_flight is not None and not self._in_flight.done():
            self._in_flight.cancel()
            return "abandoning"
        return "already stopping"

    async def run(self, ids: Sequence[str]) -> EraseSummary:
        """Erase `ids` (from the checkpoint on); raise Interrupted, CredentialsRefused,
        StillUnavailable or AlreadyErased when the run stops before the end."""
        self.digest = _ids_digest(ids)
        keep = self._resume()
        self.summary.ids = len(ids)
        with self.report.open(keep) as report:
            while self.next_id < len(ids):
                batch = ids[self.next_id : self.next_id + BATCH_IDS]
                if self.stopping or not await self._settle(batch, report):
                    raise Interrupted("interrupted")
        self._save_checkpoint(0, completed=True)
        return self.summary

    async def _settle(self, batch: Sequence[str], report: IO[str]) -> bool:
        """Send one batch and record what settled; False when stopped before sending."""
        self._waiting = asyncio.ensure_future(self.limiter.acquire(len(batch)))
        try:
            await self._waiting
        except asyncio.CancelledError:
            if self.stopping and not _cancelling():
                return False
            raise
        finally:
            self._waiting = None
        units = [[{"type": "delete", "customer_id": member}] for member in batch]
        self._in_flight = asyncio.ensure_future(self.sender.deliver_units(units))
        try:
            delivery = await self._in_flight
        except asyncio.CancelledError:
            if _cancelling():
                raise
            return False  # abandoned by a second stop request: nothing recorded
        finally:
            self._in_flight = None
        self.summary.http_requests += delivery.http_requests
        return self._record(batch, delivery, report)

    def _record(self, batch: Sequence[str], delivery: DeliveryReport, report: IO[str]) -> bool:
        """Append the settled outcomes in order, up to the first delete that did not settle,
        and checkpoint; raise when MoEngage's answer stops the run."""
        results = {result.slots[0][0]: result for result in delivery.results}
        stop: Exception | None = None
        for unit, member in enumerate(batch):
            result = results[unit]
            error = result.error
            if isinstance(error, MoEngageRejected) and not error.is_configuration_error:
                outcome: Outcome = REFUSED
                report.write(self.report.line(member, outcome, error.request_id, error.message))
            elif error is None:
                outcome = NOT_FOUND if result.not_found else ERASED
                report.write(self.report.line(member, outcome, result.request_id))
            else:
                unavailable = isinstance(error, MoEngageUnavailable)
                stop = (
                    StillUnavailable(error.message)
                    if unavailable
                    else CredentialsRefused(error.message)
                )
                break
            self.summary.outcomes[outcome] += 1
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
        if saved.get("ids") != self.digest:
            return None  # the list changed since: start again (erasing twice is harmless)
        if saved.get("completed"):
            raise AlreadyErased(saved)
        keep = int(saved.get("report_size", 0))
        report = self.options.report
        if saved.get("report") != str(report.resolve()) or _size(report) < keep:
            return None  # the evidence of the earlier part is gone: start again
        self.next_id = int(saved.get("next_id", 0))
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
            "completed": completed,
            "next_id": self.next_id,
            "report": str(self.options.report.resolve()),
            "report_size": report_size,
            "outcomes": dict(self.summary.outcomes),
            "saved_at": time.time(),
        }
        temporary = checkpoint.with_name(checkpoint.name + ".tmp")
        temporary.write_text(json.dumps(data))
        os.replace(temporary, checkpoint)


def _ids_digest(ids: Sequence[str]) -> str:
    """Which list a checkpoint belongs to, without keeping any id."""
    digest = hashlib.sha256()
    for member in ids:
        digest.update(member.encode() + b"\n")
    return digest.hexdigest()


def _header(path: Path) -> dict:
    """The report's first line, or {} when there is no readable report."""
    try:
        with path.open(encoding="utf-8") as handle:
            header = json.loads(handle.readline())
    except (OSError, ValueError):
        return {}
    return header if isinstance(header, dict) else {}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _cancelling() -> bool:
    """Whether the running task itself is being cancelled (not just a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
