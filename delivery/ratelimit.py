"""MoEngage's rate-limit signals. `x-ratelimit-reset` is documented both as seconds left in the
60 s window and as a UTC epoch: a value above ~10^9 is read as an epoch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from email.utils import parsedate_to_datetime

EPOCH_THRESHOLD = 1_000_000_000
MAX_WAIT_SECONDS = 3600.0


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value == value else None


def seconds_until_reset(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `x-ratelimit-reset` or `Retry-After`; None when neither is usable."""
    wall = time.time() if now is None else now
    reset = _number(headers.get("x-ratelimit-reset"))
    if reset is not None:
        wait = reset - wall if reset > EPOCH_THRESHOLD else reset
        return min(max(wait, 0.0), MAX_WAIT_SECONDS)
    retry_after = headers.get("retry-after")
    seconds = _number(retry_after)
    if seconds is None and retry_after:
        try:
            seconds = parsedate_to_datetime(retry_after).timestamp() - wall
        except (TypeError, ValueError):
            return None
    if seconds is None:
        return None
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


class RateLimitGate:
    """Holds every request to one workspace until MoEngage's window has reset."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._not_before = 0.0

    def block_for(self, seconds: float) -> None:
        self._not_before = max(self._not_before, self._clock() + seconds)

    def remaining(self) -> float:
        return max(0.0, self._not_before - self._clock())

    async def wait(self) -> None:
        while (delay := self.remaining()) > 0:
            await self._sleep(delay)
