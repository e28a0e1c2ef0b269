"""Test doubles behind the same small interfaces the function uses: a queue gateway that keeps
messages in memory (scheduled ones become due on a virtual clock) and that virtual clock. The
dead-letter commands and the trigger's end-to-end tests use tests/servicebus_model.py instead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bridge.durable.messages import IncomingMessage, OutgoingMessage


class VirtualClock:
    """Wall time and monotonic time that only move when told to (or when something sleeps)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
        self.origin = self.now

    def wall(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - self.origin).total_seconds()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))


def as_incoming(message: OutgoingMessage, enqueued: datetime) -> IncomingMessage:
    return IncomingMessage(
        body=message.body,
        message_id=message.message_id,
        properties=dict(message.properties),
        delivery_count=1,
        enqueued_time=enqueued,
    )


class FakeGateway:
    """An in-memory queue and dead-letter queue; `failures` makes the next writes raise."""

    def __init__(self) -> None:
        self.queue: list[OutgoingMessage] = []
        self.dead: list[OutgoingMessage] = []
        self.send_failures = 0
        self.dead_letter_failures = 0
        self.writes = 0

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        if self.send_failures:
            self.send_failures -= 1
            raise ConnectionError("Service Bus is unreachable")
        self.writes += 1
        self.queue.extend(messages)

    async def dead_letter(self, messages: Sequence[OutgoingMessage]) -> None:
        if self.dead_letter_failures:
            self.dead_letter_failures -= 1
            raise ConnectionError("Service Bus is unreachable")
        self.dead.extend(messages)

    def next_due(self) -> datetime | None:
        times = [m.scheduled_at for m in self.queue if m.scheduled_at is not None]
        immediate = [m for m in self.queue if m.scheduled_at is None]
        if immediate:
            return datetime.min.replace(tzinfo=UTC)
        return min(times) if times else None

    def take_due(self, now: datetime) -> list[IncomingMessage]:
        due = [m for m in self.queue if m.scheduled_at is None or m.scheduled_at <= now]
        self.queue = [m for m in self.queue if m not in due]
        return [as_incoming(m, m.scheduled_at or now) for m in due]
