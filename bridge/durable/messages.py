"""Queue messages without Azure types: what the HTTP trigger enqueues, what the queue trigger
receives, and the copies it writes back (scheduled retries, dead letters)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridge.common.frozen import computed_once, fills_dict
from bridge.config.workspaces import DEFAULT_WORKSPACE

# Application properties (the names a producer may also set when publishing to the queue).
EVENT = "event"
RECEIVED_UTC = "received_utc"
FIRST_RECEIVED_UTC = "first_received_utc"
ATTEMPT = "attempt"
IDEMPOTENCY_KEY = "idempotency_key"
CORRELATION_ID = "correlation_id"
DEAD_LETTER_REASON = "dead_letter_reason"
DEAD_LETTER_DESCRIPTION = "dead_letter_description"
UNAVAILABLE_SINCE_UTC = "unavailable_since_utc"
DELIVERED_ELEMENTS = "delivered_elements"
WORKSPACE = "workspace"  # absent: the workspace `default`
UNKNOWN_WORKSPACE_SINCE_UTC = "unknown_workspace_since_utc"  # held for a workspace not defined
REPLAYED_UTC = "replayed_utc"  # a dead letter sent back: its event may have been delivered
RECORD_UNAVAILABLE_SINCE_UTC = "record_unavailable_since_utc"  # held for the delivered-keys record
# held because its member's row (member order) could not be read: a clock of its own, so a hold
# for the delivered-keys record never counts towards it (nor the other way round)
MEMBER_UNAVAILABLE_SINCE_UTC = "member_unavailable_since_utc"
SOURCE_TIME_UTC = "source_time_utc"  # when the fact happened (kept by replays), for member order
# the sequence number of the fact's first message (kept by retries, letters and replays): of two
# facts with one source time, the later-enqueued one is the newer
SOURCE_SEQUENCE = "source_sequence"
CLAIM_CHECK = "claim_check"  # a letter whose body is kept in the app's storage account

FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 900.0
JITTER = 0.2
MAX_MESSAGE_ID = 128
MAX_ATTEMPT = 10_000  # a producer's absurd `attempt` is clamped, never written back as is
_INT64 = 2**63


@fills_dict  # one per message
@dataclass(frozen=True)
class IncomingMessage:
    """A received queue message, as the outcome logic needs it."""

    body: bytes
    message_id: str
    properties: Mapping[str, object] = field(default_factory=dict)
    delivery_count: int = 1
    enqueued_time: datetime | None = None
    sequence_number: int | None = None
    source: str = ""

    @property
    def event(self) -> str | None:
        value = self.properties.get(EVENT)
        return value.strip() or None if isinstance(value, str) else None

    @computed_once
    def workspace(self) -> str:
        """The workspace this message is for; retries and dead letters keep the property.
        Worked out once per message: the trigger groups by it, the delivery key reads it."""
        value = self.properties.get(WORKSPACE)
        return (value.strip() or DEFAULT_WORKSPACE) if isinstance(value, str) else DEFAULT_WORKSPACE

    @property
    def attempt(self) -> int:
        """The retry count; any other value a producer set (text, "²", inf) reads as 0."""
        value = self.properties.get(ATTEMPT)
        if type(value) is int and 0 <= value <= MAX_ATTEMPT:  # as written by this bridge
            return value
        if isinstance(value, str):
            value = value.strip()
            value = int(value) if value.isascii() and value.isdigit() and len(value) < 8 else 0
        if isinstance(value, bool) or not isinstance(value, int | float):
            return 0
        if isinstance(value, float) and not value.is_integer():  # nan, inf, 1.5
            return 0
        return min(max(0, int(value)), MAX_ATTEMPT)

    @property
    def idempotency_key(self) -> str | None:
        """The identity of the event this message carries: the key a rule declared, else the
        MessageId (one delivery); None when neither exists, so nothing is recorded or matched."""
        value = self.properties.get(IDEMPOTENCY_KEY)
        if isinstance(value, str) and value:
            return value
        return self.message_id or None

    @computed_once
    def delivery_key(self) -> str | None:
        """What the delivered-keys record knows this event by: its identity within its
        workspace (two workspaces may see the same member and reward). Worked out once per
        message (a batch asks for it several times; the message never changes)."""
        key = self.idempotency_key
        if key is None or self.workspace == DEFAULT_WORKSPACE:
            return key
        return f"{self.workspace}/{key}"

    @property
    def redelivered(self) -> bool:
        """Seen before: the host redelivered it, it is a scheduled retry of an earlier try, or
        a replayed dead letter (most native letters are of events already delivered)."""
        return self.delivery_count > 1 or self.attempt > 0 or REPLAYED_UTC in self.properties

    @property
    def seen_before(self) -> bool:
        """Redelivered, a retry copy, or a replayed letter: a message whose event may already
        have reached MoEngage (a first delivery cannot have)."""
        return self.redelivered or SOURCE_TIME_UTC in self.properties

    @property
    def delivered_elements(self) -> frozenset[int]:
        """Elements of this message MoEngage already accepted (a request split by a 413)."""
        value = self.properties.get(DELIVERED_ELEMENTS)
        if not isinstance(value, str) or not value:
            return frozenset()
        parts = (part.strip() for part in value.split(",")[:10_000])
        return frozenset(int(p) for p in parts if p.isascii() and p.isdigit() and len(p) < 7)

    def unavailable_since(self) -> datetime | None:
        """When MoEngage's current unavailability for this message began (the horizon's start)."""
        return parse_utc(self.properties.get(UNAVAILABLE_SINCE_UTC))

    def record_unavailable_since(self) -> datetime | None:
        """Since when this message has been held because the delivered-keys record could not
        be read (see `bridge.durable.idempotency`)."""
        return parse_utc(self.properties.get(RECORD_UNAVAILABLE_SINCE_UTC))

    def member_unavailable_since(self) -> datetime | None:
        """Since when this message has been held because its member's row (member order)
        could not be read (see `bridge.durable.member_order`)."""
        return parse_utc(self.properties.get(MEMBER_UNAVAILABLE_SINCE_UTC))

    @property
    def lineage(self) -> str:
        """The root id of this message's retry copies: its MessageId without a retry suffix;
        for a message without a MessageId, its sequence number (stable across redeliveries, so
        a retry written twice is one copy); a random id only when neither exists."""
        root = _RETRY_SUFFIX.sub("", self.message_id)
        if root:
            return root
        if self.sequence_number is not None:
            return f"sequence-{self.sequence_number}"
        return uuid.uuid4().hex

    @property
    def correlation_id(self) -> str | None:
        value = self.properties.get(CORRELATION_ID)
        return value if isinstance(value, str) else None

    def source_time(self, now: datetime) -> datetime:
        """When this fact happened, for the order of a member's facts: `source_time_utc` (set
        by a replay, which starts a new horizon but keeps the fact's time), else when the
        bridge first accepted it."""
        return parse_utc(self.properties.get(SOURCE_TIME_UTC)) or self.first_received(now)

    @property
    def source_sequence(self) -> int:
        """The sequence number of this fact's first message: `source_sequence` (written on
        every copy), else this message's own; 0 when neither is known. Breaks ties between
        facts with one source time; any other value a producer set reads as unknown."""
        value = self.properties.get(SOURCE_SEQUENCE)
        if isinstance(value, str):
            value = value.strip()
            value = int(value) if value.isascii() and value.isdigit() and len(value) < 19 else None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _INT64:
            return value
        number = self.sequence_number
        if isinstance(number, int) and not isinstance(number, bool) and 0 <= number < _INT64:
            return number
        return 0

    def first_received(self, now: datetime) -> datetime:
        """When the bridge first saw this event: the retry horizon counts from here."""
        parsed = parse_utc(self.properties.get(FIRST_RECEIVED_UTC))
        return parsed or parse_utc(self.enqueued_time) or now


@dataclass(frozen=True)
class OutgoingMessage:
    """A message to write to a queue; `scheduled_at` delays its visibility (a backoff)."""

    body: bytes
    message_id: str
    properties: dict[str, str | int | float | bool]
    scheduled_at: datetime | None = None


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def parse_utc(value: object) -> datetime | None:
    """An aware UTC datetime; a value without a time zone is read as UTC (Service Bus times
    are). Anything else, or a time outside 2000-9000 (which arithmetic could overflow), is
    None: a property is data and never raises."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    try:
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        moment = aware.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return moment if EARLIEST <= moment <= LATEST else None


def bounded_id(text: str, suffix: str = "") -> str:
    """`text + suffix` when it fits a MessageId, else a hash of the whole text (never a
    truncation: two long ids sharing a prefix must stay different)."""
    if len(text) + len(suffix) <= MAX_MESSAGE_ID:
        return text + suffix
    return hashlib.sha256(text.encode()).hexdigest() + suffix


def message_id_for(event: str, key: str | None, workspace: str = DEFAULT_WORKSPACE) -> str:
    """The MessageId of a new delivery: `<event>:<hash of event and key>` when the rule
    declared the event's identity (a repeated delivery of that event is then dropped by
    duplicate detection), else a fresh uuid: a repeated body without a declared identity is a
    new fact, never a duplicate. Hashed: keys carry member ids, and MessageIds are logged.
    Another workspace than `default` is part of the id (`<workspace>:<event>:<hash>`, the
    hash covering it too): two programs may send the same member and reward."""
    prefix = "" if workspace == DEFAULT_WORKSPACE else f"{workspace}:"
    name = prefix + event[: 60 - len(prefix)]  # at most 60 characters before the hash
    if key:
        parts = (event, key) if not prefix else (workspace, event, key)
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        return f"{name}:{digest[:48]}"
    return f"{name}:{uuid.uuid4().hex}"


def first_message(
    raw: bytes,
    message_id: str,
    event: str | None,
    correlation_id: str,
    received: datetime,
    workspace: str = DEFAULT_WORKSPACE,
) -> OutgoingMessage:
    """What the HTTP trigger enqueues: the raw body, exactly as Kognitiv sent it; its MessageId
    is its identity (`idempotency_key`), kept by every retry copy, like its workspace."""
    properties: dict[str, str | int | float | bool] = {
        RECEIVED_UTC: utc_text(received),
        FIRST_RECEIVED_UTC: utc_text(received),
        ATTEMPT: 0,
        IDEMPOTENCY_KEY: message_id,
        CORRELATION_ID: correlation_id,
        WORKSPACE: workspace,
    }
    if event:
        properties[EVENT] = event
    return OutgoingMessage(raw, message_id, properties)


def _copy_properties(
    message: IncomingMessage, now: datetime
) -> dict[str, str | int | float | bool]:
    properties: dict[str, str | int | float | bool] = {}
    for key, value in message.properties.items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT64:
            properties[str(key)] = str(value)  # AMQP has no wider integer
        elif isinstance(value, str | int | float | bool):
            properties[str(key)] = value
    properties[FIRST_RECEIVED_UTC] = utc_text(message.first_received(now))
    sequence = message.source_sequence
    if sequence:
        properties[SOURCE_SEQUENCE] = sequence
    else:
        properties.pop(SOURCE_SEQUENCE, None)  # unreadable: never written back as it came
    key = message.idempotency_key
    if key:
        properties[IDEMPOTENCY_KEY] = key
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


_RETRY_SUFFIX = re.compile(r"#r\d+$")


def retry_id(message: IncomingMessage, attempt: int) -> str:
    """The id of a retry copy: the lineage's root id (this message's id without its retry
    suffix) plus the attempt. Deterministic, so a retry written twice (a redelivered batch) is
    dropped by duplicate detection; a replayed letter starts a new lineage (its own id), so its
    retries never collide with the original's."""
    return bounded_id(message.lineage, f"#r{attempt}")


def retry_copy(
    message: IncomingMessage,
    at: datetime,
    now: datetime,
    *,
    unavailable_since: datetime | None = None,
    delivered_elements: frozenset[int] = frozenset(),
    record_unavailable_since: datetime | None = None,
    member_unavailable_since: datetime | None = None,
) -> OutgoingMessage:
    """A copy scheduled for `at`, with the attempt count raised. `unavailable_since` starts
    (or continues) the retry horizon; without it the horizon is not running (429, settings).
    The two outage clocks (delivered-keys record, member row) run only while given."""
    attempt = message.attempt + 1
    properties = _copy_properties(message, now)
    properties[ATTEMPT] = attempt
    properties.pop(UNAVAILABLE_SINCE_UTC, None)
    properties.pop(UNKNOWN_WORKSPACE_SINCE_UTC, None)  # set again by a hold that goes on
    if unavailable_since is not None:
        properties[UNAVAILABLE_SINCE_UTC] = utc_text(unavailable_since)
    properties.pop(RECORD_UNAVAILABLE_SINCE_UTC, None)
    if record_unavailable_since is not None:
        properties[RECORD_UNAVAILABLE_SINCE_UTC] = utc_text(record_unavailable_since)
    properties.pop(MEMBER_UNAVAILABLE_SINCE_UTC, None)
    if member_unavailable_since is not None:
        properties[MEMBER_UNAVAILABLE_SINCE_UTC] = utc_text(member_unavailable_since)
    _set_delivered(properties, delivered_elements)
    return OutgoingMessage(message.body, retry_id(message, attempt), properties, at)


def _set_delivered(
    properties: dict[str, str | int | float | bool], delivered: frozenset[int]
) -> None:
    properties.pop(DELIVERED_ELEMENTS, None)
    if delivered:
        properties[DELIVERED_ELEMENTS] = ",".join(map(str, sorted(delivered)))


def dead_letter_copy(
    message: IncomingMessage,
    reason: str,
    description: str,
    now: datetime,
    delivered_elements: frozenset[int] | None = None,
) -> OutgoingMessage:
    """The letter: body and properties as received, the reason, and the elements MoEngage
    already accepted (`delivered_elements`, so a replay sends only the rest)."""
    properties = _copy_properties(message, now)
    properties[ATTEMPT] = message.attempt
    properties[DEAD_LETTER_REASON] = reason
    properties[DEAD_LETTER_DESCRIPTION] = description[:1000]
    properties.pop(RECORD_UNAVAILABLE_SINCE_UTC, None)
    properties.pop(MEMBER_UNAVAILABLE_SINCE_UTC, None)
    delivered = message.delivered_elements if delivered_elements is None else delivered_elements
    _set_delivered(properties, frozenset(delivered))
    return OutgoingMessage(message.body, message.message_id or message.lineage, properties)


POINTER_PROPERTIES = (
    EVENT,
    WORKSPACE,
    ATTEMPT,
    IDEMPOTENCY_KEY,
    CORRELATION_ID,
    FIRST_RECEIVED_UTC,
    DELIVERED_ELEMENTS,
    DEAD_LETTER_REASON,
)


def pointer_letter(letter: OutgoingMessage, reference: str) -> OutgoingMessage:
    """A small letter standing for one kept in the claim-check table (too large for the
    dead-letter queue): its reason and identity, and `claim_check` naming the row."""
    properties = {k: v for k, v in letter.properties.items() if k in POINTER_PROPERTIES}
    for name in (IDEMPOTENCY_KEY, CORRELATION_ID, EVENT, WORKSPACE):
        value = properties.get(name)
        if isinstance(value, str) and len(value) > 1024:
            properties.pop(name)
    description = str(letter.properties.get(DEAD_LETTER_DESCRIPTION, ""))[:500]
    properties[DEAD_LETTER_DESCRIPTION] = f"{description} (kept in the claim-check table)"
    properties[CLAIM_CHECK] = reference
    body = json.dumps({CLAIM_CHECK: reference, "size": len(letter.body)}).encode()
    return OutgoingMessage(body, letter.message_id, properties)


def replay_copy(message: IncomingMessage, now: datetime) -> OutgoingMessage:
    """A dead letter sent back to the main queue: a fresh start for attempts and horizon, and a
    new lineage of ids (the letter's own id and the replay time)."""
    properties = _copy_properties(message, now)
    for name in (
        DEAD_LETTER_REASON,
        DEAD_LETTER_DESCRIPTION,
        UNAVAILABLE_SINCE_UTC,
        UNKNOWN_WORKSPACE_SINCE_UTC,
    ):
        properties.pop(name, None)
    properties[ATTEMPT] = 0
    properties[SOURCE_TIME_UTC] = utc_text(message.source_time(now))
    properties[FIRST_RECEIVED_UTC] = utc_text(now)
    properties[REPLAYED_UTC] = utc_text(now)  # the delivered-keys record is consulted for it
    message_id = bounded_id(message.lineage, f"#replay{int(now.timestamp())}")
    return OutgoingMessage(message.body, message_id, properties)
