"""The durable, shared record of delivered keys: a table in the function app's own storage
account (`AzureWebJobsStorage`), so a batch redelivered on another instance or after a restart
does not send delivered events again. `azure-data-tables` is imported lazily (queue mode only).

Rows hold a hash of the key (never member data) and are written after MoEngage accepted."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.azure_identity import identity_credential

TABLE_NAME = "kognitivdelivered"
STORAGE_SETTING = "AzureWebJobsStorage"
TIMEOUT_SECONDS = 10.0  # a slow record must not hold the batch past its lock
MAX_PARALLEL_READS = 16
CLIENT_RETRIES = {"retry_total": 1, "retry_backoff_factor": 0.5, "retry_backoff_max": 2}
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


def row_of(key: str) -> tuple[str, str]:
    """(PartitionKey, RowKey): a hash, so any key is a valid row key and no member data is
    stored; 16 partitions keep writes to a few transactions per batch."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return digest[0], digest


class TableDeliveryRecord:
    """DeliveryRecord over Azure Table Storage (or Azurite)."""

    def __init__(self, config: StorageConfig, table: str = TABLE_NAME) -> None:
        self._config = config
        self._table_name = table
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _table(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        from azure.core.pipeline.transport import AsyncioRequestsTransport
        from azure.data.tables.aio import TableServiceClient

        # requests (already an azure-core dependency) run off the event loop: no aiohttp
        options = {**CLIENT_RETRIES, "transport": AsyncioRequestsTransport()}
        config = self._config
        if config.connection_string:
            service = TableServiceClient.from_connection_string(config.connection_string, **options)
        else:
            credential = identity_credential(config.client_id)
            service = TableServiceClient(
                config.table_endpoint or "", credential=credential, **options
            )
        self._client = await service.create_table_if_not_exists(self._table_name)
        self._loop = loop
        return self._client

    async def find(self, keys: Collection[str]) -> set[str]:
        from azure.core.exceptions import ResourceNotFoundError

        async with asyncio.timeout(TIMEOUT_SECONDS):
            table = await self._table()
            limit = asyncio.Semaphore(MAX_PARALLEL_READS)

            async def recorded(key: str) -> bool:
                partition, row = row_of(key)
                async with limit:
                    try:
                        await table.get_entity(partition, row, select=["RowKey"])
                    except ResourceNotFoundError:
                        return False
                return True

            keys = list(keys)
            answers = await asyncio.gather(*(recorded(key) for key in keys))
        return {key for key, found in zip(keys, answers, strict=True) if found}

    async def add(self, keys: Collection[str]) -> None:
        by_partition: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
        now = datetime.now(UTC)
        for key in keys:
            partition, row = row_of(key)
            by_partition[partition][row] = {
                "PartitionKey": partition,
                "RowKey": row,
                "DeliveredUtc": now,
            }
        async with asyncio.timeout(TIMEOUT_SECONDS):
            table = await self._table()
            writes = []
            for rows in by_partition.values():
                entities = list(rows.values())
                for start in range(0, len(entities), TRANSACTION_SIZE):
                    chunk = entities[start : start + TRANSACTION_SIZE]
                    writes.append(table.submit_transaction([("upsert", e) for e in chunk]))
            await asyncio.gather(*writes)
