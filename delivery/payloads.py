"""Turn MoEngage elements into request bodies: one element goes to its own track API (exact
error answers), several go as `/v1/transition` bulk requests kept at or under 100 KB; a delete is
one Delete User call, an erasure (`erase --gdpr`) one GDPR erasure call, merges go as Merge User
calls of at most 25 pairs.

Requests are planned in phases that are sent one after the other. A delete or a merge is a
barrier: everything before it (in unit order, then element order) is in earlier phases, and
everything after it in later ones, so an update can never overtake the erasure of its member
(MoEngage creates a new profile for an update that reaches it after the delete) and a merge
moves what was sent before it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

import msgspec

MAX_BULK_BYTES = 100_000  # MoEngage documents 100 KB for bulk; stay under it in either reading
_TRANSITION_HEAD = b'{"type":"transition","elements":['
_TRANSITION_TAIL = b"]}"
_OVERHEAD = len(_TRANSITION_HEAD) + len(_TRANSITION_TAIL)
# The encoders json.dumps(separators=...) would build on every call, built once.
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_COMPACT_ASCII = json.JSONEncoder(separators=(",", ":")).encode
# Element types that are barriers, with their own APIs; "erasure" is MoEngage's GDPR erasure
# request, sent by `erase --gdpr` only (no mapping rule writes it).
USER_OPERATIONS = ("delete", "merge", "erasure")
SINGLE_CALLS = ("delete", "erasure")  # one user a call
# Merge User: "A maximum of 50 users can be merged in a single call" (data.yaml). A pair names
# two users, so 25 pairs: the reading that holds whether the limit counts pairs or users.
MAX_MERGE_PAIRS = 25
_MERGE_HEAD = b'{"merge_data":['
_MERGE_TAIL = b"]}"


# msgspec writes the same compact UTF-8 bytes as _COMPACT several times faster (floats are
# written in their shortest form, `1e16` where Python writes `1e+16`: the same JSON number).
_FAST_ENCODE = msgspec.json.Encoder().encode
_FAST_DECODE = msgspec.json.Decoder().decode


def encode_element(element: dict) -> bytes:
    """Compact UTF-8 JSON; text that is not encodable (a lone surrogate) is sent escaped."""
    try:
        return _FAST_ENCODE(element)
    except (TypeError, ValueError, OverflowError):  # a lone surrogate, an integer beyond 64 bits
        pass
    text = _COMPACT(element)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _COMPACT_ASCII(element).encode("ascii")


Slot = tuple[int, int]  # (unit, element): a unit is the elements of one webhook or message
_ONE = (0,)  # the element indices of a unit of one element
Phase = list[list[Slot]]  # requests that may be in flight together


def encode_request_part(element: dict) -> bytes:
    """What an element contributes to its request: the element itself for the track APIs; for
    Delete User the whole body, for Merge User one pair of `merge_data`."""
    kind = element.get("type")
    if kind == "delete":
        body = {"identity_type": "customer_id", "identity_value": element["customer_id"]}
        return encode_element(body)
    if kind == "erasure":
        body = {
            "request_type": "erasure",
            "submitted_time": element["submitted_time"],
            "identities": [{"identity_type": "ID", "identity_value": element["customer_id"]}],
            "api_version": "1.0",
        }
        return encode_element(body)
    if kind == "merge":
        pair = {
            "merged_user": element["merged_customer_id"],
            "retained_user": element["retained_customer_id"],
        }
        return encode_element(pair)
    return encode_element(element)


class PlannedRequest(NamedTuple):
    """One HTTP request to MoEngage and the (unit, element) slots it carries. A named tuple:
    immutable, and made at half a frozen dataclass's cost (one per dry-run webhook)."""

    kind: str
    body: bytes
    slots: tuple[Slot, ...]

    @property
    def units(self) -> list[int]:
        return sorted({unit for unit, _ in self.slots})

    def describe(self, path: str, *, raw: bool = False) -> dict[str, object]:
        """The request as shown by dry runs and previews. `raw`: the body is the request's own
        bytes (`msgspec.Raw`), for an answer encoded next, rather than read back into objects
        only to be written again."""
        if raw:
            return {"method": "POST", "path": path, "body": msgspec.Raw(self.body)}
        try:
            body = _FAST_DECODE(self.body)
        except (msgspec.DecodeError, msgspec.ValidationError):  # an escaped lone surrogate
            body = json.loads(self.body)
        return {"method": "POST", "path": path, "body": body}


class EncodedUnits:
    """Elements encoded once, addressed by slot."""

    def __init__(self, units: Sequence[Sequence[dict]]) -> None:
        self.parts: list[list[bytes]] = []
        self.kinds: list[list[str]] = []
        self.track_only = True  # no delete, merge or erasure: one phase (see `phases`)
        for unit in units:  # a queue batch has a unit per message: no comprehensions per unit
            if len(unit) == 1 and unit[0].get("type") not in USER_OPERATIONS:
                element = unit[0]  # one track element (most units): the element itself
                try:
                    part = _FAST_ENCODE(element)  # what encode_element tries first
                except (TypeError, ValueError, OverflowError):
                    part = encode_element(element)
                self.parts.append([part])
                self.kinds.append([str(element.get("type"))])
                continue
            kinds = [str(element.get("type")) for element in unit]
            self.parts.append([encode_request_part(element) for element in unit])
            self.kinds.append(kinds)
            if self.track_only and any(kind in USER_OPERATIONS for kind in kinds):
                self.track_only = False

    def request(self, slots: Sequence[Slot]) -> PlannedRequest:
        """One element -> its own endpoint (precise errors); several -> a transition body;
        merges -> one Merge User body (slots of one phase never mix kinds)."""
        unit, index = slots[0]
        kind = self.kinds[unit][index]
        parts = self.parts
        if kind == "merge":
            joined = b",".join([parts[unit][index] for unit, index in slots])
            return PlannedRequest("merge", _MERGE_HEAD + joined + _MERGE_TAIL, tuple(slots))
        if len(slots) == 1:
            return PlannedRequest(kind, parts[unit][index], tuple(slots))
        joined = b",".join([parts[unit][index] for unit, index in slots])
        return PlannedRequest(
            "transition", _TRANSITION_HEAD + joined + _TRANSITION_TAIL, tuple(slots)
        )

    def phases(self, max_bytes: int = MAX_BULK_BYTES) -> list[Phase]:
        """The requests in the order they must settle: a run of track elements is one phase
        (packed by `chunks`), a run of deletes (or erasures) one phase of single calls, a run of
        merges one phase of calls of at most MAX_MERGE_PAIRS pairs."""
        if self.track_only:  # most waves: one run of track elements, packed unit by unit
            units = [(unit, _ONE if len(kinds) == 1 else range(len(kinds)))
                     for unit, kinds in enumerate(self.kinds) if kinds]  # fmt: skip
            return [self._pack(units, max_bytes)] if units else []
        runs: list[tuple[str, list[Slot]]] = []
        for unit, kinds in enumerate(self.kinds):
            for index, kind in enumerate(kinds):
                group = kind if kind in USER_OPERATIONS else "track"
                if not runs or runs[-1][0] != group:
                    runs.append((group, []))
                runs[-1][1].append((unit, index))
        phases: list[Phase] = []
        for group, slots in runs:
            if group == "track":
                phases.append(self.chunks(slots, max_bytes))
            elif group in SINGLE_CALLS:
                phases.append([[slot] for slot in slots])
            else:
                step = MAX_MERGE_PAIRS
                phases.append([slots[i : i + step] for i in range(0, len(slots), step)])
        return phases

    def chunks(self, slots: Sequence[Slot], max_bytes: int = MAX_BULK_BYTES) -> list[list[Slot]]:
        """Pack these track elements' units in order, so a unit's elements share one request
        and a unit is delivered or not as a whole; a unit too big for one request is spread
        over several."""
        return self._pack(_by_unit(slots), max_bytes)

    def _pack(self, units: Sequence[tuple[int, Sequence[int]]], max_bytes: int) -> list[list[Slot]]:
        """`chunks` of the slots grouped by unit: (unit, its element indices) in order."""
        chunks: list[list[Slot]] = []
        current: list[Slot] = []
        size = _OVERHEAD
        for unit, indices in units:
            unit_parts = self.parts[unit]
            if len(indices) == 1:  # one element (most units): no lists built for it
                parts = [unit_parts[indices[0]]]
                unit_size = len(parts[0]) + 1
            else:
                parts = [unit_parts[index] for index in indices]
                unit_size = sum(map(len, parts)) + len(parts)  # each part plus its comma
            if current and size + unit_size > max_bytes:
                chunks.append(current)
                current, size = [], _OVERHEAD
            if _OVERHEAD + unit_size <= max_bytes:
                if len(indices) == 1:
                    current.append((unit, indices[0]))
                else:
                    current.extend([(unit, index) for index in indices])
                size += unit_size
                continue
            for index, part in zip(indices, parts, strict=True):
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
    if len(units) == 1 and units[0]:  # one webhook's elements: most often one request
        single = _single_request(units[0], max_bytes)
        if single is not None:
            return [single]
    encoded = EncodedUnits(units)
    return [encoded.request(chunk) for phase in encoded.phases(max_bytes) for chunk in phase]


_FIRST_SLOT = ((0, 0),)


def _single_request(unit: Sequence[dict], max_bytes: int) -> PlannedRequest | None:
    """The one request that carries a unit of track elements that fits it (what `phases` and
    `request` would plan); None for anything else."""
    if len(unit) == 1:  # most webhooks: one element, to its own track API
        element = unit[0]
        kind = str(element.get("type"))
        if kind in USER_OPERATIONS:
            return None
        try:
            part = _FAST_ENCODE(element)
        except (TypeError, ValueError, OverflowError):
            part = encode_element(element)
        if _OVERHEAD + len(part) + 1 > max_bytes:
            return None
        return PlannedRequest(kind, part, _FIRST_SLOT)
    kinds = [str(element.get("type")) for element in unit]
    if any(kind in USER_OPERATIONS for kind in kinds):
        return None
    parts = [encode_element(element) for element in unit]
    if _OVERHEAD + sum(map(len, parts)) + len(parts) > max_bytes:
        return None
    if len(parts) == 1:
        return PlannedRequest(kinds[0], parts[0], ((0, 0),))
    slots = tuple((0, index) for index in range(len(parts)))
    return PlannedRequest(
        "transition", _TRANSITION_HEAD + b",".join(parts) + _TRANSITION_TAIL, slots
    )


def _by_unit(slots: Sequence[Slot]) -> list[tuple[int, list[int]]]:
    """(unit, element indices) in order."""
    grouped: list[tuple[int, list[int]]] = []
    for unit, index in slots:
        if not grouped or grouped[-1][0] != unit:
            grouped.append((unit, []))
        grouped[-1][1].append(index)
    return grouped
