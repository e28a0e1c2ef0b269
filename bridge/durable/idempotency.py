"""Which events were already delivered, so a redelivered queue message is not sent to MoEngage
twice (MoEngage does not de-duplicate events). Two levels: an in-memory LRU of this instance,
then a durable record shared by every instance (Azure Table Storage).

Before a keyed message is sent its key is *claimed* in the record (a conditional insert: a
second claim of the same key is refused), so two instances holding two live copies of one
event never both send it. After MoEngage answers, the claim is settled: marked delivered, or
released (retry later, dead letter). A claim left by a crashed instance expires
(`CLAIM_SECONDS`)."""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from bridge.durable.messages import IncomingMessage

log = logging.getLogger("kognitiv_bridge")

CLAIM_SECONDS = 300.0  # a claim older than this was left by an instance that died (lock: 5 min)


class KeyState(enum.Enum):
    """What the record says about one key, for the batch that asked."""

    CLAIMED = "claimed"  # this batch holds the claim (or there is no durable record): send
    DELIVERED = "delivered"  # MoEngage accepted the event before: skip it
    BUSY = "busy"  # another live copy holds an unexpired claim: hold this copy
    UNKNOWN = "unknown"  # the record could not be read or written in time: hold this copy


class RecentlyDelivered:
    """Keys this instance delivered lately (first-level cache)."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self.add_all((key,))

    def add_all(self, keys: Iterable[str]) -> None:
        """Add each key as the most recent, then forget the oldest beyond the capacity (the
        same keys as adding them one by one; a wave's keys are added at once)."""
        known = self._keys
        for key in keys:
            known[key] = None
            known.move_to_end(key)
        while len(known) > self._capacity:
            known.popitem(last=False)


class DeliveryRecord(Protocol):
    """A durable, shared record of delivered keys and of claims on keys being sent."""

    async def claim(
        self, keys: Collection[str], now: datetime | None = None
    ) -> dict[str, KeyState]:
        """Claim each key at `now` (conditional insert; an expired claim is taken over). The
        answer leaves out keys it could not settle in time (UNKNOWN); it never raises for one
        key. Raising at all (the whole record unreachable) makes every key UNKNOWN."""

    async def settle(self, delivered: Collection[str], released: Collection[str]) -> None:
        """Mark `delivered` keys delivered and drop this batch's claims on `released` keys;
        raise when the record cannot be written."""

    async def find(self, keys: Collection[str]) -> set[str]:
        """The given keys recorded as delivered (claims are not); raise when unreadable."""

    async def fates(self, digests: Collection[str]) -> tuple[set[str], set[str]]:
        """Of these keys, known by their digests (`delivery_record.key_digest`): delivered,
        and without a row (released); a key still claimed is in neither."""

    async def add(self, keys: Collection[str]) -> None:
        """Record keys as delivered; raise when the record cannot be written."""


class DeliveredKeys:
    """The LRU first, then the durable record. Reading or writing the record never fails a
    batch: a key that could not be read is UNKNOWN (the caller holds its message), a write
    that failed leaves a claim that expires."""

    def __init__(self, recent: RecentlyDelivered, record: DeliveryRecord | None = None) -> None:
        self.recent = recent
        self.record = record

    async def claim(
        self, keys: Collection[str], now: datetime | None = None
    ) -> dict[str, KeyState]:
        """Per key: DELIVERED (LRU or record), CLAIMED (this batch may send it), BUSY or
        UNKNOWN. Without a durable record every key not in the LRU is CLAIMED."""
        states: dict[str, KeyState] = {}
        rest: list[str] = []
        recent = self.recent
        for key in keys:  # one LRU look-up per key
            if key in recent:
                states[key] = KeyState.DELIVERED
            else:
                rest.append(key)
        if not rest:
            return states
        if self.record is None:
            states.update(dict.fromkeys(rest, KeyState.CLAIMED))
            return states
        try:
            answers = await self.record.claim(rest, now)
        except Exception as error:  # a record must never raise here; be safe if one does
            log.warning(
                "could not claim keys in the delivered-keys record (%s)", type(error).__name__
            )
            answers = {}
        for key in rest:
            state = answers.get(key, KeyState.UNKNOWN)
            states[key] = state
            if state is KeyState.DELIVERED:
                self.recent.add(key)
        unknown = sum(1 for key in rest if states[key] is KeyState.UNKNOWN)
        if unknown:
            log.warning(
                "the delivered-keys record did not answer for %d of %d keys: those messages "
                "are held and retried shortly",
                unknown,
                len(rest),
            )
        return states

    async def settle(self, delivered: Collection[str], released: Collection[str] = ()) -> None:
        """Record keys MoEngage accepted (in the LRU at once, then durably) and release the
        claims of keys that were not sent or not accepted. Never raises."""
        self.recent.add_all(delivered)
        if self.record is None or not (delivered or released):
            return
        try:
            await self.record.settle(list(delivered), list(released))
        except Exception as error:
            log.warning(
                "could not write %d delivered and %d released keys to the delivered-keys record "
                "(%s): their claims expire after %d s",
                len(delivered),
                len(released),
                type(error).__name__,
                CLAIM_SECONDS,
            )

    async def remember(self, keys: Collection[str]) -> None:
        """Record keys MoEngage accepted (no claim to release)."""
        await self.settle(keys, ())

    async def fates(self, digests: Collection[str]) -> tuple[set[str], set[str]]:
        """Of these keys (by their digests), those recorded as delivered and those the record
        has no row for, i.e. released: not sent, or not accepted (read-only). A key still
        claimed, or that the record could not answer for, is in neither; so is every key
        without a durable record."""
        if not digests or self.record is None:
            return set(), set()
        try:
            return await self.record.fates(digests)
        except Exception as error:
            log.warning("could not read the delivered-keys record (%s)", type(error).__name__)
            return set(), set()

    async def find(self, messages: Sequence[IncomingMessage]) -> set[str]:
        """Keys of these messages recorded as delivered (read-only: claims nothing). An
        unreadable record finds nothing."""
        found = {key for m in messages if (key := m.delivery_key) and key in self.recent}
        unknown = {key for m in messages if (key := m.delivery_key) and key not in found}
        if unknown and self.record is not None:
            try:
                recorded = await self.record.find(unknown)
            except Exception as error:
                log.warning("could not read the delivered-keys record (%s)", type(error).__name__)
                recorded = set()
            for key in recorded:
                self.recent.add(key)
            found |= recorded
        return found
