"""The queue trigger's work, without Azure: every message of a batch ends in exactly one outcome.

- delivered: MoEngage accepted it (elements of many messages share bulk requests);
- duplicate: another copy of the same event in this batch carries it (the copy furthest along
  its lineage), or it was delivered before; never because a copy exists elsewhere;
- retry later: a copy is scheduled after an exponential delay (never sooner than MoEngage's
  rate-limit reset); only time MoEngage was unavailable counts towards the retry horizon. Also
  for a copy whose key another batch has claimed, whose key the record could not answer for,
  or whose member's facts wait behind a failed erasure (`bridge.durable.member_order`);
- dead-lettered: with a reason code and a description (no secrets, no member data).

Keyed messages are claimed in the delivered-keys record before they are sent, and each wave's
keys are settled (delivered or released) as soon as MoEngage answers it. The Functions host
completes the whole batch when the function returns: retries and dead letters are written
first (with retries of their own); if Service Bus keeps refusing them, the function raises and
the batch is redelivered (a duplicate is preferred to a loss; the record keeps it from reaching
MoEngage again). A write that can never succeed touches its message alone (`settle_writes`).

Waves of one batch are delivered side by side inside one `asyncio.TaskGroup`, except around an
erasure: a wave holding a delete or a merge, and every wave after it, starts only once the
earlier waves have ended, and is held back whole (retried later) when an earlier wave left a
message to retry; inside a wave the sender keeps the same order (see `delivery.payloads`). All
waves of an invocation share one delivery deadline (`DELIVERY_SECONDS`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from bridge.common import telemetry
from bridge.common.errors import BridgeError
from bridge.common.observations import DEAD_LETTERS
from bridge.deployment.runtime import Runtime
from bridge.durable.claim_checks import ClaimChecks, claim_checks
from bridge.durable.gateway import QueueGateway, lasting_write_problem
from bridge.durable.idempotency import DeliveredKeys, KeyState
from bridge.durable.member_order import (
    LEASE_SECONDS,
    Fact,
    MemberLedger,
    MemberState,
    claims_of,
    clear_barriers,
    facts_of,
    plan,
    record,
)
from bridge.durable.messages import (
    CLAIM_CHECK,
    DEAD_LETTER_DESCRIPTION,
    DEAD_LETTER_REASON,
    IncomingMessage,
    OutgoingMessage,
    dead_letter_copy,
    jitter_factor,
    parse_utc,
    pointer_letter,
    retry_copy,
    retry_delay,
)
from bridge.webhook.handler import WebhookRequest, map_request, result_fields
from delivery import DeliveryError, MoEngageRejected, MoEngageSender, MoEngageUnavailable
from delivery.payloads import USER_OPERATIONS
from delivery.sender import DeliveryReport, halts
from mapping import MappingResult

log = logging.getLogger("kognitiv_bridge")
WAVE_SIZE = 250  # messages mapped before their delivery starts (one ~100 KB request of rewards)
SETTLE_ATTEMPTS = 4  # writes of retries and dead letters, before the batch is given back
SETTLE_TIMEOUT_SECONDS = 20.0  # per attempt: 4 attempts and backoff stay far inside the lock
SETTLE_BACKOFF_SECONDS = 1.0  # doubled after each failed attempt
FUNCTION_TIMEOUT_SECONDS = 240.0  # host.json functionTimeout
# What settlement may take after delivery: its writes and backoff, the record's writes, margin.
SETTLE_RESERVE_SECONDS = SETTLE_ATTEMPTS * SETTLE_TIMEOUT_SECONDS + 2 * 7.0 + 20.0 + 20.0
# The whole invocation's delivery time, across every wave (ordered waves run one after the
# other; each gets what is left, never a fresh MOENGAGE_QUEUE_TIME_BUDGET_SECONDS).
DELIVERY_SECONDS = FUNCTION_TIMEOUT_SECONDS - SETTLE_RESERVE_SECONDS
RECORD_OUTAGE_SECONDS = 900  # held this long for an unreadable record, then sent anyway

Sleep = Callable[[float], Awaitable[object]]


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


class Hold(enum.Enum):
    """Why a message waits: only `UNAVAILABLE` runs the retry horizon."""

    UNAVAILABLE = "unavailable"  # 5xx, timeouts, resets
    RATE_LIMITED = "rate_limited"  # 429: MoEngage is up; its quota resets
    CONFIGURATION = "configuration"  # our settings, credentials or account: fix and it flows
    RECORD = "record"  # another copy is being sent, or the record did not answer: soon again


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


class SettlementError(RuntimeError):
    """Service Bus refused a retry or dead-letter write: the batch must be redelivered."""


@dataclass
class _Pending:
    """A mapped message and the indices (in its full element list) still to deliver."""

    message: IncomingMessage
    result: MappingResult
    indices: list[int] = field(default_factory=list)
    superseded: set[int] = field(default_factory=set)  # newer facts won: never sent, done
    dropped: dict[int, set[str]] = field(default_factory=dict)  # older attributes left out

    @property
    def elements(self) -> list[dict]:
        return [self._element(i) for i in self.indices]

    def _element(self, index: int) -> dict:
        element = self.result.elements[index]
        names = self.dropped.get(index)
        if not names:
            return element
        attributes = {k: v for k, v in element["attributes"].items() if k not in names}
        return {**element, "attributes": attributes}


@dataclass
class _Batch:
    """What one execution accumulates: outcomes by position and the writes to settle."""

    outcomes: dict[int, MessageOutcome] = field(default_factory=dict)
    retries: list[OutgoingMessage] = field(default_factory=list)
    letters: list[OutgoingMessage] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)  # keys settled outside the waves
    released: list[str] = field(default_factory=list)
    owned: set[str] = field(default_factory=set)  # keys this batch claimed
    ordered: bool = False  # a wave erased or merged members: later waves wait for earlier ones
    hold: DeliveryError | None = None  # a wave's failure that will be retried


class BatchProcessor:
    """Maps, delivers and settles one batch of queue messages."""

    def __init__(
        self,
        runtime: Runtime,
        gateway: QueueGateway,
        sender: MoEngageSender,
        delivered: DeliveredKeys,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Sleep = asyncio.sleep,
        ledger: MemberLedger | None = None,
    ) -> None:
        self.runtime = runtime
        self.ledger = ledger
        self._owner = uuid.uuid4().hex
        self._member_locks: dict[str, asyncio.Lock] = {}
        self.gateway = gateway
        self.sender = sender
        self.delivered = delivered
        self.clock = clock
        self.sleep = sleep
        self.horizon = timedelta(hours=runtime.settings.kognitiv_retry_horizon_hours)
        self._jitter = 1.0
        self._deadline = time.monotonic() + DELIVERY_SECONDS

    async def process(self, messages: Sequence[IncomingMessage]) -> list[MessageOutcome]:
        started = time.perf_counter()
        self._jitter = jitter_factor()
        self._deadline = time.monotonic() + DELIVERY_SECONDS
        self._owner = uuid.uuid4().hex
        batch = _Batch()
        messages, unreadable = await _with_kept_bodies(messages)
        chosen = _representatives(messages)
        states = await self.delivered.claim(list(chosen), self.clock())
        for position in unreadable:  # a kept body that could not be read: held like a key
            key = messages[position].delivery_key or f"#{position}"
            chosen.setdefault(key, position)
            states[key] = KeyState.UNKNOWN
        batch.owned = {key for key, state in states.items() if state is KeyState.CLAIMED}
        pending: dict[int, _Pending] = {}
        # Structured: every wave ends inside this block, so none outlives the batch; the
        # mapping loop and the waves never raise for one message's trouble.
        async with asyncio.TaskGroup() as group:
            waves: list[asyncio.Task[None]] = []
            wave: dict[int, _Pending] = {}
            for position, message in enumerate(messages):
                if len(wave) >= WAVE_SIZE:  # send what is mapped while the rest is mapped
                    waves.append(self._start(group, wave, batch, waves))
                    wave = {}
                    await asyncio.sleep(0)
                admitted = self._admit(position, message, chosen, states, batch)
                if isinstance(admitted, MessageOutcome):
                    batch.outcomes[position] = admitted
                else:
                    pending[position] = wave[position] = admitted
            if wave:
                waves.append(self._start(group, wave, batch, waves))
        await self.delivered.settle(batch.delivered, _owned(batch.released, batch.owned))
        await self._settle(batch.retries, batch.letters)
        ordered = [batch.outcomes[i] for i in range(len(messages))]
        members = {p: result_fields(item.result)["members"] for p, item in pending.items()}
        _log_outcomes(self.runtime.name, messages, ordered, members, started, self.clock())  # type: ignore[arg-type]
        return ordered

    def _admit(
        self,
        position: int,
        message: IncomingMessage,
        chosen: dict[str, int],
        states: dict[str, KeyState],
        batch: _Batch,
    ) -> _Pending | MessageOutcome:
        """The message's pending delivery, or its outcome when it needs none. Never raises:
        whatever a message carries is data (an unexpected error holds this message alone)."""
        try:
            return self._admit_one(position, message, chosen, states, batch)
        except Exception as error:
            log.exception("internal error admitting message %s", message.message_id)
            failure = MoEngageUnavailable(f"internal error ({type(error).__name__})")
            try:
                return self._retry(message, message.event, failure, batch, hold=Hold.RECORD)
            except Exception:
                description = f"internal error ({type(error).__name__})"
                return self._dead(message, Reason.MAPPING_FAILED, description, batch)

    def _admit_one(
        self,
        position: int,
        message: IncomingMessage,
        chosen: dict[str, int],
        states: dict[str, KeyState],
        batch: _Batch,
    ) -> _Pending | MessageOutcome:
        key = message.delivery_key
        if CLAIM_CHECK in message.properties and not key:
            key = f"#{position}"  # its kept body could not be read (see process)
        if key and chosen.get(key) != position:
            # Another copy of this event in this batch carries it (the copy furthest along its
            # lineage): its outcome is written before the host completes either of them.
            return MessageOutcome(
                message.message_id, Outcome.DUPLICATE, message.event, attempt=message.attempt
            )
        state = states.get(key, KeyState.CLAIMED) if key else KeyState.CLAIMED
        if state is KeyState.DELIVERED:
            return MessageOutcome(
                message.message_id, Outcome.DELIVERED, message.event, attempt=message.attempt
            )
        if state is KeyState.BUSY:
            log.info("message %s: another copy is being delivered; held", message.message_id)
            return self._retry(message, message.event, None, batch, hold=Hold.RECORD)
        if state is KeyState.UNKNOWN and message.seen_before:
            now = self.clock()
            since = message.record_unavailable_since() or now
            if now - since < timedelta(seconds=RECORD_OUTAGE_SECONDS):
                return self._retry(
                    message, message.event, None, batch, hold=Hold.RECORD, record_since=since
                )
            log.warning(
                "message %s: the delivered-keys record stayed unavailable for over %d s; "
                "delivered without it (a repeat is possible)",
                message.message_id,
                RECORD_OUTAGE_SECONDS,
            )
        mapped = self._map(message, batch)
        recorded = message.delivery_key
        if isinstance(mapped, MessageOutcome) and recorded:
            if mapped.outcome is Outcome.DELIVERED:
                batch.delivered.append(recorded)
            else:
                batch.released.append(recorded)
        return mapped

    def _map(self, message: IncomingMessage, batch: _Batch) -> _Pending | MessageOutcome:
        """The message's elements still to deliver, or its final outcome when it needs no
        delivery (all delivered before, or dead-lettered because it cannot be mapped)."""
        try:
            request = WebhookRequest(message.body, route_event=message.event)
            result = map_request(self.runtime, request)[1]
        except BridgeError as error:
            reason = Reason.INVALID_PAYLOAD if error.status in (400, 413) else Reason.MAPPING_FAILED
            return self._dead(message, reason, f"{error.code}: {error.message}", batch)
        except Exception as error:  # a bug must not sink the batch: park this message
            log.exception("internal error mapping message %s", message.message_id)
            description = f"internal error while mapping ({type(error).__name__})"
            return self._dead(message, Reason.MAPPING_FAILED, description, batch)
        already = message.delivered_elements
        indices = [i for i in range(len(result.elements)) if i not in already]
        if not indices:
            return MessageOutcome(
                message.message_id, Outcome.DELIVERED, result.event, attempt=message.attempt
            )
        return _Pending(message, result, indices)

    def _start(
        self,
        group: asyncio.TaskGroup,
        wave: dict[int, _Pending],
        batch: _Batch,
        earlier: list[asyncio.Task[None]],
    ) -> asyncio.Task[None]:
        """Start a wave's delivery: at once, or after the earlier waves when this wave or an
        earlier one erases or merges members."""
        batch.ordered = batch.ordered or any(_erases(item) for item in wave.values())
        after = list(earlier) if batch.ordered else []
        return group.create_task(self._deliver(wave, batch, after))

    async def _deliver(
        self,
        pending: dict[int, _Pending],
        batch: _Batch,
        after: Sequence[asyncio.Task[None]] = (),
    ) -> None:
        """Deliver one wave (once the waves `after` have ended, and not at all when one of them
        left a message to retry, or when the invocation's delivery time is spent), give each
        of its messages an outcome and record the wave's keys at once (a cut after this
        repeats nothing of it). Never raises for one message's trouble (an unexpected error is
        a retry, for this message alone)."""
        failure: DeliveryError | None = None
        if after:
            await asyncio.wait(after)
            failure = batch.hold
        remaining = self._deadline - time.monotonic()
        if failure is None and remaining <= 0:
            failure = MoEngageUnavailable("the invocation's delivery time is spent")
        if failure is None and self.ledger is not None:
            try:
                async with self._members_of(pending):
                    await self._deliver_in_order(dict(pending), batch, remaining)
                return
            except Exception as error:  # a bug: whatever has no outcome yet is retried
                log.exception("ordering %d messages failed unexpectedly", len(pending))
                failure = MoEngageUnavailable(f"internal error ({type(error).__name__})")
                pending = {p: item for p, item in pending.items() if p not in batch.outcomes}
        await self._send_wave(pending, batch, failure, remaining)

    @contextlib.asynccontextmanager
    async def _members_of(self, pending: dict[int, _Pending]) -> AsyncIterator[None]:
        """Waves of one batch sharing a member send one after the other (locks taken in
        sorted order: no deadlock; first come, first served)."""
        names = sorted({f.member for f in self._facts(pending, self.clock())})
        locks = [self._member_locks.setdefault(name, asyncio.Lock()) for name in names]
        async with contextlib.AsyncExitStack() as stack:
            for lock in locks:
                await stack.enter_async_context(lock)
            yield

    def _facts(self, pending: dict[int, _Pending], now: datetime) -> list[Fact]:
        facts: list[Fact] = []
        for position, item in pending.items():
            moment = item.message.source_time(now)
            for index in item.indices:
                facts.extend(facts_of(item.result.elements[index], (position, index), moment))
        return facts

    async def _deliver_in_order(
        self, pending: dict[int, _Pending], batch: _Batch, remaining: float
    ) -> None:
        """Per member, no older fact after a newer one (`bridge.durable.member_order`): lease the
        wave's members, leave out what newer facts superseded, hold what waits behind a
        failed erasure (or whose member another batch is sending), send, record."""
        assert self.ledger is not None
        now = self.clock()
        facts = self._facts(pending, now)
        if not facts:
            await self._send_wave(pending, batch, None, remaining)
            return
        answers = await self.ledger.acquire(claims_of(facts), self._owner, now)
        states = {member: state for member, state in answers.items() if state is not None}
        ordered = [f for f in facts if f.member in states]
        decided = plan(ordered, states, now)
        busy = {f.slot[0] for f in facts if f.member in answers and f.member not in states}
        unleased = {f.slot[0] for f in facts if f.member not in states}
        for position in sorted(unleased | {slot[0] for slot in decided.hold}):
            item = pending[position]
            since = item.message.record_unavailable_since() or now
            unknown = position in unleased and position not in busy
            if unknown and now - since >= timedelta(seconds=RECORD_OUTAGE_SECONDS):
                continue  # the member's row stayed unreadable too long: sent unordered
            # A first try waits too: sent unordered, its fact would not be recorded in the
            # member's state, and an older fact retried later would overwrite it.
            del pending[position]
            record_since = since if position in unleased else None
            batch.outcomes[position] = self._retry(
                item.message, item.result.event, None, batch, hold=Hold.RECORD,
                record_since=record_since,
            )  # fmt: skip
            key = item.message.delivery_key
            if key and key in batch.owned:
                await self.delivered.settle((), [key])
        for position, index in decided.skip:
            if position in pending:
                pending[position].superseded.add(index)
                pending[position].indices.remove(index)
        for (position, index), names in decided.drop_attributes.items():
            if position in pending:
                pending[position].dropped[index] = names
        try:
            await self._send_wave(pending, batch, None, remaining)
        finally:
            self._record_order(ordered, states, pending, batch, now)
            try:
                await self.ledger.release(states, self._owner)
            except Exception as error:
                log.warning(
                    "could not write %d member states (%s): their leases expire after %d s",
                    len(states),
                    type(error).__name__,
                    LEASE_SECONDS,
                )

    def _record_order(
        self,
        facts: list[Fact],
        states: dict[str, MemberState],
        pending: dict[int, _Pending],
        batch: _Batch,
        now: datetime,
    ) -> None:
        """The members' states after the wave: what MoEngage accepted, barriers for erasures
        that will be retried, none for those dead-lettered."""
        delivered: set[tuple[int, int]] = set()
        failed: set[tuple[int, int]] = set()
        dropped: dict[tuple[int, int], set[str]] = {}
        letters: list[Fact] = []
        for position, item in pending.items():
            outcome = batch.outcomes.get(position)
            if outcome is None:
                continue
            done = outcome.accepted
            for index in item.indices:
                slot = (position, index)
                dropped[slot] = item.dropped.get(index, set())
                if outcome.outcome is Outcome.DELIVERED or index in done:
                    delivered.add(slot)
                elif outcome.outcome is Outcome.RETRY_LATER:
                    failed.add(slot)
            if outcome.outcome is Outcome.DEAD_LETTERED:
                letters += [f for f in facts if f.slot[0] == position]
        record(facts, states, delivered, failed, dropped, now)
        clear_barriers(letters, states)

    async def _send_wave(
        self,
        pending: dict[int, _Pending],
        batch: _Batch,
        failure: DeliveryError | None,
        remaining: float,
    ) -> None:
        """Send the wave's elements (unless `failure` already decided) and give outcomes."""
        for position in [p for p, item in pending.items() if not item.indices]:
            item = pending.pop(position)  # every element superseded: nothing left to send
            batch.outcomes[position] = MessageOutcome(
                item.message.message_id, Outcome.DELIVERED, item.result.event,
                attempt=item.message.attempt,
            )  # fmt: skip
            key = item.message.delivery_key
            if key:
                await self.delivered.settle([key], ())
        positions = list(pending)
        report = None
        if failure is None and positions:
            try:
                units = [pending[p].elements for p in positions]
                report = await self.sender.deliver_units(units, budget=remaining)
            except Exception as error:  # a bug or an unforeseen failure: hold the wave
                log.exception("delivery of %d messages failed unexpectedly", len(positions))
                failure = MoEngageUnavailable(f"internal error ({type(error).__name__})")
        if report is None:
            errors: list[DeliveryError | None] = [failure] * len(positions)
            request_ids: list[str | None] = [None] * len(positions)
            accepted: list[set[int]] = [set() for _ in positions]
        else:
            errors = report.unit_errors(len(positions))
            request_ids = report.unit_request_ids(len(positions))
            accepted = _accepted_elements(report, len(positions))
        batch.hold = batch.hold or next((e for e in errors if halts(e)), None)
        delivered: list[str] = []
        released: list[str] = []
        for index, position in enumerate(positions):
            item = pending[position]
            try:
                outcome = self._outcome(
                    item, errors[index], request_ids[index], accepted[index], batch
                )
            except Exception as error:  # one message's trouble never fails its neighbours
                log.exception("internal error settling message %s", item.message.message_id)
                outcome = self._retry(
                    item.message,
                    item.result.event,
                    MoEngageUnavailable(f"internal error ({type(error).__name__})"),
                    batch,
                )
            batch.outcomes[position] = dataclasses.replace(
                outcome, accepted=frozenset(item.indices[i] for i in accepted[index])
            )
            key = item.message.delivery_key
            if key:
                (delivered if outcome.outcome is Outcome.DELIVERED else released).append(key)
        await self.delivered.settle(delivered, _owned(released, batch.owned))

    def _outcome(
        self,
        item: _Pending,
        error: DeliveryError | None,
        request_id: str | None,
        accepted: set[int],
        batch: _Batch,
    ) -> MessageOutcome:
        message, event = item.message, item.result.event
        for warning in item.result.warnings:
            log.warning("message %s, event %s: %s", message.message_id, event, warning)
        if error is None:
            return MessageOutcome(
                message.message_id,
                Outcome.DELIVERED,
                event,
                attempt=message.attempt,
                request_id=request_id,
            )
        delivered = message.delivered_elements | item.superseded
        delivered |= {item.indices[i] for i in accepted}
        if isinstance(error, MoEngageRejected):
            self.runtime.health.saw_rejection(error)
        if isinstance(error, MoEngageRejected) and error.is_configuration_error:
            log.error(
                "MoEngage refused the credentials or account of workspace %s (%s): message %s "
                "backs off; fix the settings, nothing is dead-lettered",
                self.runtime.name,
                error.message,
                message.message_id,
            )
            return self._retry(message, event, error, batch, delivered, Hold.CONFIGURATION)
        if isinstance(error, MoEngageRejected):
            return self._dead(
                message, Reason.MOENGAGE_REJECTED, error.message, batch, event, delivered
            )
        limited = isinstance(error, MoEngageUnavailable) and error.rate_limited
        hold = Hold.RATE_LIMITED if limited else Hold.UNAVAILABLE
        return self._retry(message, event, error, batch, delivered, hold)

    def _retry(
        self,
        message: IncomingMessage,
        event: str | None,
        error: DeliveryError | None,
        batch: _Batch,
        delivered: frozenset[int] | set[int] | None = None,
        hold: Hold = Hold.UNAVAILABLE,
        record_since: datetime | None = None,
    ) -> MessageOutcome:
        """Schedule a copy, no sooner than MoEngage's reset as of now (the moment of
        scheduling, not the batch's start). Only an unavailable MoEngage runs the horizon;
        past it, dead-letter instead. A hold for the record keeps the horizon as it was."""
        now = self.clock()
        done = message.delivered_elements if delivered is None else frozenset(delivered)
        since = message.unavailable_since() if hold is Hold.RECORD else None
        if hold is Hold.UNAVAILABLE:
            since = message.unavailable_since() or now
            deadline = since + self.horizon
            if now >= deadline:
                description = (
                    f"MoEngage stayed unavailable for {self.horizon.total_seconds() / 3600:g} h "
                    f"({message.attempt + 1} attempts)"
                )
                return self._dead(
                    message, Reason.RETRIES_EXHAUSTED, description, batch, event, done
                )
        retry_after = error.retry_after if isinstance(error, MoEngageUnavailable) else None
        not_before = max(retry_after or 0.0, self.sender.gate.remaining())
        at = now + timedelta(seconds=retry_delay(message.attempt, not_before, self._jitter))
        batch.retries.append(
            retry_copy(
                message,
                at,
                now,
                unavailable_since=since,
                delivered_elements=frozenset(done),
                record_unavailable_since=record_since,
            )
        )
        return MessageOutcome(
            message.message_id,
            Outcome.RETRY_LATER,
            event,
            hold.value,
            attempt=message.attempt + 1,
            retry_at=at,
        )

    def _dead(
        self,
        message: IncomingMessage,
        reason: Reason,
        description: str,
        batch: _Batch,
        event: str | None = None,
        delivered: frozenset[int] | set[int] | None = None,
    ) -> MessageOutcome:
        done = None if delivered is None else frozenset(delivered)
        batch.letters.append(
            dead_letter_copy(message, reason.value, description, self.clock(), done)
        )
        return MessageOutcome(
            message.message_id,
            Outcome.DEAD_LETTERED,
            event or message.event,
            reason.value,
            description,
            message.attempt,
        )

    async def _settle(self, retries: list[OutgoingMessage], letters: list[OutgoingMessage]) -> None:
        """Write dead letters then retries, each write bounded and retried with backoff (a
        write repeated after an unclear failure is dropped by duplicate detection)."""
        await settle_writes(self.gateway, retries, letters, self.sleep)


async def settle_writes(
    gateway: QueueGateway,
    retries: Sequence[OutgoingMessage],
    letters: Sequence[OutgoingMessage],
    sleep: Sleep = asyncio.sleep,
    parking: ClaimChecks | Literal["default"] | None = "default",
) -> None:
    """Write dead letters and retries. A write that fails for a while is retried with backoff
    (SETTLE_ATTEMPTS, each bounded); when Service Bus keeps failing, SettlementError (the batch
    is redelivered). A write that can never succeed (`lasting_write_problem`: too large, queue
    missing or full) affects its message alone: a retry that cannot be written becomes a
    letter, and a letter that cannot be written is kept in the claim-check table (with a small
    pointer letter when the dead-letter queue takes one); only when that too fails does the
    batch raise."""
    checks = claim_checks() if parking == "default" else parking
    unwritable = await _write_all(gateway.dead_letter, list(letters), sleep)
    refused = await _write_all(gateway.send, list(retries), sleep)
    if refused:
        as_letters = [_unwritable_retry(retry, problem) for retry, problem in refused]
        unwritable += await _write_all(gateway.dead_letter, as_letters, sleep)
    if letters and not unwritable:
        DEAD_LETTERS.written()
    for letter, problem in unwritable:
        await _claim_check(gateway, letter, problem, checks, sleep)


async def _write_all(
    write: Callable[[Sequence[OutgoingMessage]], Awaitable[None]],
    messages: list[OutgoingMessage],
    sleep: Sleep,
) -> list[tuple[OutgoingMessage, str]]:
    """Write the messages together; after a lasting failure, one by one. The messages that can
    never be written, with why; SettlementError when transient failures outlast the attempts."""
    if not messages:
        return []
    problem = await _write_with_backoff(write, messages, sleep)
    if problem is None:
        return []
    if len(messages) == 1:
        return [(messages[0], problem)]
    refused = []
    for message in messages:
        problem = await _write_with_backoff(write, [message], sleep)
        if problem is not None:
            refused.append((message, problem))
    return refused


async def _write_with_backoff(
    write: Callable[[Sequence[OutgoingMessage]], Awaitable[None]],
    messages: list[OutgoingMessage],
    sleep: Sleep,
) -> str | None:
    """None when written; the lasting problem when it can never be; SettlementError when
    Service Bus keeps failing transiently."""
    delay = SETTLE_BACKOFF_SECONDS
    for attempt in range(1, SETTLE_ATTEMPTS + 1):
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_SECONDS):
                await write(messages)
            return None
        except Exception as error:
            problem = lasting_write_problem(error)
            if problem is not None:
                log.warning("Service Bus cannot take %d message(s): %s", len(messages), problem)
                return problem
            log.warning(
                "Service Bus write failed (%s), attempt %d of %d",
                type(error).__name__,
                attempt,
                SETTLE_ATTEMPTS,
            )
            if attempt == SETTLE_ATTEMPTS:
                log.error(
                    "Service Bus refused %d writes (%s): the batch will be redelivered; "
                    "delivered messages are skipped",
                    len(messages),
                    type(error).__name__,
                )
                raise SettlementError("could not write retries or dead letters") from error
            await sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _unwritable_retry(retry: OutgoingMessage, problem: str) -> OutgoingMessage:
    """A retry copy Service Bus can never take (e.g. too large once its properties grew): the
    same message as a letter, so it is kept and can be replayed."""
    properties = dict(retry.properties)
    properties[DEAD_LETTER_REASON] = UNWRITABLE_RETRY
    properties[DEAD_LETTER_DESCRIPTION] = f"the retry copy could not be written ({problem})"
    return OutgoingMessage(retry.body, retry.message_id, properties)


async def _claim_check(
    gateway: QueueGateway,
    letter: OutgoingMessage,
    problem: str,
    checks: ClaimChecks | None,
    sleep: Sleep,
) -> None:
    """Keep a letter Service Bus refused for good: its whole message in the claim-check table,
    and a small pointer letter in the dead-letter queue when that queue takes one."""
    if problem != "too_large":
        DEAD_LETTERS.unwritable(
            f"dead_letter_queue_{problem}",
            f"the dead-letter queue is {problem}: letters are kept in the claim-check table",
        )
    if checks is None:
        raise SettlementError(f"a letter cannot be written ({problem}) and no storage is set")
    try:
        reference = await checks.park(letter, problem)
    except Exception as error:
        log.error("could not keep a letter in the claim-check table (%s)", type(error).__name__)
        raise SettlementError("a letter could be written nowhere") from error
    DEAD_LETTERS.parked += 1
    log.warning("letter %s kept in the claim-check table (%s)", letter.message_id, problem)
    if problem != "too_large":
        return  # the dead-letter queue itself is the problem: the row is the letter
    pointer = pointer_letter(letter, reference)
    if await _write_with_backoff(gateway.dead_letter, [pointer], sleep) is not None:
        log.warning("no pointer letter for %s: the claim-check row alone", letter.message_id)


async def _with_kept_bodies(
    messages: Sequence[IncomingMessage],
) -> tuple[list[IncomingMessage], set[int]]:
    """Messages whose body was kept in the claim-check table (a replayed pointer letter carries
    `claim_check`) get their body back; the positions whose body could not be read."""
    found = list(messages)
    unreadable: set[int] = set()
    for position, message in enumerate(messages):
        reference = message.properties.get(CLAIM_CHECK)
        if not isinstance(reference, str):
            continue
        checks = claim_checks()
        try:
            if checks is None:
                raise LookupError("no storage account is set")
            kept = await checks.read(reference)
        except Exception as error:
            log.warning("message %s: its kept body is unreadable (%s)", message.message_id,
                        type(error).__name__)  # fmt: skip
            unreadable.add(position)
            continue
        properties = {k: v for k, v in message.properties.items() if k != CLAIM_CHECK}
        found[position] = dataclasses.replace(message, body=kept.body, properties=properties)
    return found, unreadable


def _representatives(messages: Sequence[IncomingMessage]) -> dict[str, int]:
    """Per delivery key: the position of the copy that carries the event in this batch, the one
    furthest along its lineage (highest attempt; the first of equals). Its retry id is then
    new, never the id of another copy already written, which duplicate detection would drop."""
    chosen: dict[str, int] = {}
    for position, message in enumerate(messages):
        key = message.delivery_key
        if not key:
            continue
        if key not in chosen or message.attempt > messages[chosen[key]].attempt:
            chosen[key] = position
    return chosen


def _owned(keys: Sequence[str], owned: set[str]) -> list[str]:
    """The keys whose claim this batch holds (only those are released)."""
    return [key for key in keys if key in owned]


def _erases(item: _Pending) -> bool:
    """Whether a message still has a delete or a merge to deliver."""
    return any(element.get("type") in USER_OPERATIONS for element in item.elements)


def _accepted_elements(report: DeliveryReport, units: int) -> list[set[int]]:
    """Per unit: the positions of its elements that MoEngage accepted (a unit split by a 413
    can be partly delivered)."""
    accepted: list[set[int]] = [set() for _ in range(units)]
    for result in report.results:
        if result.error is None:
            for unit, element in result.slots:
                accepted[unit].add(element)
    return accepted


def _log_outcomes(
    workspace: str,
    messages: Sequence[IncomingMessage],
    outcomes: list[MessageOutcome],
    members: dict[int, list[str]],
    started: float,
    now: datetime,
) -> None:
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    for position, (message, outcome) in enumerate(zip(messages, outcomes, strict=True)):
        lag = _milliseconds(now - message.first_received(now))
        enqueued = parse_utc(message.enqueued_time)
        waited = None if enqueued is None else _milliseconds(now - enqueued)
        level = logging.WARNING if outcome.outcome is Outcome.DEAD_LETTERED else logging.INFO
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
            members=members.get(position),
            batch_size=len(messages),
            latency_ms=elapsed,
            lag_ms=lag if outcome.outcome is Outcome.DELIVERED else None,
            queue_wait_ms=waited,
        )


def _milliseconds(span: timedelta) -> float:
    return round(span.total_seconds() * 1000, 1)
