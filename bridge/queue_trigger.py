"""Glue for the Service Bus trigger: build the processor for the current runtime."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.queue_messages import IncomingMessage
from bridge.queue_processor import BatchProcessor, MessageOutcome
from bridge.runtime import CLIENTS, current_runtime


async def process_queue_batch(messages: Sequence[IncomingMessage]) -> list[MessageOutcome]:
    """Process one batch; raises (so the host redelivers it) only when outcomes could not be
    recorded in Service Bus or the configuration cannot work."""
    runtime = current_runtime()
    processor = BatchProcessor(
        runtime, runtime.gateway, runtime.sender(CLIENTS, queue=True), runtime.delivered
    )
    return await processor.process(messages)
