"""`replay FILE.jsonl` (or `-`, standard input): send a file of webhook bodies through the same
pipeline as the function.

Streaming (memory stays flat for a million lines), packed into bulk requests, held under a
client-side rate limit, resumable from a checkpoint, and every line that fails is written
unchanged to a file that can itself be replayed.

A line is never sent twice. Lines are settled a batch at a time (delivered, refused, or failed to
map) and the checkpoint is written after each batch, so it never lags behind what MoEngage
accepted. A stop request (Ctrl-C, SIGTERM: `stop()`) lets the requests in flight finish and
records their outcome; a second one abandons them and records their lines as "unconfirmed" in the
failed file, where a resume does not send them again. A file replayed to the end is refused
(`AlreadyRun`) unless the run is restarted."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bridge.common.errors import BridgeError
from bridge.deployment.runtime import Runtime
from bridge.ops.run_files import (
    AlreadyRun,
    CredentialsRefused,
    FileRunOptions,
    Interrupted,
    StoppableRun,
    run_fingerprint,
)
from bridge.webhook.handler import WebhookRequest, map_request
from delivery import MoEngageRejected, MoEngageSender, MoEngageUnavailable
from mapping import MappingResult

DEFAULT_RATE_PER_MINUTE = 20_000  # under MoEngage's bulk quota in either documented reading
BATCH_LINES = 500
LIMITER_WINDOW_SECONDS = 5
BATCH_BYTES = 400_000
STDIN_FAILED = Path("stdin.failed.jsonl")  # standard input's failed lines (current directory)
UNCONFIRMED = "unconfirmed"  # in flight when abandoned: may or may not have reached MoEngage
CREDENTIALS_REFUSED = "credentials_refused"


@dataclass
class ReplayOptions(FileRunOptions):
    CHECKPOINT_SUFFIX = ".checkpoint.json"

    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    dry_run: bool = False
    failed_path: Path | None = None

    @property
    def failed(self) -> Path:
        return self.failed_path or self.side_file(".failed.jsonl", STDIN_FAILED)


@dataclass
class ReplaySummary:
    lines: int = 0
    delivered: int = 0
    mapped: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    resumed_at_line: int = 0
    http_requests: int = 0

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "delivered": self.delivered,
            "mapped": self.mapped,
            "failed": self.failed_total,
            "failed_by_reason": dict(self.failed),
            "resumed_at_line": self.resumed_at_line,
            "moengage_requests": self.http_requests,
        }


@dataclass
class _Line:
    raw: bytes
    result: MappingResult | None = None
    error: str | None = None  # the mapping error's code


Progress = Callable[..., None]  # (line number, summary, final=False)


def parse_line(raw: bytes) -> WebhookRequest:
    """A line is a webhook body, or `{"event": name, "body": {...}}` to name the event."""
    try:
        value = json.loads(raw)
    except ValueError:
        return WebhookRequest(raw)
    if (
        isinstance(value, dict)
        and set(value) == {"event", "body"}
        and isinstance(value["body"], dict)
    ):
        event = value["event"] if isinstance(value["event"], str) else None
        return WebhookRequest(json.dumps(value["body"]).encode(), route_event=event)
    return WebhookRequest(raw)


def count_lines(path: Path) -> int:
    """Lines in a file (for a progress bar's total), read in blocks."""
    with path.open("rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


class Replayer(StoppableRun):
    """Reads, maps, batches and delivers; one instance per run. A stop request comes while a
    batch is settling (see `settling`; at any other moment the run can simply be abandoned with
    `Interrupted`: nothing was sent since the last checkpoint); abandoned requests' lines are
    recorded as unconfirmed and a resume does not send them again."""

    def __init__(
        self,
        runtime: Runtime,
        sender: MoEngageSender,
        options: ReplayOptions,
        progress: Progress | None = None,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.sender = sender
        self.options = options
        self.progress = progress
        self.summary = ReplaySummary()
        # A 5-second bucket: a whole minute's bucket refills while a 429 is waited out and then
        # bursts into the next window (measured: 1 429 per run with 60 s, 0 with 5 s).
        self.bucket = options.rate_per_minute * LIMITER_WINDOW_SECONDS / 60
        from aiolimiter import AsyncLimiter  # a command-line extra (requirements-cli.txt)

        self.limiter = AsyncLimiter(self.bucket, LIMITER_WINDOW_SECONDS)
        self.next_line = 0  # lines (blank ones too) settled so far: the resume point
        self.settling = False  # a batch is being sent or recorded: a stop must wait for it
        self._batch: list[_Line] = []
        self._batch_bytes = 0
        self._refused = ""

    async def run(self) -> ReplaySummary:
        offset, failed_size = self._resume()
        if self.progress:
            self.progress(self.next_line, self.summary)
        with self._open_source(offset) as source, self._open_failed(failed_size) as failed:
            line_number = self.next_line
            for raw in source:
                offset += len(raw)
                line_number += 1
                self._take(raw)
                if len(self._batch) >= BATCH_LINES or self._batch_bytes >= BATCH_BYTES:
                    await self._settle(failed, offset, line_number)
                    if self.stopping:
                        raise Interrupted(self.summary, self.next_line)
                if self.progress:
                    self.progress(line_number, self.summary)
            if not await self._settle(failed, offset, line_number):
                raise Interrupted(self.summary, self.next_line)
        if not self.options.dry_run:
            self._save_checkpoint(offset, failed_size=0, completed=True)
        if not self.summary.failed_total:
            self.options.failed.unlink(missing_ok=True)  # no empty leftovers
        if self.progress:
            self.progress(line_number, self.summary, True)
        return self.summary

    def _take(self, raw: bytes) -> None:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            return
        try:
            _, result = map_request(self.runtime, parse_line(line))
        except BridgeError as error:
            self._batch.append(_Line(line, error=error.code))
            return
        self._batch.append(_Line(line, result))
        self._batch_bytes += len(line)

    async def _settle(self, failed: IO[bytes], offset: int, line_number: int) -> bool:
        """Deliver the batch and record every line's outcome, then the checkpoint. False when a
        stop request came before anything was sent (nothing recorded: the lines are not done)."""
        self.settling = True
        try:
            return await self._settle_batch(failed, offset, line_number)
        finally:
            self.settling = False

    async def _settle_batch(self, failed: IO[bytes], offset: int, line_number: int) -> bool:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        units = [item.result.elements for item in batch if item.result is not None]
        outcomes: list[str | None] = [None] * len(units)
        if units and not self.options.dry_run:
            delivered = await self._deliver(units)
            if delivered is None:
                return False
            outcomes = delivered
            if CREDENTIALS_REFUSED in outcomes and None not in outcomes:
                raise CredentialsRefused(self._refused)  # nothing accepted: resume sends it all
        reasons = iter(outcomes)
        for item in batch:
            self.summary.lines += 1
            if item.error is not None:
                self._fail(item.raw, item.error, failed)
                continue
            self.summary.mapped += 1
            reason = next(reasons)
            if self.options.dry_run:
                continue
            if reason is None:
                self.summary.delivered += 1
            else:
                self._fail(item.raw, reason, failed)
        failed.flush()
        self.next_line = line_number
        self._save_checkpoint(offset, failed.tell())
        if CREDENTIALS_REFUSED in outcomes:
            raise CredentialsRefused(self._refused)
        return True

    async def _deliver(self, units: Sequence[Sequence[dict]]) -> list[str | None] | None:
        """Per unit, None when delivered or why not; None overall when stopped before sending."""
        if not await self._paced(self._acquire(sum(len(unit) for unit in units))):
            return None
        outcomes = await self._finished(self._send(units))
        if outcomes is None:  # abandoned by a second stop request
            return [UNCONFIRMED] * len(units)
        return outcomes

    async def _acquire(self, elements: float) -> None:
        while elements > 0:  # a batch may hold more elements than one bucket
            portion = min(elements, self.bucket)
            await self.limiter.acquire(portion)
            elements -= portion

    async def _send(self, units: Sequence[Sequence[dict]]) -> list[str | None]:
        report = await self.sender.deliver_units(units)
        self.summary.http_requests += report.http_requests
        outcomes: list[str | None] = []
        for error in report.unit_errors(len(units)):
            if error is None:
                outcomes.append(None)
            elif isinstance(error, MoEngageRejected) and error.is_configuration_error:
                self._refused = error.message
                outcomes.append(CREDENTIALS_REFUSED)
            elif isinstance(error, MoEngageUnavailable):
                outcomes.append("moengage_unavailable")
            else:
                outcomes.append(f"moengage_rejected_{getattr(error, 'status', '')}")
        return outcomes

    def _fail(self, line: bytes, reason: str, failed: IO[bytes]) -> None:
        self.summary.failed[reason] += 1
        failed.write(line + b"\n")

    def _fingerprint(self) -> dict[str, object]:
        assert self.options.path is not None
        return run_fingerprint(self.options.path, self.options.workspace)

    @contextmanager
    def _open_source(self, offset: int) -> Iterator[IO[bytes]]:
        if self.options.path is None:
            yield sys.stdin.buffer
            return
        with self.options.path.open("rb") as source:
            source.seek(offset)
            yield source

    def _open_failed(self, keep: int | None) -> IO[bytes]:
        """A fresh failed-lines file, or the resumed run's, cut back to its last checkpoint."""
        if keep is None or not self.options.failed.exists():
            return self.options.failed.open("wb")
        handle = self.options.failed.open("r+b")
        handle.truncate(keep)
        handle.seek(keep)
        return handle

    def _resume(self) -> tuple[int, int | None]:
        """(offset in the input, size of the failed file) from a matching checkpoint."""
        checkpoint = self.options.checkpoint
        if checkpoint is None or self.options.dry_run:
            return 0, None
        if self.options.restart:
            checkpoint.unlink(missing_ok=True)
        if not checkpoint.exists():
            return 0, None
        try:
            saved = json.loads(checkpoint.read_text())
        except ValueError:
            return 0, None
        if not isinstance(saved, dict) or saved.get("file") != self._fingerprint():
            return 0, None
        if saved.get("completed"):
            raise AlreadyRun(saved)
        self.next_line = int(saved.get("next_line", saved.get("lines", 0)))  # or older format
        self.summary.resumed_at_line = self.next_line
        self.summary.lines = int(saved.get("lines", 0))
        self.summary.delivered = int(saved.get("delivered", 0))
        self.summary.mapped = int(saved.get("mapped", 0))
        self.summary.failed.update(saved.get("failed", {}))
        return int(saved.get("offset", 0)), int(saved.get("failed_size", 0))

    def _save_checkpoint(self, offset: int, failed_size: int, completed: bool = False) -> None:
        checkpoint = self.options.checkpoint
        if self.options.dry_run or checkpoint is None:
            return
        data = {
            "file": self._fingerprint(),
            "completed": completed,
            "offset": offset,
            "next_line": self.next_line,
            "failed_size": failed_size,
            "mapped": self.summary.mapped,
            "lines": self.summary.lines,
            "delivered": self.summary.delivered,
            "failed": dict(self.summary.failed),
            "saved_at": time.time(),
        }
        temporary = checkpoint.with_suffix(".tmp")
        temporary.write_text(json.dumps(data))
        os.replace(temporary, checkpoint)
