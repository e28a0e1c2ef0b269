"""Idempotency keys this instance delivered lately, so a queue batch redelivered after a
Service Bus failure is not sent to MoEngage twice (MoEngage does not de-duplicate events)."""

from __future__ import annotations

from collections import OrderedDict


class RecentlyDelivered:
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
