"""Which events were already delivered, so a redelivered queue message is not sent to MoEngage
twice (MoEngage does not de-duplicate events). Two levels: an in-memory LRU of this instance,
then a durable record shared by every instance (Azure Table Storage), consulted only for
messages seen before (redelivered by the host, or scheduled retries)."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import Protocol

from bridge.queue_messages import IncomingMessage

log = logging.getLogger("kognitiv_bridge")


class RecentlyDelivered:
    """Keys this instance delivered lately (first-level cache)."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


class DeliveryRecord(Protocol):
    """A durable, shared set of delivered keys."""

    async def find(self, keys: Collection[str]) -> set[str]:
        """The given keys that are recorded; raise when the record cannot be read."""

    async def add(self, keys: Collection[str]) -> None:
        """Record keys as delivered; raise when the record cannot be written."""


class DeliveredKeys:
    """The LRU first, then the durable record. Reading or writing the record never fails a
    batch: an unreadable record means a possible duplicate, never a lost message."""

    def __init__(self, recent: RecentlyDelivered, record: DeliveryRecord | None = None) -> None:
        self.recent = recent
        self.record = record

    async def find(self, messages: Sequence[IncomingMessage]) -> set[str]:
        """Keys of these messages that were already delivered."""
        found = {key for m in messages if (key := m.delivery_key) and key in self.recent}
        unknown = {
            key for m in messages if m.redelivered and (key := m.delivery_key) and key not in found
        }
        if unknown and self.record is not None:
            try:
                recorded = await self.record.find(unknown)
            except Exception as error:
                log.warning(
                    "could not read the delivered-keys record (%s): %d redelivered messages are "
                    "delivered again",
                    type(error).__name__,
                    len(unknown),
                )
                recorded = set()
            for key in recorded:
                self.recent.add(key)
            found |= recorded
        return found

    async def remember(self, keys: Collection[str]) -> None:
        """Record keys MoEngage accepted: in the LRU at once, then durably."""
        for key in keys:
            self.recent.add(key)
        if not keys or self.record is None:
            return
        try:
            await self.record.add(keys)
        except Exception as error:
            log.warning(
                "could not write %d keys to the delivered-keys record (%s): a redelivery of "
                "those messages on another instance would send them again",
                len(keys),
                type(error).__name__,
            )
