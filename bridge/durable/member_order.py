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
  never wrote back its outcome is unsettled (`MemberState.settle_claim`): it may have landed,
  so an older fact is neither sent past it nor dropped for it, but waits until the claimed
  fact is delivered (the older one is then superseded) or its key released or dead-lettered
  (then it is sent); its key in the delivered-keys record tells (`MemberState.resolve`).

The state lives in the table `kognitivmembers` of the app's storage account
(`bridge.durable.member_ledger`): per member (a hash
of workspace and customer id, never member data) the time of each attribute last sent, the
last erasure, the barrier, the claim and the unsettled claims (with hashes of their keys); no
values. Without a storage account, only the order
inside one batch holds (`delivery.payloads`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from bridge.durable.tables import key_digest

LEASE_SECONDS = 300.0  # as a key claim: an instance that died lets go within the lock duration
BARRIER_SECONDS = 24 * 3600.0  # a barrier outliving the retry horizon is stale
UNSETTLED_SECONDS = BARRIER_SECONDS  # an unsettled claim no outcome resolved: taken as applied


class Order(NamedTuple):
    """Where a fact stands among its member's facts: its source time, then the sequence number
    of its first message (two facts of one time: the later-enqueued one is newer; 0 unknown)."""

    time: datetime
    sequence: int = 0


class Claim(NamedTuple):
    """A fact a batch claimed and never settled: its order and the digest of its message's
    key in the delivered-keys record (`key_digest`; None: the message has none), which tells
    its fate."""

    order: Order
    key: str | None = None


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
    claimed_keys: dict[str, str] = field(default_factory=dict)  # their messages' key digests
    claimed_erased_key: str | None = None
    # claims whose batch never wrote back: each may have landed or not (`settle_claim`)
    unsettled: dict[str, list[Claim]] = field(default_factory=dict)
    unsettled_erased: list[Claim] = field(default_factory=list)
    unsettled_since: datetime | None = None

    def newest(self) -> Order | None:
        times = [*self.attributes.values(), *([self.erased] if self.erased else [])]
        return max(times, default=None)

    def settle_claim(self, now: datetime) -> None:
        """Keep a claim left by a batch that never wrote its outcome (a failed write, a cut) as
        unsettled: it may have reached MoEngage, so no older fact may be sent past it, nor be
        dropped for it (its message may still end as a letter). It is settled by its fact's
        outcome (`record`, `clear_barriers`) or by its key (`resolve`); one nothing settles
        within `UNSETTLED_SECONDS` (its message has no key) is taken as applied."""
        if self.unsettled_since and now - self.unsettled_since > timedelta(
            seconds=UNSETTLED_SECONDS
        ):
            for name, claims in list(self.unsettled.items()):
                self.apply_attribute(name, max(c.order for c in claims))
            if self.unsettled_erased:
                self.apply_erasure(max(c.order for c in self.unsettled_erased))
            self.unsettled, self.unsettled_erased, self.unsettled_since = {}, [], None
        for name, time in self.claimed.items():
            known = self.attributes.get(name)
            claim = Claim(time, self.claimed_keys.get(name))
            if (known is None or known < time) and claim not in self.unsettled.get(name, []):
                self.unsettled.setdefault(name, []).append(claim)
        erased = self.claimed_erased
        if erased is not None and (self.erased is None or self.erased < erased):
            claim = Claim(erased, self.claimed_erased_key)
            if claim not in self.unsettled_erased:
                self.unsettled_erased.append(claim)
        if (self.unsettled or self.unsettled_erased) and self.unsettled_since is None:
            self.unsettled_since = now
        self.claimed, self.claimed_erased = {}, None
        self.claimed_keys, self.claimed_erased_key = {}, None

    def unsettled_keys(self) -> set[str]:
        """The key digests that tell the fate of the unsettled claims (`resolve`)."""
        claims = [*self.unsettled_erased, *(c for cs in self.unsettled.values() for c in cs)]
        return {c.key for c in claims if c.key}

    def resolve(self, delivered: set[str], undelivered: set[str]) -> None:
        """Settle claims by their key digests: delivered (it landed: applied), or released
        (`undelivered`: it did not land, or its message is retried and sends it again later,
        after any older fact: no longer in the way). Claims whose key is still claimed (its
        batch may have been cut, or failed to write, after MoEngage accepted it) or could not
        be read stay unsettled."""
        for name, claims in list(self.unsettled.items()):
            for claim in claims:
                if claim.key in delivered:
                    self.apply_attribute(name, claim.order)
                elif claim.key in undelivered:
                    self.drop_unsettled(name, claim.order, exact=True)
        for claim in list(self.unsettled_erased):
            if claim.key in delivered:
                self.apply_erasure(claim.order)
            elif claim.key in undelivered:
                self.unsettled_erased.remove(claim)
        self.forget_since()

    def unsettled_after(self, time: Order, names: Iterable[str] | None) -> bool:
        """Whether a claim newer than `time` (on one of `names`, or an erasure; any attribute
        when `names` is None) is unsettled: a fact at `time` then waits for its fate."""
        if any(c.order > time for c in self.unsettled_erased):
            return True
        chosen = self.unsettled if names is None else {n: self.unsettled.get(n, []) for n in names}
        return any(c.order > time for claims in chosen.values() for c in claims)

    def apply_attribute(self, name: str, time: Order) -> None:
        """MoEngage accepted `name` at `time`: older claims on it are settled."""
        known = self.attributes.get(name)
        self.attributes[name] = time if known is None else max(known, time)
        self.drop_unsettled(name, time)

    def apply_erasure(self, time: Order) -> None:
        """MoEngage accepted an erasure at `time`: it supersedes whatever came before it."""
        self.erased = time if self.erased is None else max(self.erased, time)
        self.attributes = {n: t for n, t in self.attributes.items() if t > time}
        for name in list(self.unsettled):
            self.drop_unsettled(name, time)
        self.unsettled_erased = [c for c in self.unsettled_erased if c.order > time]
        self.forget_since()

    def drop_unsettled(self, name: str, time: Order, exact: bool = False) -> None:
        """Claims on `name` no longer unsettled: up to `time` (a fact at least as new landed),
        or exactly `time` (that fact ended as a letter)."""
        claims = self.unsettled.get(name, [])
        kept = [c for c in claims if (c.order != time if exact else c.order > time)]
        if kept:
            self.unsettled[name] = kept
        else:
            self.unsettled.pop(name, None)
        self.forget_since()

    def forget_since(self) -> None:
        """Nothing unsettled any more: the bound's clock stops."""
        if not self.unsettled and not self.unsettled_erased:
            self.unsettled_since = None

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
    key: str | None = None  # its message's key in the delivered-keys record


def facts_of(
    element: dict, slot: tuple[int, int], time: Order, key: str | None = None
) -> list[Fact]:
    """The user facts an element states (none for an event); `key`: its message's key."""
    kind = element.get("type")
    if kind == "customer":
        attributes = element.get("attributes")
        names = tuple(attributes) if isinstance(attributes, dict) else ()
        return [Fact(slot, str(element.get("customer_id")), "customer", time, names, key)]
    if kind == "delete":
        return [Fact(slot, str(element.get("customer_id")), "delete", time, (), key)]
    if kind == "merge":
        return [
            Fact(slot, str(element.get("merged_customer_id")), "delete", time, (), key),
            Fact(slot, str(element.get("retained_customer_id")), "merge", time, (), key),
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
                if known is None or known < fact.time:
                    claim.claimed[name] = fact.time
                    _set_key(claim.claimed_keys, name, fact.key)
        elif fact.kind == "delete":
            erased = claim.claimed_erased
            if erased is None or erased < fact.time:
                claim.claimed_erased = fact.time
                claim.claimed_erased_key = key_digest(fact.key) if fact.key else None
    return claims


def _set_key(keys: dict[str, str], name: str, key: str | None) -> None:
    if key:
        keys[name] = key_digest(key)
    else:
        keys.pop(name, None)


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
                elif state.unsettled_after(fact.time, set(fact.attributes) - old):
                    result.hold.add(fact.slot)  # a newer claim may have landed, or may not
                elif old:
                    result.drop_attributes.setdefault(fact.slot, set()).update(old)
            elif fact.kind == "delete" and applied and applied > fact.time:
                result.skip.add(fact.slot)
            elif fact.kind == "delete" and state.unsettled_after(fact.time, None):
                result.hold.add(fact.slot)
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
                    state.apply_attribute(name, fact.time)
            elif fact.kind == "delete":
                state.apply_erasure(fact.time)
                if state.barrier is not None and state.barrier <= fact.time:
                    state.barrier = state.barrier_set = None
        elif (
            fact.slot in failed
            and fact.kind == "delete"
            and (state.barrier is None or fact.time < state.barrier)
        ):
            state.barrier, state.barrier_set = fact.time, now


def clear_barriers(facts: Iterable[Fact], states: dict[str, MemberState]) -> None:
    """A fact that ended as a dead letter no longer holds its member's facts: a delete or merge
    as a barrier, any fact as an unsettled claim (the older facts waiting for it are sent)."""
    for fact in facts:
        state = states[fact.member]
        if fact.kind == "delete" and state.barrier == fact.time:
            state.barrier = state.barrier_set = None
        for name in fact.attributes:
            state.drop_unsettled(name, fact.time, exact=True)
        if fact.kind == "delete":
            state.unsettled_erased = [c for c in state.unsettled_erased if c.order != fact.time]
            state.forget_since()
