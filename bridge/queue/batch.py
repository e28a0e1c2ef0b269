"""One batch's state while it is processed: the messages still to deliver, the outcomes so far,
the writes to settle, and the small rules for choosing among copies of one event."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bridge.durable.messages import IncomingMessage, OutgoingMessage
from bridge.queue.outcomes import MessageOutcome
from delivery import DeliveryError
from delivery.payloads import USER_OPERATIONS
from delivery.sender import DeliveryReport
from mapping import MappingResult


@dataclass(slots=True)  # one per message of a wave: slots make it cheaper to build and read
class Pending:
    """A mapped message and the indices (in its full element list) still to deliver."""

    message: IncomingMessage
    result: MappingResult
    indices: list[int] = field(default_factory=list)
    superseded: set[int] = field(default_factory=set)  # newer facts won: never sent, done
    dropped: dict[int, set[str]] = field(default_factory=dict)  # older attributes left out

    @property
    def elements(self) -> list[dict]:
        if not self.dropped:  # no attribute left out (most messages): the elements as mapped
            elements = self.result.elements
            return [elements[i] for i in self.indices]
        return [self._element(i) for i in self.indices]

    def _element(self, index: int) -> dict:
        element = self.result.elements[index]
        names = self.dropped.get(index)
        if not names:
            return element
        attributes = {k: v for k, v in element["attributes"].items() if k not in names}
        return {**element, "attributes": attributes}


@dataclass
class Batch:
    """What one execution accumulates: outcomes by position and the writes to settle."""

    outcomes: dict[int, MessageOutcome] = field(default_factory=dict)
    retries: list[OutgoingMessage] = field(default_factory=list)
    letters: list[OutgoingMessage] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)  # keys settled outside the waves
    released: list[str] = field(default_factory=list)
    owned: set[str] = field(default_factory=set)  # keys this batch claimed
    ordered: bool = False  # a wave erased or merged members: later waves wait for earlier ones
    hold: DeliveryError | None = None  # a wave's failure that will be retried


def representatives(messages: Sequence[IncomingMessage]) -> dict[str, int]:
    """Per delivery key: the position of the copy that carries the event in this batch, the one
    furthest along its lineage (highest attempt; the first of equals). Its retry id is then
    new, never the id of another copy already written, which duplicate detection would drop."""
    chosen: dict[str, int] = {}
    for position, message in enumerate(messages):
        key = message.delivery_key
        if not key:
            continue
        if key not in chosen or message.attempt > messages[chosen[key]].attempt:
            chosen[key] = position
    return chosen


def owned_keys(keys: Sequence[str], owned: set[str]) -> list[str]:
    """The keys whose claim this batch holds (only those are released)."""
    return [key for key in keys if key in owned]


def erases(item: Pending) -> bool:
    """Whether a message still has a delete or a merge to deliver."""
    elements = item.result.elements  # left-out attributes never change an element's type
    for index in item.indices:  # noqa: SIM110 - a loop, not any(): once per message of a wave
        if elements[index].get("type") in USER_OPERATIONS:
            return True
    return False


def accepted_elements(report: DeliveryReport, units: int) -> list[set[int]]:
    """Per unit: the positions of its elements that MoEngage accepted (a unit split by a 413
    can be partly delivered)."""
    accepted: list[set[int]] = [set() for _ in range(units)]
    for result in report.results:
        if result.error is None:
            for unit, element in result.slots:
                accepted[unit].add(element)
    return accepted
