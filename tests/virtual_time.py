"""Virtual time for a whole simulated run, so a seed replays it exactly: an event loop whose
clock is a `VirtualClock` (asyncio timeouts, `call_later`, waits all run on it, and when every
task waits only on a timer the clock jumps to it), and the product's own reads of the time
(`time.monotonic`, `time.time`, `datetime.now`) moved onto the same clock."""

from __future__ import annotations

import asyncio
import contextlib
import math
import selectors
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from tests.fakes import VirtualClock

_REAL_DATETIME = datetime
# the modules whose reads of the time move onto the virtual clock
PATCHED_PREFIXES = ("bridge.", "delivery", "function_app", "tests.table_model")


class _IdleSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """When the loop has nothing ready it would block until the next timer: instead the
    virtual clock moves there."""

    def __init__(self, idle: Callable[[float | None], None]) -> None:
        super().__init__()
        self._idle = idle

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None or timeout > 0:
            self._idle(timeout)
        return super().select(0)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock, with no threads and no real waiting."""

    def __init__(self, clock: VirtualClock) -> None:
        self._virtual = clock
        super().__init__(_IdleSelector(self._idle))

    def time(self) -> float:
        return self._virtual.monotonic()

    def _idle(self, timeout: float | None) -> None:
        if timeout is None:
            raise RuntimeError("every task waits on something that never comes: a deadlock")
        self._virtual.now += timedelta(microseconds=max(1, math.ceil(timeout * 1e6)))

    def quiet(self) -> bool:
        """Whether nothing is ready to run now (every task waits on a future or a later
        timer)."""
        ready = self._ready  # type: ignore[attr-defined]
        timers = self._scheduled  # type: ignore[attr-defined]
        return not ready and not (timers and timers[0].when() <= self.time())


class _DatetimeType(type):
    """`isinstance(x, datetime)` stays true for real datetimes inside a patched module."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, _REAL_DATETIME)

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, _REAL_DATETIME)


def virtual_datetime(clock: VirtualClock) -> type[datetime]:
    """`datetime` whose `now()` is the virtual clock's."""

    class VirtualDatetime(_REAL_DATETIME, metaclass=_DatetimeType):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return clock.now.astimezone(tz) if tz is not None else clock.now.replace(tzinfo=None)

        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return clock.now.replace(tzinfo=None)

    return VirtualDatetime


def virtual_time_module(clock: VirtualClock) -> SimpleNamespace:
    """`time` with `monotonic` and `time` on the virtual clock (the rest as it is)."""
    names = {name: getattr(time, name) for name in dir(time) if not name.startswith("_")}
    names.update(monotonic=clock.monotonic, time=lambda: clock.now.timestamp())
    return SimpleNamespace(**names)


@contextlib.contextmanager
def product_clocks(clock: VirtualClock) -> Iterator[None]:
    """Every loaded product module that reads `time` or `datetime.now` reads the virtual clock."""
    fake_time, fake_datetime = virtual_time_module(clock), virtual_datetime(clock)
    with contextlib.ExitStack() as stack:
        for name, module in list(sys.modules.items()):
            if not name.startswith(PATCHED_PREFIXES) or module is None:
                continue
            if getattr(module, "time", None) is time:
                stack.enter_context(_patched(module, "time", fake_time))
            if getattr(module, "datetime", None) is _REAL_DATETIME:
                stack.enter_context(_patched(module, "datetime", fake_datetime))
        yield


@contextlib.contextmanager
def _patched(module: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)
