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

import asyncio
import functools
import hashlib
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from bridge.common.azure_identity import identity_credential
from bridge.durable.idempotency import CLAIM_SECONDS, KeyState

TABLE_NAME = "kognitivdelivered"
STORAGE_SETTING = "AzureWebJobsStorage"
TIMEOUT_SECONDS = 10.0  # a slow record must not hold the batch past its lock
MAX_PARALLEL_READS = 16  # threads of the record's own executor
# Real socket timeouts (seconds): azure-core's default read timeout is 300 s.
SOCKET_TIMEOUTS = {"connection_timeout": 3.0, "read_timeout": 5.0}
CLIENT_RETRIES = {"retry_total": 1, "retry_backoff_factor": 0.5, "retry_backoff_max": 2}
CLAIMED = "claimed"
DELIVERED = "delivered"
T = TypeVar("T")
TRANSACTION_SIZE = 100  # Table Storage's limit per entity-group transaction
# Azurite's well-known development account (public, documented; not a secret).
DEVELOPMENT_STORAGE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


@dataclass(frozen=True)
class StorageConfig:
    """Where the table lives: a connection string, or an endpoint reached with an identity."""

    connection_string: str | None = None
    table_endpoint: str | None = None
    client_id: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> StorageConfig | None:
        """The host's own storage settings (connection string or identity-based); None when
        none is set (then only the in-memory cache protects against duplicates)."""
        connection = (environ.get(STORAGE_SETTING) or "").strip()
        if connection:
            if connection.replace(" ", "").lower() == "usedevelopmentstorage=true":
                connection = DEVELOPMENT_STORAGE
            return cls(connection_string=connection)
        endpoint = environ.get(f"{STORAGE_SETTING}__tableServiceUri")
        account = environ.get(f"{STORAGE_SETTING}__accountName")
        if not endpoint and account:
            endpoint = f"https://{account}.table.core.windows.net"
        if endpoint:
            return cls(
                table_endpoint=endpoint, client_id=environ.get(f"{STORAGE_SETTING}__clientId")
            )
        return None


def open_table(config: StorageConfig, table_name: str) -> Any:
    """A synchronous TableClient of `table_name` (created when missing), with short socket
    timeouts and one client retry: a connection string where one is set (Azurite, tests), else
    the app's identity. The durable tables share this one way in."""
    from azure.data.tables import TableServiceClient

    options: dict[str, Any] = {**CLIENT_RETRIES, **SOCKET_TIMEOUTS}
    if config.connection_string:
        service = TableServiceClient.from_connection_string(config.connection_string, **options)
    else:
        credential = identity_credential(config.client_id, sync=True)
        service = TableServiceClient(config.table_endpoint or "", credential=credential, **options)
    return service.create_table_if_not_exists(table_name)


def _retrieve(future: asyncio.Future[object]) -> None:
    """Mark a call's outcome as seen: the caller may have stopped waiting for it."""
    if not future.cancelled():
        future.exception()


def row_of(key: str) -> tuple[str, str]:
    """(PartitionKey, RowKey): a hash, so any key is a valid row key and no member data is
    stored; 16 partitions keep writes to a few transactions per batch."""
    digest = key_digest(key)
    return digest[0], digest


def key_digest(key: str) -> str:
    """What a key's row is named by (`row_of`): others may keep it instead of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


class TableAccess:
    """One table through the synchronous client, in an executor of its own, with real socket
    timeouts; `_each` answers per key and gives up (and cancels what has not started) after
    TIMEOUT_SECONDS."""

    def __init__(
        self,
        config: StorageConfig,
        table: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._table_name = table
        self._clock = clock
        self._client: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(MAX_PARALLEL_READS, thread_name_prefix=table)

    def _table(self) -> Any:
        """The synchronous TableClient, built once (in an executor thread)."""
        with self._lock:
            if self._client is None:
                self._client = open_table(self._config, self._table_name)
            return self._client

    async def _each(self, work: Callable[[str], T], keys: Collection[str]) -> dict[str, T]:
        """`work(key)` for every key in the executor; the keys answered within
        TIMEOUT_SECONDS (a key whose call failed is left out, alone)."""
        loop = asyncio.get_running_loop()
        futures = {
            key: loop.run_in_executor(self._executor, functools.partial(work, key)) for key in keys
        }
        for future in futures.values():  # a batch cut meanwhile: no "never retrieved" error
            future.add_done_callback(_retrieve)
        if not futures:
            return {}
        done, pending = await asyncio.wait(futures.values(), timeout=TIMEOUT_SECONDS)
        for future in pending:
            future.cancel()  # not started yet: never runs; running: its socket timeout ends it
        answers: dict[str, T] = {}
        for key, future in futures.items():
            if future in done and not future.cancelled() and future.exception() is None:
                answers[key] = future.result()
        return answers


class TableDeliveryRecord(TableAccess):
    """DeliveryRecord (`bridge.durable.idempotency`) over Azure Table Storage (or Azurite)."""

    def __init__(
        self,
        config: StorageConfig,
        table: str = TABLE_NAME,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(config, table, clock)
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
