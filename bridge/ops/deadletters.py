"""`deadletters list|replay`: see why messages were dead-lettered and send chosen ones back to
the main queue once the cause is fixed. Works through the same QueueGateway as the function."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.common.telemetry import mask_pii
from bridge.durable.gateway import QueueGateway
from bridge.durable.messages import (
    DEAD_LETTER_DESCRIPTION,
    DEAD_LETTER_REASON,
    IncomingMessage,
    parse_utc,
    replay_copy,
)

MAX_SCAN = 5000


@dataclass(frozen=True)
class LetterView:
    """What an operator sees of a dead letter: never the body (member data). `source` is the
    place it sits in and `sequence` its number there (what a replay receives it by)."""

    id: str
    reason: str
    event: str
    age: str
    attempt: int
    description: str
    source: str = ""
    sequence: int | None = None
    workspace: str = "default"

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _event_of(letter: IncomingMessage) -> str:
    if letter.event:
        return letter.event
    try:
        body = json.loads(letter.body)
    except ValueError:
        return "?"
    if isinstance(body, dict):
        for key in ("event", "type"):
            if isinstance(body.get(key), str):
                return body[key]
    return "?"


def _age(since: datetime | None, now: datetime) -> str:
    if since is None:
        return "?"
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def view(letter: IncomingMessage, now: datetime) -> LetterView:
    properties = letter.properties
    since = parse_utc(properties.get("first_received_utc")) or letter.enqueued_time
    return LetterView(
        id=letter.message_id,
        reason=str(properties.get(DEAD_LETTER_REASON) or "unknown"),
        event=mask_pii(_event_of(letter))[:80],
        age=_age(since, now),
        attempt=letter.attempt,
        description=mask_pii(str(properties.get(DEAD_LETTER_DESCRIPTION) or ""))[:300],
        source=letter.source,
        sequence=letter.sequence_number,
        workspace=letter.workspace,
    )


def matches(
    item: LetterView,
    reasons: Sequence[str],
    events: Sequence[str],
    workspaces: Sequence[str] = (),
) -> bool:
    return (
        (not reasons or item.reason in reasons)
        and (not events or item.event in events)
        and (not workspaces or item.workspace in workspaces)
    )


async def list_letters(
    gateway: QueueGateway,
    reasons: Sequence[str] = (),
    events: Sequence[str] = (),
    limit: int = 100,
    workspaces: Sequence[str] = (),
) -> list[LetterView]:
    now = datetime.now(UTC)
    letters = await gateway.peek_dead_letters(MAX_SCAN)
    chosen = [view(letter, now) for letter in letters]
    return [item for item in chosen if matches(item, reasons, events, workspaces)][:limit]


async def replay_letters(
    gateway: QueueGateway,
    ids: Sequence[str] = (),
    reasons: Sequence[str] = (),
    events: Sequence[str] = (),
    dry_run: bool = False,
    workspaces: Sequence[str] = (),
) -> list[LetterView]:
    """Send the chosen dead letters back to the main queue (attempts and horizon reset).
    Letters are chosen by peeking; only the chosen ones are then received, by sequence
    number."""
    candidates = await list_letters(gateway, reasons, events, MAX_SCAN, workspaces)
    chosen = [item for item in candidates if not ids or item.id in ids]
    if dry_run or not chosen:
        return chosen
    now = datetime.now(UTC)
    places = {(item.source, item.sequence) for item in chosen if item.sequence is not None}
    replayed = await gateway.replay_dead_letters(places, lambda letter: replay_copy(letter, now))
    done = {(letter.source, letter.sequence_number) for letter in replayed}
    return [item for item in chosen if (item.source, item.sequence) in done]
