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
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from bridge.common.errors import BridgeError
from bridge.deployment.runtime import Runtime
from bridge.durable.gateway import QueueGateway
from bridge.durable.idempotency import DeliveredKeys, KeyState
from bridge.durable.member_ledger import MemberLedger
from bridge.durable.member_order import (
    LEASE_SECONDS,
    Fact,
    MemberState,
    Order,
    claims_of,
    clear_barriers,
    facts_of,
    plan,
    record,
)
from bridge.durable.messages import (
    CLAIM_CHECK,
    IncomingMessage,
    OutgoingMessage,
    dead_letter_copy,
    jitter_factor,
    retry_copy,
    retry_delay,
)
from bridge.queue.batch import (
    Batch,
    Pending,
    accepted_elements,
    erases,
    owned_keys,
    representatives,
)
from bridge.queue.lines import FINAL_AT_ADMISSION, BatchLines, log_as_waves_end
from bridge.queue.outcomes import (
    DELIVERED,
    Hold,
    MessageOutcome,
    Outcome,
    Reason,
    delivered_outcome,
    log_outcomes,
)
from bridge.queue.settlement import (
    SETTLE_ATTEMPTS,
    SETTLE_TIMEOUT_SECONDS,
    Sleep,
    settle_writes,
    with_kept_bodies,
)
from bridge.webhook.handler import WebhookRequest, map_request, result_members
from delivery import DeliveryError, MoEngageRejected, MoEngageSender, MoEngageUnavailable
from delivery.sender import halts

log = logging.getLogger("kognitiv_bridge")
NO_HEADERS: Mapping[str, str] = MappingProxyType({})  # a queue message has no HTTP request
WAVE_SIZE = 250  # messages mapped before their delivery starts (one ~100 KB request of rewards)
# While waves are in flight, the mapping loop gives them a turn of the event loop this often
# (in messages): a request takes several turns to be written, and a single turn per wave left
# every request of a batch unwritten until the whole batch was mapped.
TURN_EVERY = 16
FUNCTION_TIMEOUT_SECONDS = 240.0  # host.json functionTimeout
# What settlement may take after delivery: its writes and backoff, the record's writes, margin.
SETTLE_RESERVE_SECONDS = SETTLE_ATTEMPTS * SETTLE_TIMEOUT_SECONDS + 2 * 7.0 + 20.0 + 20.0
# The whole invocation's delivery time, across every wave (ordered waves run one after the
# other; each gets what is left, never a fresh MOENGAGE_QUEUE_TIME_BUDGET_SECONDS).
DELIVERY_SECONDS = FUNCTION_TIMEOUT_SECONDS - SETTLE_RESERVE_SECONDS
RECORD_OUTAGE_SECONDS = 900  # held this long for an unreadable record, then sent anyway
# Enum members read per message, as plain names: on Python 3.11 `KeyState.CLAIMED` goes through
# the enum's descriptor (about 350 instructions a read, several reads per message).
CLAIMED, KNOWN_DELIVERED, BUSY, UNKNOWN = (
    KeyState.CLAIMED, KeyState.DELIVERED, KeyState.BUSY, KeyState.UNKNOWN,
)  # fmt: skip


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
        batch = Batch()
        messages, unreadable = await with_kept_bodies(messages)
        chosen = representatives(messages)
        states = await self.delivered.claim(list(chosen), self.clock())
        for position in unreadable:  # a kept body that could not be read: held like a key
            key = messages[position].delivery_key or f"#{position}"
            chosen.setdefault(key, position)
            states[key] = KeyState.UNKNOWN
        batch.owned = {key for key, state in states.items() if state is CLAIMED}
        # Only the members of each mapped message are kept for the log lines: a wave's mapped
        # results are freed once its delivery ends, not held until the batch ends.
        members: dict[int, list[str]] = {}
        written: set[int] = set()  # positions whose line is out (one per message)
        final: list[int] = []  # outcomes decided at admission that nothing later changes
        # Structured: every wave ends inside this block, so none outlives the batch; the
        # mapping loop and the waves never raise for one message's trouble.
        async with asyncio.TaskGroup() as group:
            waves: dict[asyncio.Task[None], list[int]] = {}  # each started wave's positions
            wave: dict[int, Pending] = {}
            for position, message in enumerate(messages):
                if len(wave) >= WAVE_SIZE:  # send what is mapped while the rest is mapped
                    self._start(group, wave, batch, waves)
                    wave = {}
                    await asyncio.sleep(0)
                elif waves and position % TURN_EVERY == 0:
                    await asyncio.sleep(0)  # the waves in flight send and read their answers
                try:  # whatever a message carries is data: never raises for one message
                    admitted = self._admit(position, message, chosen, states, batch)
                except Exception as error:
                    admitted = self._admit_failed(message, error, batch)
                if isinstance(admitted, MessageOutcome):
                    batch.outcomes[position] = admitted
                    if admitted.outcome in FINAL_AT_ADMISSION:
                        final.append(position)
                else:
                    wave[position] = admitted
                    members[position] = result_members(admitted.result)
            if wave:
                self._start(group, wave, batch, waves)
            lines = BatchLines(
                self.runtime.name, messages, batch.outcomes, members, started, self.clock, written
            )
            await log_as_waves_end(lines, final, waves)  # fills the last wave's wait
        await self.delivered.settle(batch.delivered, owned_keys(batch.released, batch.owned))
        await self._settle(batch.retries, batch.letters)
        ordered = [batch.outcomes[i] for i in range(len(messages))]
        log_outcomes(
            self.runtime.name, messages, ordered, members, started, self.clock(), written=written
        )
        return ordered

    def _admit_failed(
        self, message: IncomingMessage, error: Exception, batch: Batch
    ) -> MessageOutcome:
        """An unexpected error admitting a message holds this message alone."""
        log.exception("internal error admitting message %s", message.message_id)
        failure = MoEngageUnavailable(f"internal error ({type(error).__name__})")
        try:
            return self._retry(message, message.event, failure, batch, hold=Hold.RECORD)
        except Exception:
            description = f"internal error ({type(error).__name__})"
            return self._dead(message, Reason.MAPPING_FAILED, description, batch)

    def _admit(
        self,
        position: int,
        message: IncomingMessage,
        chosen: dict[str, int],
        states: dict[str, KeyState],
        batch: Batch,
    ) -> Pending | MessageOutcome:
        """The message's pending delivery, or its outcome when it needs none (the caller
        turns an unexpected error into `_admit_failed`)."""
        key = message.delivery_key
        if CLAIM_CHECK in message.properties and not key:
            key = f"#{position}"  # its kept body could not be read (see process)
        if key and chosen.get(key) != position:
            # Another copy of this event in this batch carries it (the copy furthest along its
            # lineage): its outcome is written before the host completes either of them.
            return MessageOutcome(
                message.message_id, Outcome.DUPLICATE, message.event, attempt=message.attempt
            )
        state = states.get(key, CLAIMED) if key else CLAIMED
        if state is KNOWN_DELIVERED:
            return MessageOutcome(
                message.message_id, Outcome.DELIVERED, message.event, attempt=message.attempt
            )
        if state is BUSY:
            log.info("message %s: another copy is being delivered; held", message.message_id)
            return self._retry(message, message.event, None, batch, hold=Hold.RECORD)
        if state is UNKNOWN and message.seen_before:
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
        if not isinstance(mapped, MessageOutcome):
            return mapped
        recorded = message.delivery_key
        if recorded:
            if mapped.outcome is DELIVERED:
                batch.delivered.append(recorded)
            else:
                batch.released.append(recorded)
        return mapped

    def _map(self, message: IncomingMessage, batch: Batch) -> Pending | MessageOutcome:
        """The message's elements still to deliver, or its final outcome when it needs no
        delivery (all delivered before, or dead-lettered because it cannot be mapped)."""
        try:
            # Shared empty headers and parameters: two dicts fewer per message (never mutated).
            request = WebhookRequest(message.body, NO_HEADERS, NO_HEADERS, message.event)
            result = map_request(self.runtime, request)[1]
        except BridgeError as error:
            reason = Reason.INVALID_PAYLOAD if error.status in (400, 413) else Reason.MAPPING_FAILED
            return self._dead(message, reason, f"{error.code}: {error.message}", batch)
        except Exception as error:  # a bug must not sink the batch: park this message
            log.exception("internal error mapping message %s", message.message_id)
            description = f"internal error while mapping ({type(error).__name__})"
            return self._dead(message, Reason.MAPPING_FAILED, description, batch)
        already = message.delivered_elements
        if already:
            indices = [i for i in range(len(result.elements)) if i not in already]
        else:  # a first delivery (most messages): every element
            indices = list(range(len(result.elements)))
        if not indices:
            return MessageOutcome(
                message.message_id, Outcome.DELIVERED, result.event, attempt=message.attempt
            )
        return Pending(message, result, indices)

    def _start(
        self,
        group: asyncio.TaskGroup,
        wave: dict[int, Pending],
        batch: Batch,
        waves: dict[asyncio.Task[None], list[int]],
    ) -> None:
        """Start a wave's delivery: at once, or after the earlier `waves` when this wave or an
        earlier one erases or merges members; add it and its positions to `waves`."""
        batch.ordered = batch.ordered or any(erases(item) for item in wave.values())
        after = list(waves) if batch.ordered else []
        waves[group.create_task(self._deliver(wave, batch, after))] = list(wave)

    async def _deliver(
        self,
        pending: dict[int, Pending],
        batch: Batch,
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
    async def _members_of(self, pending: dict[int, Pending]) -> AsyncIterator[None]:
        """Waves of one batch sharing a member send one after the other (locks taken in
        sorted order: no deadlock; first come, first served)."""
        names = sorted({f.member for f in self._facts(pending, self.clock())})
        locks = [self._member_locks.setdefault(name, asyncio.Lock()) for name in names]
        async with contextlib.AsyncExitStack() as stack:
            for lock in locks:
                await stack.enter_async_context(lock)
            yield

    def _facts(self, pending: dict[int, Pending], now: datetime) -> list[Fact]:
        facts: list[Fact] = []
        for position, item in pending.items():
            moment = Order(item.message.source_time(now), item.message.source_sequence)
            key = item.message.delivery_key
            for index in item.indices:
                facts.extend(facts_of(item.result.elements[index], (position, index), moment, key))
        return facts

    async def _deliver_in_order(
        self, pending: dict[int, Pending], batch: Batch, remaining: float
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
        await self._resolve_unsettled(states)
        ordered = [f for f in facts if f.member in states]
        decided = plan(ordered, states, now)
        busy = {f.slot[0] for f in facts if f.member in answers and f.member not in states}
        unleased = {f.slot[0] for f in facts if f.member not in states}
        for position in sorted(unleased | {slot[0] for slot in decided.hold}):
            item = pending[position]
            # Its own clock: a hold for the delivered-keys record never counts towards it.
            since = item.message.member_unavailable_since() or now
            unknown = position in unleased and position not in busy
            if unknown and now - since >= timedelta(seconds=RECORD_OUTAGE_SECONDS):
                continue  # the member's row stayed unreadable too long: sent unordered
            # A first try waits too: sent unordered, its fact would not be recorded in the
            # member's state, and an older fact retried later would overwrite it.
            del pending[position]
            batch.outcomes[position] = self._retry(
                item.message, item.result.event, None, batch, hold=Hold.RECORD,
                member_since=since if unknown else None,
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

    async def _resolve_unsettled(self, states: dict[str, MemberState]) -> None:
        """Claims an earlier batch never settled (its member-state write failed, or it was
        cut) are settled by their keys in the delivered-keys record, so older facts neither
        wait for them long nor are dropped for a fact that then ended as a letter."""
        keys = {key for state in states.values() for key in state.unsettled_keys()}
        if not keys:
            return
        delivered, undelivered = await self.delivered.fates(keys)
        for state in states.values():
            state.resolve(delivered, undelivered)

    def _record_order(
        self,
        facts: list[Fact],
        states: dict[str, MemberState],
        pending: dict[int, Pending],
        batch: Batch,
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
        pending: dict[int, Pending],
        batch: Batch,
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
            accepted = accepted_elements(report, len(positions))
        if batch.hold is None:  # the first failure that halts later waves, if any
            for unit_error in errors:
                if unit_error is not None and halts(unit_error):
                    batch.hold = unit_error
                    break
        delivered: list[str] = []
        released: list[str] = []
        for index, position in enumerate(positions):
            item = pending[position]
            done, unit_error = accepted[index], errors[index]
            if len(done) == len(item.indices):  # every element accepted (positions in the unit)
                taken = frozenset(item.indices)
            else:
                taken = frozenset([item.indices[i] for i in done])
            try:
                if unit_error is None and not item.result.warnings:  # `_outcome`'s common case
                    message = item.message
                    outcome = delivered_outcome(
                        message.message_id, item.result.event, message.attempt,
                        request_ids[index], taken,
                    )  # fmt: skip
                else:
                    outcome = self._outcome(
                        item, unit_error, request_ids[index], done, batch, taken
                    )
                    if outcome.accepted != taken:  # a delivered outcome is made with them
                        outcome = dataclasses.replace(outcome, accepted=taken)
            except Exception as error:  # one message's trouble never fails its neighbours
                log.exception("internal error settling message %s", item.message.message_id)
                outcome = self._retry(
                    item.message,
                    item.result.event,
                    MoEngageUnavailable(f"internal error ({type(error).__name__})"),
                    batch,
                )
                outcome = dataclasses.replace(outcome, accepted=taken)
            batch.outcomes[position] = outcome
            key = item.message.delivery_key
            if key:
                (delivered if outcome.outcome is DELIVERED else released).append(key)
        await self.delivered.settle(delivered, owned_keys(released, batch.owned))

    def _outcome(
        self,
        item: Pending,
        error: DeliveryError | None,
        request_id: str | None,
        accepted: set[int],
        batch: Batch,
        taken: frozenset[int] = frozenset(),
    ) -> MessageOutcome:
        """`accepted`: positions in the unit sent; `taken`: the same as element indices."""
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
                accepted=taken,
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
        batch: Batch,
        delivered: frozenset[int] | set[int] | None = None,
        hold: Hold = Hold.UNAVAILABLE,
        record_since: datetime | None = None,
        member_since: datetime | None = None,
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
                member_unavailable_since=member_since,
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
        batch: Batch,
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
