"""Turn MoEngage elements into request bodies: one element goes to its own track API (exact
error answers), several go as `/v1/transition` bulk requests kept at or under 100 KB."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

MAX_BULK_BYTES = 100_000  # MoEngage documents 100 KB for bulk; stay under it in either reading
_TRANSITION_HEAD = b'{"type":"transition","elements":['
_TRANSITION_TAIL = b"]}"
_OVERHEAD = len(_TRANSITION_HEAD) + len(_TRANSITION_TAIL)
# The encoders json.dumps(separators=...) would build on every call, built once.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_COMPACT_ASCII = json.JSONEncoder(separators=(",", ":")).encode


def encode_element(element: dict) -> bytes:
    """Compact UTF-8 JSON; text that is not encodable (a lone surrogate) is sent escaped."""
    text = _COMPACT(element)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _COMPACT_ASCII(element).encode("ascii")


Slot = tuple[int, int]  # (unit, element): a unit is the elements of one webhook or message


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    """One HTTP request to MoEngage and the (unit, element) slots it carries."""

    kind: str
    body: bytes
    slots: tuple[Slot, ...]

    @property
    def units(self) -> list[int]:
        return sorted({unit for unit, _ in self.slots})

    def describe(self, path: str) -> dict[str, object]:
        """The request as shown by dry runs and previews."""
        return {"method": "POST", "path": path, "body": json.loads(self.body)}


class EncodedUnits:
    """Elements encoded once, addressed by slot."""

    def __init__(self, units: Sequence[Sequence[dict]]) -> None:
        self.parts = [[encode_element(element) for element in unit] for unit in units]
        self.kinds = [[str(element.get("type")) for element in unit] for unit in units]

    def request(self, slots: Sequence[Slot]) -> PlannedRequest:
        """One element -> its own endpoint (precise errors); several -> a transition body."""
        if len(slots) == 1:
            unit, index = slots[0]
            return PlannedRequest(self.kinds[unit][index], self.parts[unit][index], tuple(slots))
        joined = b",".join(self.parts[unit][index] for unit, index in slots)
        return PlannedRequest(
            "transition", _TRANSITION_HEAD + joined + _TRANSITION_TAIL, tuple(slots)
        )

    def chunks(self, max_bytes: int = MAX_BULK_BYTES) -> list[list[Slot]]:
        """Pack whole units in order, so a unit's elements share one request and a unit is
        delivered or not as a whole; a unit too big for one request is spread over several."""
        chunks: list[list[Slot]] = []
        current: list[Slot] = []
        size = _OVERHEAD
        for unit, parts in enumerate(self.parts):
            unit_size = sum(map(len, parts)) + len(parts)  # each part plus its comma
            if current and size + unit_size > max_bytes:
                chunks.append(current)
                current, size = [], _OVERHEAD
            if _OVERHEAD + unit_size <= max_bytes:
                current.extend([(unit, index) for index in range(len(parts))])
                size += unit_size
                continue
            for index, part in enumerate(parts):
                if current and size + len(part) + 1 > max_bytes:
                    chunks.append(current)
                    current, size = [], _OVERHEAD
                current.append((unit, index))
                size += len(part) + 1
        if current:
            chunks.append(current)
        return chunks


def plan_requests(
    units: Sequence[Sequence[dict]], max_bytes: int = MAX_BULK_BYTES
) -> list[PlannedRequest]:
    """The requests that would carry these units, in order."""
    encoded = EncodedUnits(units)
    return [encoded.request(chunk) for chunk in encoded.chunks(max_bytes)]
