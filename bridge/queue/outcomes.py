"""What becomes of each queue message: the four outcomes, why a message is held or dead-lettered,
and the log line each outcome writes (one per message, no member data beyond ids)."""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.common import telemetry
from bridge.common.frozen import fills_dict
from bridge.durable.messages import EARLIEST, LATEST, IncomingMessage, parse_utc


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"
    RETRY_LATER = "retry_later"
    DEAD_LETTERED = "dead_lettered"


class Reason(enum.StrEnum):
    INVALID_PAYLOAD = "invalid_payload"
    MAPPING_FAILED = "mapping_failed"
    MOENGAGE_REJECTED = "moengage_rejected"
    RETRIES_EXHAUSTED = "retries_exhausted"
    UNWRITABLE_RETRY = "unwritable_retry"


UNWRITABLE_RETRY = Reason.UNWRITABLE_RETRY.value
_TENTH_MS = timedelta(microseconds=100)  # a time span / this: tenths of milliseconds
DELIVERED = Outcome.DELIVERED  # a plain name: an enum member read costs a descriptor call


class Hold(enum.Enum):
    """Why a message waits: only `UNAVAILABLE` runs the retry horizon."""

    UNAVAILABLE = "unavailable"  # 5xx, timeouts, resets
    RATE_LIMITED = "rate_limited"  # 429: MoEngage is up; its quota resets
    CONFIGURATION = "configuration"  # our settings, credentials or account: fix and it flows
    RECORD = "record"  # another copy is being sent, or the record did not answer: soon again


@fills_dict  # one per message
@dataclass(frozen=True)
class MessageOutcome:
    message_id: str
    outcome: Outcome
    event: str | None = None
    reason: str | None = None
    description: str | None = None
    attempt: int = 0
    retry_at: datetime | None = None
    correlation_id: str | None = None
    request_id: str | None = None
    members: tuple[str, ...] = ()
    accepted: frozenset[int] = frozenset()  # elements MoEngage accepted this time (of a split)


def delivered_outcome(
    message_id: str,
    event: str | None,
    attempt: int,
    request_id: str | None,
    accepted: frozenset[int],
) -> MessageOutcome:
    """A delivered outcome (one per message of every wave). Its fields are passed by position:
    keyword arguments to a class cost a dict per call on Python 3.11 (about 3 k instructions
    here), a function's keyword arguments do not."""
    return MessageOutcome(
        message_id, DELIVERED, event, None, None, attempt, None, None, request_id, (),
        accepted,
    )  # fmt: skip


def log_outcomes(
    workspace: str,
    messages: Sequence[IncomingMessage],
    outcomes: Sequence[MessageOutcome] | Mapping[int, MessageOutcome],
    members: dict[int, list[str]],
    started: float,
    now: datetime,
    positions: Iterable[int] | None = None,
    written: set[int] | None = None,
) -> None:
    """The `queue_message` lines of the messages at `positions` (every message by default),
    leaving out those already `written` and adding each one written to it: one line per
    message per processing of its batch. `latency_ms` runs from `started` (the start of the
    batch's processing) to the line; `now` is the time of the lines. The same line
    `record_outcome` writes, built inline: it runs for every message of every batch and sits
    on the batch's critical path."""
    # milliseconds to a tenth: `round(seconds * 1000, 1)`'s value, at a third of its cost
    elapsed = round((time.perf_counter() - started) * 10_000) / 10
    size = len(messages)
    # Each line's dict is built here, None values left out, for `write_fields`: `write_line`'s
    # walk over the fields (and `record`'s keyword arguments) cost more than the line's record.
    write = telemetry.write_fields
    info, warning = telemetry.enabled(logging.INFO), telemetry.enabled(logging.WARNING)
    delivered, dead = Outcome.DELIVERED, Outcome.DEAD_LETTERED
    member_lists = members.get
    done = set() if written is None else written
    for position in range(size) if positions is None else positions:
        if position in done:
            continue
        message, outcome = messages[position], outcomes[position]
        kind = outcome.outcome
        if not (warning if kind is dead else info):
            done.add(position)  # not written at this level: as `record` would have skipped it
            continue
        lag = None
        if kind is delivered:  # the other outcomes have no lag
            lag = round((now - message.first_received(now)) / _TENTH_MS) / 10
        enqueued = message.enqueued_time  # an aware UTC time in range is parse_utc's answer
        if type(enqueued) is not datetime or enqueued.tzinfo is not UTC:
            enqueued = parse_utc(enqueued)
        elif not EARLIEST <= enqueued <= LATEST:
            enqueued = None
        waited = None if enqueued is None else round((now - enqueued) / _TENTH_MS) / 10
        line = {
            "kind": "queue_message",
            "workspace": workspace,
            "message_id": outcome.message_id,
            "correlation_id": message.correlation_id,
            "event": outcome.event,
            "outcome": kind._value_,
            "reason": outcome.reason,
            "attempts": outcome.attempt + 1,
            "moengage_request_id": outcome.request_id,
            "retry_at": outcome.retry_at,
            "members": member_lists(position),
            "batch_size": size,
            "latency_ms": elapsed,
            "lag_ms": lag,
            "queue_wait_ms": waited,
        }
        write(
            logging.WARNING if kind is dead else logging.INFO,
            {key: value for key, value in line.items() if value is not None},
            outcome.retry_at is None,  # plain: text, numbers and a list of member ids, no time
        )
        done.add(position)


def record_outcome(
    workspace: str,
    message: IncomingMessage,
    outcome: MessageOutcome,
    level: int,
    batch_size: int,
    members: list[str] | None = None,
    **timing: float | None,
) -> None:
    """The `queue_message` log line of one message's outcome (`members` come masked; None
    fields are left out)."""
    telemetry.record(
        "queue_message",
        level,
        workspace=workspace,
        message_id=outcome.message_id,
        correlation_id=message.correlation_id,
        event=outcome.event,
        outcome=outcome.outcome.value,
        reason=outcome.reason,
        attempts=outcome.attempt + 1,
        moengage_request_id=outcome.request_id,
        retry_at=outcome.retry_at,
        members=members,
        batch_size=batch_size,
        **timing,
    )
