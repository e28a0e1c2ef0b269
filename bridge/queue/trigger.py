"""Glue for the Service Bus trigger: split the batch by workspace and process the groups
concurrently, each with its own runtime, sender and rate-limit gate (one workspace's 429s,
outage, wrong key or broken settings never hold back another's deliveries); hold messages while
their workspace's settings cannot work, and those naming no such workspace until the retry
horizon, then dead-letter them (`unknown_workspace`)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.common.observations import HEALTH
from bridge.config.settings import ConfigurationError
from bridge.config.workspaces import NAME
from bridge.deployment.runtime import CLIENTS, Deployment, Runtime, current_deployment
from bridge.durable.gateway import GATEWAYS
from bridge.durable.messages import (
    UNKNOWN_WORKSPACE_SINCE_UTC,
    IncomingMessage,
    OutgoingMessage,
    dead_letter_copy,
    jitter_factor,
    parse_utc,
    retry_copy,
    retry_delay,
    utc_text,
)
from bridge.queue.outcomes import MessageOutcome, Outcome, record_outcome
from bridge.queue.processor import BatchProcessor
from bridge.queue.settlement import settle_writes

log = logging.getLogger("kognitiv_bridge")
UNKNOWN_WORKSPACE = "unknown_workspace"  # an outcome's reason, and a dead letter's


@dataclass
class TriggerClock:
    """Wall time and waits of the queue trigger (a virtual clock in tests)."""

    wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep


CLOCK = TriggerClock()
_long_lived_frozen = False


def _freeze_long_lived() -> None:
    """Once per process, after its first batch: what lives as long as the process (modules,
    settings, compiled rules, HTTP clients) leaves the garbage collector's sight (`gc.freeze`),
    so the full collections a batch's mapped results trigger walk only younger objects. A
    collection first, so no garbage is kept for good; frozen objects are still freed when
    nothing refers to them."""
    global _long_lived_frozen
    if not _long_lived_frozen:
        _long_lived_frozen = True
        gc.collect()
        gc.freeze()


async def process_queue_batch(messages: Sequence[IncomingMessage]) -> list[MessageOutcome]:
    """Process one batch; raises (so the host redelivers it) only when outcomes could not be
    recorded in Service Bus (after every workspace's group has finished)."""
    try:
        deployment = current_deployment()
    except ConfigurationError as error:
        return await hold_batch(messages, error)
    groups: dict[str, list[int]] = {}
    for position, message in enumerate(messages):
        groups.setdefault(message.workspace, []).append(position)
    work = [
        _process_group(deployment, name, [messages[p] for p in positions])
        for name, positions in groups.items()
    ]
    results = await asyncio.gather(*work, return_exceptions=True)
    outcomes: dict[int, MessageOutcome] = {}
    for positions, result in zip(groups.values(), results, strict=True):
        if isinstance(result, BaseException):
            raise result
        outcomes.update(zip(positions, result, strict=True))
    _freeze_long_lived()
    return [outcomes[position] for position in range(len(messages))]


async def _process_group(
    deployment: Deployment, name: str, messages: list[IncomingMessage]
) -> list[MessageOutcome]:
    runtime = deployment.workspaces.get(name)
    if runtime is not None:
        return await _processor(runtime).process(messages)
    if name in deployment.broken:  # its settings cannot work: held (no horizon) until fixed
        return await hold_batch(messages, ConfigurationError(deployment.broken[name]))
    return await hold_unknown(deployment, name, messages)


async def hold_unknown(
    deployment: Deployment, name: str, messages: Sequence[IncomingMessage]
) -> list[MessageOutcome]:
    """Messages naming a workspace the settings do not define (removed, or a producer's typo):
    held with backoff while it may come back, dead-lettered (`unknown_workspace`) once they have
    been held for the retry horizon; `/api/health` counts both."""
    now = CLOCK.wall()
    horizon = timedelta(hours=deployment.horizon_hours)
    shown = name if NAME.fullmatch(name) else "(not a workspace name)"
    problem = (
        f"the queue message names the workspace {shown!r}, which MOENGAGE_WORKSPACES does not "
        f"define (known: {', '.join(deployment.names)})"
    )
    log.error("%d queue messages: %s", len(messages), problem)
    jitter = jitter_factor()
    copies: list[OutgoingMessage] = []
    letters: list[OutgoingMessage] = []
    outcomes: list[MessageOutcome] = []
    for message in messages:
        since = parse_utc(message.properties.get(UNKNOWN_WORKSPACE_SINCE_UTC)) or now
        if now - since >= horizon:
            description = f"{problem}, for {horizon.total_seconds() / 3600:g} h"
            letters.append(dead_letter_copy(message, UNKNOWN_WORKSPACE, description, now))
            outcomes.append(
                MessageOutcome(
                    message.message_id,
                    Outcome.DEAD_LETTERED,
                    message.event,
                    UNKNOWN_WORKSPACE,
                    description,
                    message.attempt,
                )
            )
            continue
        at = now + timedelta(seconds=retry_delay(message.attempt, None, jitter))
        copy = retry_copy(message, at, now, delivered_elements=message.delivered_elements)
        copy.properties[UNKNOWN_WORKSPACE_SINCE_UTC] = utc_text(since)
        copies.append(copy)
        outcomes.append(
            MessageOutcome(
                message.message_id,
                Outcome.RETRY_LATER,
                message.event,
                reason=UNKNOWN_WORKSPACE,
                attempt=message.attempt + 1,
                retry_at=at,
            )
        )
    await settle_writes(GATEWAYS.get(), copies, letters, CLOCK.sleep)
    HEALTH.saw_unknown_workspace(shown, held=len(copies), dead_lettered=len(letters))
    return outcomes


def _processor(runtime: Runtime) -> BatchProcessor:
    return BatchProcessor(
        runtime,
        runtime.gateway,
        runtime.sender(CLIENTS, queue=True, sleep=CLOCK.sleep),
        runtime.delivered_keys,
        CLOCK.wall,
        CLOCK.sleep,
        ledger=runtime.member_ledger,
    )


async def hold_batch(
    messages: Sequence[IncomingMessage],
    error: ConfigurationError,
    reason: str = "configuration_error",
) -> list[MessageOutcome]:
    """The settings cannot work (a bad data center, a missing key): keep every message as a
    scheduled copy with backoff, without a horizon, instead of raising (which would burn the
    delivery count in seconds and empty the queue into the dead letters). `/api/health` says
    what to fix."""
    now = CLOCK.wall()
    jitter = jitter_factor()
    log.error(
        "Configuration error, %d queue messages held until it is fixed: %s",
        len(messages),
        "; ".join(error.problems),
    )
    copies = []
    outcomes = []
    for message in messages:
        at = now + timedelta(seconds=retry_delay(message.attempt, None, jitter))
        copies.append(retry_copy(message, at, now, delivered_elements=message.delivered_elements))
        outcomes.append(
            MessageOutcome(
                message.message_id,
                Outcome.RETRY_LATER,
                message.event,
                reason=reason,
                attempt=message.attempt + 1,
                retry_at=at,
            )
        )
    await settle_writes(GATEWAYS.get(), copies, [], CLOCK.sleep)
    for message, outcome in zip(messages, outcomes, strict=True):
        record_outcome(message.workspace[:40], message, outcome, logging.WARNING, len(messages))
    return outcomes
