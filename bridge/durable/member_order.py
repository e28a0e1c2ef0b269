"""Per member, an older fact never overwrites a newer one in MoEngage, across batches, retries,
instances and replays. Facts are ordered by their source time (`IncomingMessage.source_time`:
when the bridge first accepted the Kognitiv delivery; kept by retries, letters and replays),
then, for facts of one source time, by the sequence number of their first message
(`IncomingMessage.source_sequence`, kept the same way): the later-enqueued fact is the newer
(`Order`).

The rule (docs/durable-path.md, "Durable path"), for user facts (attribute updates, deletes, merges;
events keep their own time and need no order):
- attributes are last-writer-wins, one by one: an attribute value older than the one MoEngage
  was last given is not sent (the rest of the update is);
- a delete (or a merge, for the member it retires) at time T erases what came before it: an
  update older than T that arrives later is not sent; a delete or merge older than a fact
  already applied for that member is not sent either (the member was re-created since);
- a delete or merge that failed and will be retried is a barrier: that member's newer facts
  wait (retried later) until it is delivered or dead-lettered, so they land after it. A barrier
  older than the retry horizon is ignored (its message ended elsewhere);
- a fact superseded by a newer fact of its own wave waits (its message is held) until the newer
  one's fate is known: an older fact is dropped only for a newer one MoEngage accepted;
- one batch at a time sends a member's user facts: it holds a lease on the member's row, so two
  instances never interleave one member's facts (the other one holds its message, briefly).
  With the lease it writes what it may apply (its claim) before sending; a claim whose batch
  never wrote back its outcome counts as applied (`MemberState.settle_claim`).

The state lives in the table `kognitivmembers` of the app's storage account: per member (a hash
of workspace and customer id, never member data) the time of each attribute last sent, the
last erasure, the barrier and the claim; no values. Without a storage account, only the order
inside one batch holds (`delivery.payloads`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from bridge.durable.tables import TableAccess, row_of

TABLE_NAME = "kognitivmembers"
LEASE_SECONDS = 300.0  # as a key claim: an instance that died lets go within the lock duration
BARRIER_SECONDS = 24 * 3600.0  # a barrier outliving the retry horizon is stale


class Order(NamedTuple):
    """Where a fact stands among its member's facts: its source time, then the sequence number
    of its first message (two facts of one time: the later-enqueued one is newer; 0 unknown)."""

    time: datetime
    sequence: int = 0


@dataclass
class MemberState:
    """What MoEngage was last given about one member (orders only) and who sends now."""

    attributes: dict[str, Order] = field(default_factory=dict)
    erased: Order | None = None
    barrier: Order | None = None
    barrier_set: datetime | None = None
    claimed: dict[str, Order] = field(default_factory=dict)
    claimed_erased: Order | None = None
    etag: str | None = None

    def newest(self) -> Order | None:
        times = [*self.attributes.values(), *([self.erased] if self.erased else [])]
        return max(times, default=None)

    def settle_claim(self) -> None:
        """Take a claim left by a batch that never wrote its outcome (a failed write, a cut)
        as applied: it may have reached MoEngage, so no older fact may be sent past it. If it
        did not, its message is retried or dead-lettered with it; nothing older overtakes it."""
        for name, time in self.claimed.items():
            known = self.attributes.get(name)
            self.attributes[name] = time if known is None else max(known, time)
        if self.claimed_erased is not None:
            erased = self.claimed_erased
            self.erased = erased if self.erased is None else max(self.erased, erased)
            self.attributes = {n: t for n, t in self.attributes.items() if t > erased}
        self.claimed, self.claimed_erased = {}, None

    def barrier_holds(self, time: Order, now: datetime) -> bool:
        """Whether a fact at `time` must wait behind a failed delete or merge."""
        if self.barrier is None or self.barrier_set is None:
            return False
        if now - self.barrier_set > timedelta(seconds=BARRIER_SECONDS):
            return False
        return time > self.barrier


@dataclass
class Fact:
    """One user element of a message: which member, what, when (`slot`: the caller's id)."""

    slot: tuple[int, int]
    member: str
    kind: str  # "customer", "delete" (or the retired member of a merge), "merge" (retained)
    time: Order
    attributes: tuple[str, ...] = ()


def facts_of(element: dict, slot: tuple[int, int], time: Order) -> list[Fact]:
    """The user facts an element states (none for an event)."""
    kind = element.get("type")
    if kind == "customer":
        attributes = element.get("attributes")
        names = tuple(attributes) if isinstance(attributes, dict) else ()
        return [Fact(slot, str(element.get("customer_id")), "customer", time, names)]
    if kind == "delete":
        return [Fact(slot, str(element.get("customer_id")), "delete", time)]
    if kind == "merge":
        return [
            Fact(slot, str(element.get("merged_customer_id")), "delete", time),
            Fact(slot, str(element.get("retained_customer_id")), "merge", time),
        ]
    return []


def claims_of(facts: Iterable[Fact]) -> dict[str, MemberState]:
    """Per member, the newest times a wave may apply (written with its lease, before it sends;
    see `MemberState.settle_claim`)."""
    claims: dict[str, MemberState] = {}
    for fact in facts:
        claim = claims.setdefault(fact.member, MemberState())
        if fact.kind == "customer":
            for name in fact.attributes:
                known = claim.claimed.get(name)
                claim.claimed[name] = fact.time if known is None else max(known, fact.time)
        elif fact.kind == "delete":
            erased = claim.claimed_erased
            claim.claimed_erased = fact.time if erased is None else max(erased, fact.time)
    return claims


@dataclass
class Plan:
    """What to do with each fact's element: send it whole, send only some attributes, skip it
    (superseded), or hold its message (a barrier)."""

    skip: set[tuple[int, int]] = field(default_factory=set)
    drop_attributes: dict[tuple[int, int], set[str]] = field(default_factory=dict)
    hold: set[tuple[int, int]] = field(default_factory=set)


def plan(facts: list[Fact], states: dict[str, MemberState], now: datetime) -> Plan:
    """Apply the rule to the facts of one wave (in queue order) against the members' states."""
    result = Plan()
    by_member: dict[str, list[Fact]] = {}
    for fact in facts:
        by_member.setdefault(fact.member, []).append(fact)
    for member, mine in by_member.items():
        state = states[member]
        newest_attribute = state.attributes
        applied = state.newest()
        for position, fact in enumerate(mine):
            if state.barrier_holds(fact.time, now):
                result.hold.add(fact.slot)
                continue
            if _waits_for_newer(fact, mine[:position], mine[position + 1 :]):
                result.hold.add(fact.slot)
                continue
            if fact.kind == "customer":
                if state.erased and state.erased > fact.time:
                    result.skip.add(fact.slot)
                    continue
                old = {
                    n
                    for n in fact.attributes
                    if n in newest_attribute and newest_attribute[n] > fact.time
                }
                if old and old == set(fact.attributes):
                    result.skip.add(fact.slot)
                elif old:
                    result.drop_attributes.setdefault(fact.slot, set()).update(old)
            elif fact.kind == "delete" and applied and applied > fact.time:
                result.skip.add(fact.slot)
    return result


def _waits_for_newer(fact: Fact, before: list[Fact], after: list[Fact]) -> bool:
    """Whether a newer fact of the same wave supersedes this one: then this one waits (its
    message is held) until the newer one's fate is known, and its next try is planned against
    the member's state. Dropped now, it would be lost if the newer one then failed; sent, it
    would undo a newer erasure sent before it, or race a newer update of the same attributes
    (a wave's update requests run concurrently). Facts later in queue order than an erasure
    are sent after it (`delivery.payloads`), so those need not wait."""
    if fact.kind == "customer":
        names = set(fact.attributes)
        return any(f.time > fact.time and f.kind == "delete" for f in before) or any(
            f.time > fact.time and names & set(f.attributes) for f in before + after
        )
    return fact.kind == "delete" and any(f.time > fact.time for f in before)


def record(
    facts: Iterable[Fact],
    states: dict[str, MemberState],
    delivered: set[tuple[int, int]],
    failed: set[tuple[int, int]],
    dropped: dict[tuple[int, int], set[str]],
    now: datetime,
) -> None:
    """Update the states with what MoEngage accepted, and barriers for failed erasures."""
    for fact in facts:
        state = states[fact.member]
        if fact.slot in delivered:
            if fact.kind == "customer":
                for name in set(fact.attributes) - dropped.get(fact.slot, set()):
                    known = state.attributes.get(name)
                    state.attributes[name] = fact.time if known is None else max(known, fact.time)
            elif fact.kind == "delete":
                state.erased = fact.time if state.erased is None else max(state.erased, fact.time)
                state.attributes = {n: t for n, t in state.attributes.items() if t > fact.time}
                if state.barrier is not None and state.barrier <= fact.time:
                    state.barrier = state.barrier_set = None
        elif (
            fact.slot in failed
            and fact.kind == "delete"
            and (state.barrier is None or fact.time < state.barrier)
        ):
            state.barrier, state.barrier_set = fact.time, now


def clear_barriers(facts: Iterable[Fact], states: dict[str, MemberState]) -> None:
    """A delete or merge that ended as a dead letter no longer holds its member's facts."""
    for fact in facts:
        state = states[fact.member]
        if fact.kind == "delete" and state.barrier == fact.time:
            state.barrier = state.barrier_set = None


def member_row(member: str) -> tuple[str, str]:
    return row_of(member)


class MemberLedger(TableAccess):
    """Member states in Table Storage, each leased by one batch while it sends."""

    TABLE = TABLE_NAME

    async def acquire(
        self, claims: dict[str, MemberState], owner: str, now: datetime
    ) -> dict[str, MemberState | None]:
        """Lease each member's row for `owner`, writing the times this batch may apply (its
        claim, `claims_of`) before it sends: the member's state when leased (a claim an earlier
        batch left unsettled taken as applied), None when another live batch holds it; a
        member whose row could not be read in time is left out."""

        def lease(member: str) -> MemberState | None:
            return self._lease(member, owner, now, claims[member])

        return await self._each(lease, list(claims))

    def _lease(
        self, member: str, owner: str, now: datetime, claim: MemberState | None = None
    ) -> MemberState | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        table = self._table()
        partition, row = member_row(member)
        try:
            entity = table.get_entity(partition, row)
        except ResourceNotFoundError:
            entity = None
        if entity is not None:
            until = _aware(entity.get("LeaseUntil"))
            if entity.get("LeaseOwner") not in (None, owner) and until and until > now:
                return None
        state = _state_of(entity)
        state.settle_claim()
        claimed = MemberState(**{**vars(state), "claimed": {}, "claimed_erased": None})
        if claim is not None:
            claimed.claimed, claimed.claimed_erased = claim.claimed, claim.claimed_erased
        lease = {
            "PartitionKey": partition,
            "RowKey": row,
            **_columns(claimed),
            "LeaseOwner": owner,
            "LeaseUntil": now + timedelta(seconds=LEASE_SECONDS),
        }
        try:
            if entity is None:
                written = table.create_entity(lease)
            else:
                written = table.update_entity(
                    lease,
                    mode=UpdateMode.REPLACE,
                    etag=entity.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified,
                )
        except HttpResponseError:  # 409 / 412: another batch leased it first
            return None
        state.etag = written.get("etag")
        return state

    async def release(self, states: dict[str, MemberState], owner: str) -> None:
        """Write the states and end the leases (only while still ours: ETag condition)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        def write(member: str) -> None:
            state = states[member]
            partition, row = member_row(member)
            entity = {"PartitionKey": partition, "RowKey": row, **_columns(state)}
            try:
                self._table().update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=state.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except HttpResponseError as error:
                if error.status_code != 412:  # 412: the lease expired and was taken over
                    raise

        answers = await self._each(write, list(states))
        if len(answers) < len(states):
            raise TimeoutError(f"{len(states) - len(answers)} member states were not written")


def _state_of(entity: Any) -> MemberState:
    """The state in a row's `State` column (JSON of orders as microsecond times and sequence
    numbers: exact, so a barrier compares equal to its own delete's order); an unreadable
    column is an empty state."""
    if entity is None:
        return MemberState()
    try:
        raw = json.loads(entity.get("State") or "{}")
        return MemberState(
            {str(name): _order(value) for name, value in raw.get("attributes", {}).items()},
            _order(raw.get("erased")),
            _order(raw.get("barrier")),
            _time(raw.get("barrier_set")),
            {str(name): _order(value) for name, value in raw.get("claimed", {}).items()},
            _order(raw.get("claimed_erased")),
        )
    except (ValueError, TypeError, AttributeError, OverflowError):
        return MemberState()


def _time(micros: Any) -> Any:
    if micros is None:
        return None
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))


def _order(value: Any) -> Any:
    """`[micros, sequence]`; a bare number (a row written before sequences) has sequence 0."""
    if value is None:
        return None
    if isinstance(value, list):
        micros, sequence = value
        return Order(_time(micros), int(sequence))
    return Order(_time(value))


def _order_value(order: Order | None) -> list[int] | None:
    if order is None:
        return None
    return [_micros(order.time) or 0, order.sequence]


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _columns(state: MemberState) -> dict[str, object]:
    data = {
        "attributes": {name: _order_value(order) for name, order in state.attributes.items()},
        "erased": _order_value(state.erased),
        "barrier": _order_value(state.barrier),
        "barrier_set": _micros(state.barrier_set),
        "claimed": {name: _order_value(order) for name, order in state.claimed.items()},
        "claimed_erased": _order_value(state.claimed_erased),
    }
    return {"State": json.dumps(data)}


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
