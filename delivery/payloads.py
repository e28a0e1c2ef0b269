"""Turn MoEngage elements into request bodies: one element goes to its own track API (exact
error answers), several go as `/v1/transition` bulk requests kept at or under 100 KB."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

MAX_BULK_BYTES = 100_000  # MoEngage documents 100 KB for bulk; stay under it in either reading
MAX_SINGLE_BYTES = 128_000  # track event / track user accept 128 KB
_TRANSITION_HEAD = b'{"type":"transition","elements":['
_TRANSITION_TAIL = b"]}"
_OVERHEAD = len(_TRANSITION_HEAD) + len(_TRANSITION_TAIL)


def encode_element(element: dict) -> bytes:
    """Compact UTF-8 JSON; text that is not encodable (a lone surrogate) is sent escaped."""
    text = json.dumps(element, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(element, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One HTTP request to MoEngage and the positions of the elements it carries."""

    kind: str
    body: bytes
    indexes: tuple[int, ...]

    def describe(self, path: str) -> dict[str, object]:
        """The request as shown by dry runs and previews."""
        return {"method": "POST", "path": path, "body": json.loads(self.body)}


def request_for(
    encoded: Sequence[bytes], kinds: Sequence[str], indexes: Sequence[int]
) -> PlannedRequest:
    """One element -> its own endpoint; several -> a transition body."""
    if len(indexes) == 1:
        index = indexes[0]
        return PlannedRequest(kinds[index], encoded[index], (index,))
    body = _TRANSITION_HEAD + b",".join(encoded[i] for i in indexes) + _TRANSITION_TAIL
    return PlannedRequest("transition", body, tuple(indexes))


def chunk_indexes(encoded: Sequence[bytes], max_bytes: int = MAX_BULK_BYTES) -> list[list[int]]:
    """Greedy packing in order; an element too big for a bulk request travels alone."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = _OVERHEAD
    for index, part in enumerate(encoded):
        extra = len(part) + (1 if current else 0)
        if current and size + extra > max_bytes:
            chunks.append(current)
            current, size, extra = [], _OVERHEAD, len(part)
        current.append(index)
        size += extra
    if current:
        chunks.append(current)
    return chunks


def plan_requests(
    elements: Sequence[dict], max_bytes: int = MAX_BULK_BYTES
) -> list[PlannedRequest]:
    encoded = [encode_element(element) for element in elements]
    kinds = [str(element.get("type")) for element in elements]
    return [request_for(encoded, kinds, chunk) for chunk in chunk_indexes(encoded, max_bytes)]
