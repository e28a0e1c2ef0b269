"""The durable path's invariant (docs/durable-path.md, "Durable path"), checked on the end state of
a simulated run (`tests/durable_simulation.py`): every accepted Kognitiv delivery reaches MoEngage
exactly once per element when its identity is declared, at least once otherwise, or ends in a
dead letter with a reason and its body; per member, the last fact applied in MoEngage is the
newest one not in a letter (a newer fact that ended as a letter never takes older ones with it).

Extra deliveries are allowed only where the bridge cannot know (`Fact.allowance`, with the
reason in `Fact.notes`); an older attribute value left out once a newer one was sent (last
writer wins) is superseded, not lost."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

ORDER = "order: "  # the prefix of a problem with the order of one member's facts


@dataclass
class Fact:
    """One Kognitiv delivery the simulation made, and what became of it."""

    number: int
    member: str
    kind: str  # "reward" (identity declared), "reward_no_id", "profile"
    body: dict[str, Any]
    accepted: bool = False  # 202, or published straight to the queue
    value: int | None = None  # a profile fact's points balance: newer facts have larger values
    allowance: int = 0  # extra deliveries a lost answer or a cut may cause (see `notes`)
    message_id: str | None = None  # its queue message's id: its key in the delivered-keys record
    unordered: bool = False  # sent unordered after its member's row stayed unreadable too long
    notes: list[str] = field(default_factory=list)

    @property
    def event(self) -> str:
        return "member_updated" if self.kind == "profile" else "rewards_issued"


def invariant_problems(
    facts: Sequence[Fact],
    accepted: Iterable[dict[str, Any]],
    profiles: dict[str, dict[str, Any]],
    letters: Iterable[Any],
    parked: Iterable[dict[str, Any]],
) -> list[str]:
    """Every way the end state breaks the invariant. `accepted`: the elements MoEngage kept;
    `profiles`: its users' attributes; `letters`: stored dead letters (bridge's and native);
    `parked`: rows of the claim-check table."""
    letters = list(letters)
    deliveries: dict[str, int] = {}
    points: dict[tuple[str, int], int] = {}
    for element in accepted:
        member = str(element.get("customer_id"))
        if element.get("type") == "event":
            deliveries[member] = deliveries.get(member, 0) + 1
        elif element.get("type") == "customer":
            value = (element.get("attributes") or {}).get("points_balance")
            if isinstance(value, int | float):
                key = (member, int(value))
                points[key] = points.get(key, 0) + 1
    lettered = _lettered_bodies(letters, parked)
    problems = []
    for fact in facts:
        if fact.kind == "profile":
            count = points.get((fact.member, fact.value or 0), 0)
        else:
            count = deliveries.get(fact.member, 0)
        if count > 1 + fact.allowance:
            problems.append(
                f"{fact.kind} {fact.member}: delivered {count} times "
                f"(allowed {1 + fact.allowance}: {fact.notes})"
            )
        superseded = fact.kind == "profile" and any(
            newer.member == fact.member
            and newer.number > fact.number
            and points.get((newer.member, newer.value or 0), 0) > 0
            for newer in facts
        )  # an older value left out once a newer one was sent (last writer wins)
        letter = json.dumps(fact.body) in lettered
        if fact.accepted and count == 0 and not letter and not superseded:
            problems.append(
                f"{fact.kind} {fact.member}: accepted but never delivered nor dead-lettered "
                f"({fact.notes})"
            )
    problems.extend(_letter_problems(letters))
    problems.extend(_order_problems(facts, profiles, points, lettered))
    return problems


def _lettered_bodies(letters: list[Any], parked: Iterable[dict[str, Any]]) -> set[str]:
    """Bodies of every letter: in the dead-letter queues, or parked as a claim check."""
    bodies = set()
    for stored in letters:
        with contextlib.suppress(ValueError):
            bodies.add(json.dumps(json.loads(stored.body)))
    for values in parked:
        chunks = b"".join(bytes(values[f"Data{i:02d}"]) for i in range(int(values["Chunks"])))
        with contextlib.suppress(ValueError):
            body = base64.b64decode(json.loads(chunks)["body"])
            bodies.add(json.dumps(json.loads(body)))
    return bodies


def _letter_problems(letters: list[Any]) -> list[str]:
    problems = []
    for stored in letters:
        reason = stored.application_properties.get("dead_letter_reason") or (
            stored.dead_letter_reason
        )
        if not reason:
            problems.append(f"letter {stored.message_id}: no reason")
        if not stored.body:
            problems.append(f"letter {stored.message_id}: no body")
    return problems


def _order_problems(
    facts: Sequence[Fact],
    profiles: dict[str, dict[str, Any]],
    points: dict[tuple[str, int], int],
    lettered: set[str],
) -> list[str]:
    """Per member, MoEngage keeps the newest fact that reached the queue (an accepted one, or
    one answered 503 whose enqueue had in fact succeeded: it was delivered) and is not in a
    letter: a newer one that ended as a letter never takes the older ones with it. MoEngage
    may instead keep a lettered fact newer than that one which it did accept once (its answer
    was lost, and its retry was refused): the bridge cannot know it landed."""
    problems = []
    for member in sorted({f.member for f in facts if f.kind == "profile"}):
        queued = [
            f
            for f in facts
            if f.member == member and (f.accepted or points.get((member, f.value or 0), 0) > 0)
        ]
        if any(f.unordered for f in facts if f.member == member):
            continue  # the documented price of a member-row outage past its bound
        standing = [f for f in queued if json.dumps(f.body) not in lettered]
        if not standing:
            continue
        newest = standing[-1]
        landed_later = [
            f.value
            for f in queued[queued.index(newest) + 1 :]
            if points.get((member, f.value or 0), 0) > 0
        ]
        applied = (profiles.get(member) or {}).get("points_balance")
        if applied != newest.value and applied not in landed_later:
            order = [f.value for f in queued]
            gone = [f.value for f in queued if f not in standing]
            problems.append(
                f"{ORDER}profile {member}: MoEngage keeps points {applied}, the newest fact "
                f"not in a letter says {newest.value} (facts in order: {order}; in letters: "
                f"{gone})"
            )
    return problems
