"""What this instance last saw from MoEngage that an operator must know about: credentials or
account refusals and rate limits, per workspace. Reported by `GET /api/health`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from delivery import MoEngageRejected

RECENT_SECONDS = 900.0


@dataclass
class Problem:
    kind: str
    detail: str
    at: float

    def describe(self) -> dict[str, object]:
        moment = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"kind": self.kind, "detail": self.detail, "at": moment}


class HealthLog:
    """The last MoEngage credentials and rate-limit problems seen by this instance."""

    def __init__(self) -> None:
        self.credentials: Problem | None = None
        self.rate_limit: Problem | None = None

    def saw_rejection(self, error: MoEngageRejected) -> None:
        if error.is_configuration_error:
            self.credentials = Problem("credentials", error.message, time.time())

    def saw_rate_limit(self, seconds: float | None) -> None:
        wait = "unknown" if seconds is None else f"{seconds:.0f} s"
        self.rate_limit = Problem("rate_limit", f"MoEngage asked to wait {wait}", time.time())

    def recent(self) -> list[Problem]:
        now = time.time()
        problems = [p for p in (self.credentials, self.rate_limit) if p is not None]
        return [p for p in problems if now - p.at <= RECENT_SECONDS]


@dataclass
class UnknownWorkspaceCount:
    """Queue messages naming a workspace the settings do not define, seen by this instance."""

    held: int = 0
    dead_lettered: int = 0
    last_at: float = 0.0

    def describe(self) -> dict[str, object]:
        moment = datetime.fromtimestamp(self.last_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"held": self.held, "dead_lettered": self.dead_lettered, "last_at": moment}


class WorkspaceHealth:
    """One HealthLog per workspace name, kept for the life of the process (a settings change
    rebuilds the runtimes, not what MoEngage said), and the queue messages that named a
    workspace the settings do not define."""

    def __init__(self) -> None:
        self._logs: dict[str, HealthLog] = {}
        self.unknown_workspaces: dict[str, UnknownWorkspaceCount] = {}

    def saw_unknown_workspace(self, name: str, *, held: int, dead_lettered: int) -> None:
        count = self.unknown_workspaces.setdefault(name, UnknownWorkspaceCount())
        count.held += held
        count.dead_lettered += dead_lettered
        count.last_at = time.time()

    def workspace(self, name: str) -> HealthLog:
        found = self._logs.get(name)
        if found is None:
            found = self._logs[name] = HealthLog()
        return found

    def clear(self) -> None:
        self._logs.clear()
        self.unknown_workspaces.clear()


HEALTH = WorkspaceHealth()


class DeadLetterHealth:
    """Whether this instance could last write to the dead-letter queue, and how many letters it
    had to keep in the claim-check table instead (`bridge.durable.claim_checks`)."""

    def __init__(self) -> None:
        self.problem: Problem | None = None
        self.parked = 0

    def unwritable(self, kind: str, detail: str) -> None:
        self.problem = Problem(kind, detail, time.time())

    def written(self) -> None:
        self.problem = None

    def clear(self) -> None:
        self.problem = None
        self.parked = 0

    def describe(self) -> dict[str, object]:
        return {
            "writable": self.problem is None,
            "problem": self.problem.describe() if self.problem else None,
            "letters_in_claim_check_table": self.parked,
        }


DEAD_LETTERS = DeadLetterHealth()
