"""A model of one Azure Table Storage table, for tests: the part of the synchronous
`azure.data.tables.TableClient` the delivered-keys record uses, with the service's documented
behaviour, so the real `TableDeliveryRecord` runs on it.

- `create_entity` is a conditional insert: a second insert of the same (PartitionKey, RowKey)
  answers 409 (`ResourceExistsError`);
- every write gives the row a new ETag; `update_entity` and `delete_entity` with
  `MatchConditions.IfNotModified` answer 412 when the row changed since that ETag was read
  (`ResourceModifiedError`), 404 when the row is gone (`ResourceNotFoundError`);
- `submit_transaction` applies all of its operations or none;
- `get_entity` returns a `TableEntity` whose `metadata` holds the ETag.

Calls come from the record's own threads, so the table is guarded by a lock. `fault` (optional)
decides each call from its operation and the rows it touches: "ok", "error" (503 before anything
is written), "lost" (written, then the answer is lost: the caller sees an error), or it blocks
for as long as a test wants (a slow or hung endpoint) and then decides."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode

# (operation, the (PartitionKey, RowKey) it touches) -> "ok", "error" or "lost"
TableFault = Callable[[str, list[tuple[str, str]]], str]


def _error(kind: type[HttpResponseError], status: int, message: str) -> HttpResponseError:
    error = kind(message=message)
    error.status_code = status
    return error


class TableModel:
    """One table: rows by (PartitionKey, RowKey), each with its ETag."""

    def __init__(self, fault: TableFault | None = None) -> None:
        self.rows: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        self.fault = fault
        self.calls = 0
        self.errors = 0
        self.active = 0  # calls in progress (a held one included)
        self._lock = threading.Lock()
        self._etags = itertools.count(1)

    # the TableClient surface -------------------------------------------------------------------
    def create_entity(self, entity: dict[str, Any], **_: object) -> dict[str, Any]:
        return self._call("create", lambda: self._create(entity), [self._key(entity)])

    def get_entity(self, partition_key: str, row_key: str, **_: object) -> TableEntity:
        return self._call(
            "get", lambda: self._get(partition_key, row_key), [(partition_key, row_key)]
        )

    def update_entity(
        self,
        entity: dict[str, Any],
        mode: UpdateMode = UpdateMode.MERGE,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **_: object,
    ) -> dict[str, Any]:
        return self._call(
            "update", lambda: self._update(entity, mode, etag, match_condition), [self._key(entity)]
        )

    def upsert_entity(
        self, entity: dict[str, Any], mode: UpdateMode = UpdateMode.MERGE, **_: object
    ) -> dict[str, Any]:
        return self._call("upsert", lambda: self._upsert(entity, mode), [self._key(entity)])

    def delete_entity(
        self,
        partition_key: str,
        row_key: str,
        *,
        etag: str | None = None,
        match_condition: MatchConditions | None = None,
        **_: object,
    ) -> None:
        self._call(
            "delete",
            lambda: self._delete(partition_key, row_key, etag, match_condition),
            [(partition_key, row_key)],
        )

    def query_entities(self, query_filter: str, **_: object) -> list[TableEntity]:
        """Rows matching `PartitionKey eq '<value>'` (the only filter the bridge writes)."""
        prefix = "PartitionKey eq '"
        if not (query_filter.startswith(prefix) and query_filter.endswith("'")):
            raise ValueError(f"filter not modelled: {query_filter}")
        partition = query_filter[len(prefix) : -1]

        def matching() -> list[TableEntity]:
            keys = sorted(key for key in self.rows if key[0] == partition)
            return [self._get(*key) for key in keys]

        return self._call("query", matching, [])

    def submit_transaction(self, operations: list[tuple[Any, ...]], **_: object) -> list[Any]:
        keys = [self._key(operation[1]) for operation in operations]
        return self._call("transaction", lambda: self._transaction(operations), keys)

    # the service -----------------------------------------------------------------------------
    def _call(self, operation: str, work: Callable[[], Any], keys: list[tuple[str, str]]) -> Any:
        with self._lock:
            self.active += 1
        try:
            return self._answer(operation, work, keys)
        finally:
            with self._lock:
                self.active -= 1

    def _answer(self, operation: str, work: Callable[[], Any], keys: list[tuple[str, str]]) -> Any:
        decision = self.fault(operation, keys) if self.fault is not None else "ok"
        with self._lock:
            self.calls += 1
            if decision == "error":
                self.errors += 1
                raise _error(HttpResponseError, 503, "The server is busy")
            result = work()
            if decision == "lost":
                self.errors += 1
                raise _error(HttpResponseError, 500, "Operation could not be completed in time")
            return result

    def _written(self, key: tuple[str, str], values: dict[str, Any]) -> dict[str, Any]:
        etag = f'W/"{next(self._etags)}"'
        self.rows[key] = (dict(values), etag)
        return {"etag": etag, "date": datetime.now(UTC)}

    @staticmethod
    def _key(entity: dict[str, Any]) -> tuple[str, str]:
        return str(entity["PartitionKey"]), str(entity["RowKey"])

    def _create(self, entity: dict[str, Any]) -> dict[str, Any]:
        key = self._key(entity)
        if key in self.rows:
            raise _error(ResourceExistsError, 409, "The specified entity already exists.")
        return self._written(key, entity)

    def _get(self, partition_key: str, row_key: str) -> TableEntity:
        found = self.rows.get((partition_key, row_key))
        if found is None:
            raise _error(ResourceNotFoundError, 404, "The specified resource does not exist.")
        values, etag = found
        entity = TableEntity(values)
        entity._metadata = {"etag": etag, "timestamp": datetime.now(UTC)}
        return entity

    def _check(
        self, key: tuple[str, str], etag: str | None, condition: MatchConditions | None
    ) -> dict[str, Any]:
        found = self.rows.get(key)
        if found is None:
            raise _error(ResourceNotFoundError, 404, "The specified resource does not exist.")
        if condition == MatchConditions.IfNotModified and etag != found[1]:
            raise _error(ResourceModifiedError, 412, "The update condition was not satisfied.")
        return found[0]

    def _update(
        self,
        entity: dict[str, Any],
        mode: UpdateMode,
        etag: str | None,
        condition: MatchConditions | None,
    ) -> dict[str, Any]:
        key = self._key(entity)
        current = self._check(key, etag, condition)
        values = {**current, **entity} if mode == UpdateMode.MERGE else dict(entity)
        return self._written(key, values)

    def _upsert(self, entity: dict[str, Any], mode: UpdateMode) -> dict[str, Any]:
        key = self._key(entity)
        current = self.rows.get(key, ({}, ""))[0]
        values = {**current, **entity} if mode == UpdateMode.MERGE else dict(entity)
        return self._written(key, values)

    def _delete(
        self, partition_key: str, row_key: str, etag: str | None, condition: MatchConditions | None
    ) -> None:
        key = (partition_key, row_key)
        self._check(key, etag, condition)
        del self.rows[key]

    def _transaction(self, operations: list[tuple[Any, ...]]) -> list[Any]:
        """All or nothing: applied to a copy, kept only when every operation succeeded."""
        saved = dict(self.rows)
        results = []
        try:
            for operation in operations:
                kind, entity = str(getattr(operation[0], "value", operation[0])), operation[1]
                mode = operation[2] if len(operation) > 2 else UpdateMode.MERGE
                if kind == "upsert":
                    results.append(self._upsert(entity, mode))
                elif kind == "create":
                    results.append(self._create(entity))
                elif kind == "update":
                    results.append(self._update(entity, mode, None, None))
                elif kind == "delete":
                    self._delete(str(entity["PartitionKey"]), str(entity["RowKey"]), None, None)
                    results.append({})
                else:
                    raise ValueError(f"unknown transaction operation {kind!r}")
        except HttpResponseError as error:
            self.rows = saved
            raise TableTransactionError(message=str(error)) from error
        return results
