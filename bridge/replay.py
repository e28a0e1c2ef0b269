"""`replay FILE.jsonl`: send a file of webhook bodies through the same pipeline as the function.

Streaming (memory stays flat for a million lines), packed into bulk requests, held under a
client-side rate limit, resumable from a checkpoint, and every line that fails is written
unchanged to a file that can itself be replayed."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aiolimiter import AsyncLimiter

from bridge.errors import BridgeError
from bridge.runtime import Runtime
from bridge.webhook import WebhookRequest, map_request
from delivery import MoEngageRejected, MoEngageSender, MoEngageUnavailable
from mapping import MappingResult

DEFAULT_RATE_PER_MINUTE = 20_000  # under MoEngage's bulk quota in either documented reading
BATCH_LINES = 500
LIMITER_WINDOW_SECONDS = 5
BATCH_BYTES = 400_000


class CredentialsRefused(RuntimeError):
    """MoEngage refused the key or account: stop, keep the checkpoint, fix the settings."""


@dataclass
class ReplayOptions:
    path: Path
    dry_run: bool = False
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE
    failed_path: Path | None = None
    checkpoint_path: Path | None = None
    restart: bool = False

    @property
    def failed(self) -> Path:
        return self.failed_path or self.path.with_name(self.path.name + ".failed.jsonl")

    @property
    def checkpoint(self) -> Path:
        return self.checkpoint_path or self.path.with_name(self.path.name + ".checkpoint.json")


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
    result: MappingResult


Progress = Callable[..., None]  # (offset, summary, final=False)


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


class Replayer:
    """Reads, maps, batches and delivers; one instance per run."""

    def __init__(
        self,
        runtime: Runtime,
        sender: MoEngageSender,
        options: ReplayOptions,
        progress: Progress | None = None,
    ) -> None:
        self.runtime = runtime
        self.sender = sender
        self.options = options
        self.progress = progress
        self.summary = ReplaySummary()
        # A 5-second bucket: a whole minute's bucket refills while a 429 is waited out and then
        # bursts into the next window (measured: 1 429 per run with 60 s, 0 with 5 s).
        self.bucket = options.rate_per_minute * LIMITER_WINDOW_SECONDS / 60
        self.limiter = AsyncLimiter(self.bucket, LIMITER_WINDOW_SECONDS)
        self._batch: list[_Line] = []
        self._batch_bytes = 0

    async def run(self) -> ReplaySummary:
        offset, failed_size = self._resume()
        with self.options.path.open("rb") as source, self._open_failed(failed_size) as failed:
            source.seek(offset)
            for raw in source:
                offset += len(raw)
                await self._take(raw, failed)
                if len(self._batch) >= BATCH_LINES or self._batch_bytes >= BATCH_BYTES:
                    await self._flush(failed)
                    self._save_checkpoint(offset, failed.tell())
                if self.progress:
                    self.progress(offset, self.summary)
            await self._flush(failed)
        self.options.checkpoint.unlink(missing_ok=True)
        if not self.summary.failed_total:
            self.options.failed.unlink(missing_ok=True)  # no empty leftovers
        if self.progress:
            self.progress(offset, self.summary, True)
        return self.summary

    async def _take(self, raw: bytes, failed: IO[bytes]) -> None:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            return
        self.summary.lines += 1
        try:
            _, result = map_request(self.runtime, parse_line(line))
        except BridgeError as error:
            self._fail(line, error.code, failed)
            return
        self.summary.mapped += 1
        if self.options.dry_run:
            return
        self._batch.append(_Line(line, result))
        self._batch_bytes += len(line)

    async def _flush(self, failed: IO[bytes]) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if not batch:
            return
        elements = sum(len(item.result.elements) for item in batch)
        while elements > 0:  # a batch may hold more elements than one bucket
            portion = min(elements, self.bucket)
            await self.limiter.acquire(portion)
            elements -= portion
        report = await self.sender.deliver_units([item.result.elements for item in batch])
        self.summary.http_requests += report.http_requests
        for item, error in zip(batch, report.unit_errors(len(batch)), strict=True):
            if error is None:
                self.summary.delivered += 1
            elif isinstance(error, MoEngageRejected) and error.is_configuration_error:
                raise CredentialsRefused(error.message)
            elif isinstance(error, MoEngageUnavailable):
                self._fail(item.raw, "moengage_unavailable", failed)
            else:
                self._fail(item.raw, f"moengage_rejected_{getattr(error, 'status', '')}", failed)
        failed.flush()

    def _fail(self, line: bytes, reason: str, failed: IO[bytes]) -> None:
        self.summary.failed[reason] += 1
        failed.write(line + b"\n")

    def _fingerprint(self) -> dict[str, object]:
        stat = self.options.path.stat()
        return {"path": str(self.options.path.resolve()), "inode": stat.st_ino}

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
        if self.options.restart or self.options.dry_run or not checkpoint.exists():
            return 0, None
        try:
            saved = json.loads(checkpoint.read_text())
        except ValueError:
            return 0, None
        if saved.get("file") != self._fingerprint():
            return 0, None
        self.summary.resumed_at_line = int(saved.get("lines", 0))
        self.summary.lines = self.summary.resumed_at_line
        self.summary.delivered = int(saved.get("delivered", 0))
        self.summary.mapped = int(saved.get("mapped", 0))
        self.summary.failed.update(saved.get("failed", {}))
        return int(saved.get("offset", 0)), int(saved.get("failed_size", 0))

    def _save_checkpoint(self, offset: int, failed_size: int) -> None:
        if self.options.dry_run:
            return
        data = {
            "file": self._fingerprint(),
            "offset": offset,
            "failed_size": failed_size,
            "mapped": self.summary.mapped,
            "lines": self.summary.lines,
            "delivered": self.summary.delivered,
            "failed": dict(self.summary.failed),
            "saved_at": time.time(),
        }
        temporary = self.options.checkpoint.with_suffix(".tmp")
        temporary.write_text(json.dumps(data))
        os.replace(temporary, self.options.checkpoint)
