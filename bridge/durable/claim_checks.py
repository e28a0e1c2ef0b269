"""Letters Service Bus cannot take, kept in the function app's own storage account: a letter
too large for the dead-letter queue (a message near 256 KB plus its reason), or any letter while
the dead-letter queue is missing, full or refuses us. The whole message (properties and body) is
a row of the table `kognitivletters`; when the dead-letter queue works, a small letter pointing
at the row (`claim_check` property: `<table>/<partition>/<row>`) is written there too, so
`deadletters list` shows it. One lasting failure then touches that message alone: the rest of
the batch settles normally.

Rows hold member data (the message body): the table lives in the same account as the app's
other state, readable by the app's identity only. `azure-data-tables` is imported lazily."""

from __future__ import annotations

import base64
import hashlib
import json

from bridge.durable.messages import OutgoingMessage
from bridge.durable.tables import StorageConfig, TableAccess

TABLE_NAME = "kognitivletters"
PARTITION = "letter"
CHUNK_BYTES = 60_000  # an Edm.Binary property holds at most 64 KiB
MAX_CHUNKS = 15  # a row holds at most 1 MiB


class ClaimChecks(TableAccess):
    """Parks letters as rows; `read` gives a parked letter back (replay)."""

    TABLE = TABLE_NAME
    WORKERS = 2

    async def park(self, letter: OutgoingMessage, problem: str) -> str:
        """Store the whole letter; the reference a pointer letter carries. The row key is a
        hash of the letter's MessageId: a letter parked twice (a redelivered batch) is one row."""
        row = hashlib.sha256(letter.message_id.encode()).hexdigest()
        payload = json.dumps(
            {
                "message_id": letter.message_id,
                "properties": letter.properties,
                "body": base64.b64encode(letter.body).decode(),
            }
        ).encode()
        chunks = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)]
        if len(chunks) > MAX_CHUNKS:
            raise ValueError("the letter is larger than a table row")
        entity: dict[str, object] = {
            "PartitionKey": PARTITION,
            "RowKey": row,
            "ParkedUtc": self._clock(),
            "Reason": str(letter.properties.get("dead_letter_reason", "")),
            "Problem": problem[:200],
            "Chunks": len(chunks),
        }
        entity.update({f"Data{index:02d}": chunk for index, chunk in enumerate(chunks)})
        await self._one(lambda: self._table().upsert_entity(entity))
        return f"{self._table_name}/{PARTITION}/{row}"

    async def read(self, reference: str) -> OutgoingMessage:
        """The parked letter a reference names (what `park` stored)."""
        _, partition, row = reference.split("/", 2)
        entity = await self._one(lambda: self._table().get_entity(partition, row))
        payload = b"".join(bytes(entity[f"Data{i:02d}"]) for i in range(int(entity["Chunks"])))
        data = json.loads(payload)
        return OutgoingMessage(
            base64.b64decode(data["body"]), data["message_id"], dict(data["properties"])
        )

    async def list(self, limit: int = 1000) -> list[dict[str, object]]:
        """Parked letters' summaries (no body): reference, reason, problem, time."""

        def query() -> list[dict[str, object]]:
            rows = self._table().query_entities(
                f"PartitionKey eq '{PARTITION}'",
                select=["RowKey", "Reason", "Problem", "ParkedUtc"],
            )
            found = []
            for entity in rows:
                found.append(
                    {
                        "claim_check": f"{self._table_name}/{PARTITION}/{entity['RowKey']}",
                        "reason": entity.get("Reason"),
                        "problem": entity.get("Problem"),
                        "parked_utc": entity.get("ParkedUtc"),
                    }
                )
                if len(found) >= limit:
                    break
            return found

        return await self._one(query)

    async def remove(self, reference: str) -> None:
        """Delete a parked letter (after it was replayed)."""
        _, partition, row = reference.split("/", 2)
        await self._one(lambda: self._table().delete_entity(partition, row))


_built: tuple[StorageConfig, ClaimChecks] | None = None


def claim_checks() -> ClaimChecks | None:
    """The process's claim-check store for the storage settings in force; None without one."""
    global _built
    config = StorageConfig.from_environment()
    if config is None:
        return None
    if _built is None or _built[0] != config:
        _built = (config, ClaimChecks(config))
    return _built[1]
