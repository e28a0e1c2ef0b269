"""The app's durable tables (delivered keys, member order, kept letters) in its own storage
account: where they live (`StorageConfig`), one way to open a table client, and `TableAccess`,
which runs the synchronous client in a small executor of its own with real socket timeouts, so a
slow or hung table can never block delivery (never the event loop's default executor, which DNS
lookups for MoEngage need). `azure-data-tables` is imported lazily (queue mode only)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import threading
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from bridge.common.azure_identity import identity_credential

STORAGE_SETTING = "AzureWebJobsStorage"
TIMEOUT_SECONDS = 10.0  # a slow table must not hold the batch past its lock
MAX_PARALLEL_READS = 16  # threads of a table's own executor
# Real socket timeouts (seconds): azure-core's default read timeout is 300 s.
SOCKET_TIMEOUTS = {"connection_timeout": 3.0, "read_timeout": 5.0}
CLIENT_RETRIES = {"retry_total": 1, "retry_backoff_factor": 0.5, "retry_backoff_max": 2}
T = TypeVar("T")
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

    TABLE = ""  # each table's subclass names its table
    WORKERS = MAX_PARALLEL_READS  # threads of its executor

    def __init__(
        self,
        config: StorageConfig,
        table: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._table_name = table or self.TABLE
        self._clock = clock
        self._client: Any = None
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(self.WORKERS, thread_name_prefix=self._table_name)

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

    async def _one(self, work: Callable[[], T]) -> T:
        """`work()` in the executor, given up after TIMEOUT_SECONDS (its socket timeouts end
        the thread's call)."""
        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        future.add_done_callback(_retrieve)
        async with asyncio.timeout(TIMEOUT_SECONDS):
            return await future
