"""Drive the queue trigger as the Functions host would: batches of `azure.functions`
ServiceBusMessage objects (what the HTTP trigger enqueued: raw body plus application
properties), `maxMessageBatchSize` at a time, one execution after the other, into
`function_app.kognitiv_service_bus`. Service Bus itself is the in-memory FakeGateway."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from azure.functions.servicebus import ServiceBusMessage

from benchmarks.bodies import Body
from benchmarks.harness import ROOT, use_settings
from benchmarks.layout import module
from tests.fakes import FakeGateway

SECOND = timedelta(seconds=1)


def host_service_bus_settings() -> dict[str, object]:
    """`extensions.serviceBus` of host.json."""
    host = json.loads((ROOT / "host.json").read_text())
    return host["extensions"]["serviceBus"]


def batch_size() -> int:
    return int(host_service_bus_settings()["maxMessageBatchSize"])  # type: ignore[call-overload]


def queue_message(body: Body, received: datetime) -> ServiceBusMessage:
    """The message the HTTP trigger would have enqueued for this body. Ids are never reused:
    the trigger skips ids this process delivered already (bridge.durable.idempotency)."""
    message_id = f"{body.event or body.kind}:{uuid.uuid4().hex}"
    first_message = module("bridge.durable.messages").first_message
    outgoing = first_message(body.raw, message_id, body.event, uuid.uuid4().hex, received)
    return ServiceBusMessage(
        body=outgoing.body,
        message_id=outgoing.message_id,
        application_properties=dict(outgoing.properties),
        user_properties={},
        delivery_count=1,
        enqueued_time_utc=received,
        content_type="application/json",
    )


def batches_of(bodies: Iterable[Body], size: int) -> Iterator[list[ServiceBusMessage]]:
    """The bodies as batches of `size` messages, each built when it is asked for: like the
    Functions host, which hands the worker one batch at a time, a run keeps one batch of
    messages alive, not all of them (tens of thousands of messages or bodies held for the
    whole run would make every full garbage collection of the bridge's process walk them)."""
    received = datetime.now(UTC) - SECOND
    bodies = iter(bodies)
    while batch := [queue_message(body, received) for body in itertools.islice(bodies, size)]:
        yield batch


@dataclass
class QueueRun:
    messages: int
    seconds: float
    batch_seconds: list[float]
    gateway: FakeGateway
    cpu_seconds: float = 0.0  # the bridge's own CPU (this thread) while the batches ran

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / self.messages * 1e6

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


async def drive(base_url: str, batches: Iterable[Sequence[ServiceBusMessage]]) -> QueueRun:
    """Run every batch through the trigger; raise unless each message was sent and delivered.
    The run's time is the trigger's: each batch is timed from the call to its return."""
    use_settings(base_url)
    import function_app

    deployment = module("bridge.deployment.runtime")
    CLIENTS = deployment.CLIENTS

    runtime = deployment.current_runtime()
    gateway = FakeGateway()
    runtime.gateway = gateway
    handler = function_app.kognitiv_service_bus.build().get_user_function()
    batch_seconds = []
    cpu = 0.0
    ids: list[str] = []
    try:
        for batch in batches:
            ids += (message.message_id for message in batch)
            messages = list(batch)
            batch_started, cpu_started = time.perf_counter(), time.thread_time()
            await handler(messages)
            batch_seconds.append(time.perf_counter() - batch_started)
            cpu += time.thread_time() - cpu_started
    finally:
        await CLIENTS.aclose()
    missing = sum(message_id not in runtime.delivered for message_id in ids)
    if gateway.queue or gateway.dead or missing:
        raise RuntimeError(
            f"not every message was delivered: {missing} missing, {len(gateway.queue)} "
            f"retries, {len(gateway.dead)} dead letters"
        )
    return QueueRun(len(ids), sum(batch_seconds), batch_seconds, gateway, cpu)
