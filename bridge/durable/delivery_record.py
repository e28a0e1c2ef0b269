"""The durable, shared record of delivered keys and of claims on keys being sent: a table in
the function app's own storage account (`AzureWebJobsStorage`), so a batch redelivered on
another instance or after a restart does not send delivered events again, and two live copies
of one event on two instances are not both sent. `azure-data-tables` is imported lazily (queue
mode only).

Rows hold a hash of the key (never member data): `State` "claimed" (with `ClaimedUtc`) while a
batch sends the event, "delivered" once MoEngage accepted it (rows without `State`, from
earlier releases, are delivered).

The record can never block delivery: calls run on the synchronous client in a small executor of
its own (never the event loop's default one, which DNS lookups for MoEngage need), with real
socket timeouts (a hung endpoint frees its thread within seconds); a call not answered in time
is given up and, when not started yet, cancelled. Each key is answered on its own: one slow or
failing key is UNKNOWN, never the whole lookup."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from bridge.durable.idempotency import CLAIM_SECONDS, KeyState
from bridge.durable.tables import TableAccess, key_digest, row_of

TABLE_NAME = "kognitivdelivered"
CLAIMED = "claimed"
DELIVERED = "delivered"
TRANSACTION_SIZE = 100  # Table Storage's limit per entity-group transaction


class TableDeliveryRecord(TableAccess):
    """DeliveryRecord (`bridge.durable.idempotency`) over Azure Table Storage (or Azurite)."""

    TABLE = TABLE_NAME

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claims: dict[str, str] = {}  # key -> etag of the claim this process wrote

    # claims ----------------------------------------------------------------------------------
    async def claim(
        self, keys: Collection[str], now: datetime | None = None
    ) -> dict[str, KeyState]:
        """Conditional insert per key: CLAIMED, or DELIVERED / BUSY from the row found; an
        expired claim (older than CLAIM_SECONDS, left by an instance that died) is taken over
        with an ETag condition, so only one taker wins. Unanswered keys are left out
        (UNKNOWN)."""
        moment = now or self._clock()
        return await self._each(functools.partial(self._claim_one, now=moment), list(keys))

    def _claim_one(self, key: str, now: datetime) -> KeyState:
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            HttpResponseError,
            ResourceExistsError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        table = self._table()
        partition, row = row_of(key)
        entity = {"PartitionKey": partition, "RowKey": row, "State": CLAIMED, "ClaimedUtc": now}
        try:
            written = table.create_entity(entity)
            self._claims[key] = written.get("etag", "")
            return KeyState.CLAIMED
        except ResourceExistsError:
            pass
        try:
            existing = table.get_entity(partition, row)
        except ResourceNotFoundError:  # released between the two calls: another copy sends
            return KeyState.BUSY
        if existing.get("State", DELIVERED) != CLAIMED:
            return KeyState.DELIVERED
        claimed = existing.get("ClaimedUtc")
        if isinstance(claimed, datetime) and now - claimed < timedelta(seconds=CLAIM_SECONDS):
            return KeyState.BUSY
        try:
            written = table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=existing.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError:  # 412: another instance took it over first
            return KeyState.BUSY
        self._claims[key] = written.get("etag", "")
        return KeyState.CLAIMED

    async def settle(self, delivered: Collection[str], released: Collection[str]) -> None:
        """Delivered keys are upserted as delivered (whoever holds the claim); claims on
        released keys are deleted only while still this process's own (ETag condition)."""
        moment = self._clock()
        for key in delivered:
            self._claims.pop(key, None)
        if delivered:
            await self.add(delivered, moment)
        answers = await self._each(self._release_one, list(released))
        missing = len(released) - len(answers)
        if missing:
            raise TimeoutError(f"{missing} claims could not be released")

    def _release_one(self, key: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        etag = self._claims.pop(key, None)
        if not etag:
            return
        partition, row = row_of(key)
        try:
            self._table().delete_entity(
                partition, row, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:  # 404 gone, 412 taken over: not ours any more
            if error.status_code not in (404, 412):
                raise

    # delivered keys --------------------------------------------------------------------------
    async def find(self, keys: Collection[str]) -> set[str]:
        """Keys recorded as delivered; raise when any of them could not be read."""
        digests = {key_digest(key): key for key in keys}
        delivered, _ = await self.fates(list(digests))
        return {digests[digest] for digest in delivered}

    async def fates(self, digests: Collection[str]) -> tuple[set[str], set[str]]:
        """Of these keys, known by their digests (`key_digest`): those recorded as delivered,
        and those with no row (released: not sent, or not accepted); a key still claimed is
        in neither (its batch may have been cut, or failed to write, after MoEngage accepted
        it). Raise when any of them could not be read."""
        from azure.core.exceptions import ResourceNotFoundError

        def state(digest: str) -> str | None:
            try:
                found = self._table().get_entity(digest[0], digest)
            except ResourceNotFoundError:
                return None
            return str(found.get("State", DELIVERED))

        digests = list(digests)
        answers = await self._each(state, digests)
        if len(answers) < len(digests):
            raise TimeoutError(f"{len(digests) - len(answers)} keys could not be read")
        delivered = {digest for digest, found in answers.items() if found == DELIVERED}
        return delivered, {digest for digest, found in answers.items() if found is None}

    async def add(self, keys: Collection[str], now: datetime | None = None) -> None:
        """Upsert keys as delivered, in transactions of up to 100 rows per partition."""
        moment = now or self._clock()
        by_partition: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
        for key in keys:
            partition, row = row_of(key)
            by_partition[partition][row] = {
                "PartitionKey": partition,
                "RowKey": row,
                "State": DELIVERED,
                "DeliveredUtc": moment,
            }
        chunks = {}
        for partition, rows in by_partition.items():
            entities = list(rows.values())
            for start in range(0, len(entities), TRANSACTION_SIZE):
                chunks[f"{partition}{start}"] = entities[start : start + TRANSACTION_SIZE]

        def write(name: str) -> None:
            self._table().submit_transaction([("upsert", e) for e in chunks[name]])

        answers = await self._each(write, list(chunks))
        if len(answers) < len(chunks):
            raise TimeoutError(f"{len(chunks) - len(answers)} transactions were not written")
