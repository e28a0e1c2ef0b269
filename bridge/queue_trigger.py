"""Glue for the Service Bus trigger: build the processor for the current runtime, or hold the
batch while the settings cannot work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge.queue_gateway import GATEWAYS
from bridge.queue_messages import IncomingMessage, jitter_factor, retry_copy, retry_delay
from bridge.queue_processor import BatchProcessor, MessageOutcome, Outcome, settle_writes
from bridge.runtime import CLIENTS, current_runtime
from bridge.settings import ConfigurationError

log = logging.getLogger("kognitiv_bridge")


@dataclass
class TriggerClock:
    """Wall time and waits of the queue trigger (a virtual clock in tests)."""

    wall: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep


CLOCK = TriggerClock()


async def process_queue_batch(messages: Sequence[IncomingMessage]) -> list[MessageOutcome]:
    """Process one batch; raises (so the host redelivers it) only when outcomes could not be
    recorded in Service Bus."""
    try:
        runtime = current_runtime()
    except ConfigurationError as error:
        return await hold_batch(messages, error)
    processor = BatchProcessor(
        runtime,
        runtime.gateway,
        runtime.sender(CLIENTS, queue=True, sleep=CLOCK.sleep),
        runtime.delivered_keys,
        CLOCK.wall,
        CLOCK.sleep,
    )
    return await processor.process(messages)


async def hold_batch(
    messages: Sequence[IncomingMessage], error: ConfigurationError
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
                reason="configuration_error",
                attempt=message.attempt + 1,
                retry_at=at,
            )
        )
    await settle_writes(GATEWAYS.get(), copies, [], CLOCK.sleep)
    return outcomes
