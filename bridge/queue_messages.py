"""Queue messages without Azure types: what the HTTP trigger enqueues, what the queue trigger
receives, and the copies it writes back (scheduled retries, dead letters)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

# Application properties (the names a producer may also set when publishing to the queue).
EVENT = "event"
RECEIVED_UTC = "received_utc"
FIRST_RECEIVED_UTC = "first_received_utc"
ATTEMPT = "attempt"
IDEMPOTENCY_KEY = "idempotency_key"
CORRELATION_ID = "correlation_id"
DEAD_LETTER_REASON = "dead_letter_reason"
DEAD_LETTER_DESCRIPTION = "dead_letter_description"

FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 900.0
JITTER = 0.2
MAX_MESSAGE_ID = 128


@dataclass(frozen=True)
class IncomingMessage:
    """A received queue message, as the outcome logic needs it."""

    body: bytes
    message_id: str
    properties: Mapping[str, object] = field(default_factory=dict)
    delivery_count: int = 1
    enqueued_time: datetime | None = None

    @property
    def event(self) -> str | None:
        value = self.properties.get(EVENT)
        return value.strip() or None if isinstance(value, str) else None

    @property
    def attempt(self) -> int:
        value = self.properties.get(ATTEMPT)
        try:
            return max(0, int(value)) if value is not None else 0
        except (TypeError, ValueError):
            return 0

    @property
    def idempotency_key(self) -> str:
        value = self.properties.get(IDEMPOTENCY_KEY)
        return value if isinstance(value, str) and value else self.message_id

    @property
    def correlation_id(self) -> str | None:
        value = self.properties.get(CORRELATION_ID)
        return value if isinstance(value, str) else None

    def first_received(self, now: datetime) -> datetime:
        """When the bridge first saw this event: the retry horizon counts from here."""
        parsed = parse_utc(self.properties.get(FIRST_RECEIVED_UTC))
        return parsed or self.enqueued_time or now


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to write to a queue; `scheduled_at` delays its visibility (a backoff)."""

    body: bytes
    message_id: str
    properties: dict[str, str | int | float | bool]
    scheduled_at: datetime | None = None


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def message_id_for(event: str, key: str | None, body: Mapping[str, object]) -> str:
    """The idempotency key: the id the mapping names (e.g. a reward id), else a hash of the
    event and the body, so a repeated Kognitiv delivery gets the same id and Service Bus
    duplicate detection drops it."""
    if key:
        candidate = f"{event}:{key}"
        if len(candidate) <= MAX_MESSAGE_ID:
            return candidate
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(f"{event}\n{canonical}".encode()).hexdigest()
    return f"{event[:60]}:{digest[:48]}" if event else digest[:64]


def first_message(
    raw: bytes, message_id: str, event: str | None, correlation_id: str, received: datetime
) -> OutgoingMessage:
    """What the HTTP trigger enqueues: the raw body, exactly as Kognitiv sent it."""
    properties: dict[str, str | int | float | bool] = {
        RECEIVED_UTC: utc_text(received),
        FIRST_RECEIVED_UTC: utc_text(received),
        ATTEMPT: 0,
        IDEMPOTENCY_KEY: message_id,
        CORRELATION_ID: correlation_id,
    }
    if event:
        properties[EVENT] = event
    return OutgoingMessage(raw, message_id, properties)


def _copy_properties(
    message: IncomingMessage, now: datetime
) -> dict[str, str | int | float | bool]:
    properties = {
        key: value
        for key, value in message.properties.items()
        if isinstance(value, str | int | float | bool)
    }
    properties[FIRST_RECEIVED_UTC] = utc_text(message.first_received(now))
    properties[IDEMPOTENCY_KEY] = message.idempotency_key
    return properties


def jitter_factor() -> float:
    """One factor per batch: its retries come back together (one batch, few requests) while
    batches of different instances spread out."""
    return random.uniform(1 - JITTER, 1 + JITTER)


def retry_delay(attempt: int, not_before: float | None = None, jitter: float = 1.0) -> float:
    """About 30 s, doubling, capped at about 15 min, times the jitter; never sooner than
    MoEngage's rate-limit reset."""
    base = min(FIRST_RETRY_SECONDS * 2 ** min(attempt, 16), MAX_RETRY_SECONDS)
    return max(base * jitter, not_before or 0.0)


def retry_copy(message: IncomingMessage, at: datetime, now: datetime) -> OutgoingMessage:
    """A copy scheduled for `at`, with the attempt count raised. Its id differs from the
    original's so duplicate detection does not swallow it."""
    attempt = message.attempt + 1
    properties = _copy_properties(message, now)
    properties[ATTEMPT] = attempt
    message_id = f"{message.idempotency_key[: MAX_MESSAGE_ID - 8]}#r{attempt}"
    return OutgoingMessage(message.body, message_id, properties, at)


def dead_letter_copy(
    message: IncomingMessage, reason: str, description: str, now: datetime
) -> OutgoingMessage:
    properties = _copy_properties(message, now)
    properties[ATTEMPT] = message.attempt
    properties[DEAD_LETTER_REASON] = reason
    properties[DEAD_LETTER_DESCRIPTION] = description[:1000]
    return OutgoingMessage(message.body, message.message_id, properties)


def replay_copy(message: IncomingMessage, now: datetime) -> OutgoingMessage:
    """A dead letter sent back to the main queue: a fresh start for attempts and horizon."""
    properties = _copy_properties(message, now)
    properties.pop(DEAD_LETTER_REASON, None)
    properties.pop(DEAD_LETTER_DESCRIPTION, None)
    properties[ATTEMPT] = 0
    properties[FIRST_RECEIVED_UTC] = utc_text(now)
    message_id = f"{message.idempotency_key[:100]}#replay{int(now.timestamp())}"
    return OutgoingMessage(message.body, message_id, properties)
