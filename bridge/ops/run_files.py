"""Where a command-line run over an input file keeps its side files (checkpoint, failed lines,
report), and how a checkpoint recognises its run.

A run is one file sent to one workspace: the same file replayed or erased for another workspace
is another run, with its own side files and a checkpoint that never resumes the first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from bridge.config.workspaces import DEFAULT_WORKSPACE

T = TypeVar("T")
StopOutcome = Literal["finishing", "stopping", "abandoning", "already stopping"]


class CredentialsRefused(RuntimeError):
    """MoEngage refused the key or account: stop, keep the checkpoint, fix the settings."""


class AlreadyRun(RuntimeError):
    """The file was run to its end before (replayed or erased); running it again needs
    --restart. `saved` is the checkpoint that says so."""

    def __init__(self, saved: dict[str, object]) -> None:
        super().__init__("already run to its end")
        self.saved = saved


class Interrupted(RuntimeError):
    """Stopped on request: everything settled is checkpointed, the rest was not sent. A replay
    says where (`summary`, `next_line`: every line before it is settled)."""

    def __init__(self, summary: Any = None, next_line: int | None = None) -> None:
        super().__init__("interrupted")
        self.summary = summary
        self.next_line = next_line


class StoppableRun:
    """How a run over a file stops (Ctrl-C, SIGTERM: `stop()`): the first request cancels a
    wait for the rate limit and lets the requests in flight finish, so their outcome is
    recorded, and nothing more is sent; a second abandons the requests in flight."""

    def __init__(self) -> None:
        self.stopping = False
        self._waiting: asyncio.Future[Any] | None = None  # for the rate limit: nothing sent
        self._in_flight: asyncio.Future[Any] | None = None

    def stop(self) -> StopOutcome:
        if not self.stopping:
            self.stopping = True
            if self._waiting is not None:
                self._waiting.cancel()
            return "finishing" if self._in_flight is not None else "stopping"
        if self._in_flight is not None and not self._in_flight.done():
            self._in_flight.cancel()
            return "abandoning"
        return "already stopping"

    async def _paced(self, wait: Awaitable[Any]) -> bool:
        """Wait for the rate limit; False when a stop request ended the wait (nothing sent)."""
        self._waiting = asyncio.ensure_future(wait)
        try:
            await self._waiting
        except asyncio.CancelledError:
            if self.stopping and not _cancelling():
                return False
            raise
        finally:
            self._waiting = None
        return True

    async def _finished(self, sending: Awaitable[T]) -> T | None:
        """The requests' outcome; None when a second stop request abandoned them."""
        self._in_flight = asyncio.ensure_future(sending)
        try:
            return await self._in_flight
        except asyncio.CancelledError:
            if _cancelling():
                raise
            return None
        finally:
            self._in_flight = None


def _cancelling() -> bool:
    """Whether the running task itself is being cancelled (not just a task it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def side_file(path: Path, workspace: str, suffix: str) -> Path:
    """`FILE<suffix>` for the default workspace (unchanged names), `FILE.<workspace><suffix>`
    for the others."""
    infix = "" if workspace == DEFAULT_WORKSPACE else f".{workspace}"
    return path.with_name(f"{path.name}{infix}{suffix}")


def run_fingerprint(path: Path, workspace: str) -> dict[str, object]:
    """What a checkpoint must match to be resumed: the same file, sent to the same workspace."""
    stat = path.stat()
    return {"path": str(path.resolve()), "inode": stat.st_ino, "workspace": workspace}


@dataclass
class FileRunOptions:
    """What `replay` and `erase` share: the input (None: standard input, read once, with no
    checkpoint and no resume), the pace, the checkpoint and the workspace."""

    CHECKPOINT_SUFFIX: ClassVar[str]

    path: Path | None
    rate_per_minute: float
    checkpoint_path: Path | None = None
    restart: bool = False
    workspace: str = DEFAULT_WORKSPACE

    def side_file(self, suffix: str, standard_input: Path) -> Path:
        """This run's `suffix` file, or the fixed name used for standard input."""
        return standard_input if self.path is None else side_file(self.path, self.workspace, suffix)

    @property
    def checkpoint(self) -> Path | None:
        if self.path is None:
            return None
        return self.checkpoint_path or side_file(self.path, self.workspace, self.CHECKPOINT_SUFFIX)
