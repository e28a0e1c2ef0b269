"""The only Service Bus code: a small interface the outcome logic and the CLI use, and its Azure
implementation (the GA `azure-servicebus` SDK, imported lazily so direct mode never pays for it).

Why this and not the preview SDK-type binding (per-message settlement from the trigger): see the
README, "Durable path". In short: the GA sender gives scheduled retries and a dead-letter queue we
control, with no gRPC dependency and no preview API, and the trigger stays a plain batch trigger
that completes the batch when the function returns."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from bridge.queue_messages import IncomingMessage, OutgoingMessage
from bridge.settings import Settings

if TYPE_CHECKING:  # pragma: no cover
    from azure.servicebus import ServiceBusMessage


# Few, quick retries: the HTTP trigger falls back to direct delivery and the queue trigger is
# redelivered, so a long SDK retry loop (11 s by default for an unreachable namespace) only
# delays the answer.
CLIENT_RETRIES = {"retry_total": 2, "retry_backoff_factor": 0.5, "retry_backoff_max": 4}


class QueueGateway(Protocol):
    """What the bridge needs from a queue."""

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        """Write to the main queue (scheduled when `scheduled_at` is set); raise on failure."""

    async def dead_letter(self, messages: Sequence[OutgoingMessage]) -> None:
        """Write to the dead-letter queue with reason and description; raise on failure."""

    async def peek_dead_letters(self, limit: int) -> list[IncomingMessage]:
        """Read dead letters without removing them."""

    async def replay_dead_letters(
        self, message_ids: set[str], copy: Callable[[IncomingMessage], OutgoingMessage]
    ) -> list[IncomingMessage]:
        """Send `copy(letter)` to the main queue for each chosen dead letter, then remove the
        letter (in that order: a failure leaves a duplicate, never a loss)."""


def to_service_bus_message(message: OutgoingMessage) -> ServiceBusMessage:
    from azure.servicebus import ServiceBusMessage

    return ServiceBusMessage(
        message.body,
        message_id=message.message_id,
        application_properties=dict(message.properties),
        content_type="application/json",
        scheduled_enqueue_time_utc=message.scheduled_at,
    )


def _text(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


def from_received(message: Any) -> IncomingMessage:
    """An azure-servicebus received message -> IncomingMessage (the CLI's dead-letter reads)."""
    properties = {
        str(_text(key)): _text(value)
        for key, value in (message.application_properties or {}).items()
    }
    if message.dead_letter_reason and "dead_letter_reason" not in properties:
        properties["dead_letter_reason"] = message.dead_letter_reason
        properties["dead_letter_description"] = message.dead_letter_error_description or ""
    return IncomingMessage(
        body=b"".join(message.body),
        message_id=str(message.message_id),
        properties=properties,
        delivery_count=message.delivery_count or 1,
        enqueued_time=message.enqueued_time_utc,
    )


class ServiceBusGateway:
    """QueueGateway over Azure Service Bus: a connection string or managed identity."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._queue = settings.kognitiv_service_bus_queue or ""
        self._dead_letter_queue = settings.dead_letter_queue
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        from azure.servicebus.aio import ServiceBusClient

        settings = self._settings
        if settings.kognitiv_service_bus is not None:
            self._client = ServiceBusClient.from_connection_string(
                settings.kognitiv_service_bus.get_secret_value(), **CLIENT_RETRIES
            )
        else:
            from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

            credential = (
                ManagedIdentityCredential(client_id=settings.kognitiv_service_bus_client_id)
                if settings.kognitiv_service_bus_client_id
                else DefaultAzureCredential()
            )
            self._client = ServiceBusClient(
                settings.kognitiv_service_bus_namespace or "", credential, **CLIENT_RETRIES
            )
        self._loop = loop
        return self._client

    async def _send_to(self, queue: str, messages: Sequence[OutgoingMessage]) -> None:
        """Send in one call when it fits, else in as many batches as the tier allows
        (256 KB Standard, 1 MB Premium)."""
        if not messages:
            return
        from azure.servicebus.exceptions import MessageSizeExceededError

        converted = [to_service_bus_message(message) for message in messages]
        async with self._get_client().get_queue_sender(queue) as sender:
            try:
                await sender.send_messages(converted)
                return
            except MessageSizeExceededError:
                if len(converted) == 1:
                    raise
            batch = await sender.create_message_batch()
            for message in converted:
                try:
                    batch.add_message(message)
                except MessageSizeExceededError:
                    await sender.send_messages(batch)
                    batch = await sender.create_message_batch()
                    batch.add_message(message)
            await sender.send_messages(batch)

    async def send(self, messages: Sequence[OutgoingMessage]) -> None:
        await self._send_to(self._queue, messages)

    async def dead_letter(self, messages: Sequence[OutgoingMessage]) -> None:
        await self._send_to(self._dead_letter_queue, messages)

    async def peek_dead_letters(self, limit: int) -> list[IncomingMessage]:
        found: list[IncomingMessage] = []
        client = self._get_client()
        for queue, sub_queue in self._dead_letter_sources():
            async with client.get_queue_receiver(queue, sub_queue=sub_queue) as receiver:
                peeked = await receiver.peek_messages(max_message_count=limit - len(found))
                found.extend(from_received(message) for message in peeked)
            if len(found) >= limit:
                break
        return found

    async def replay_dead_letters(
        self, message_ids: set[str], copy: Callable[[IncomingMessage], OutgoingMessage]
    ) -> list[IncomingMessage]:
        """Scan under peek-lock; resend and complete the chosen ones, release the rest at the
        end (while locked they are not received twice)."""
        taken: list[IncomingMessage] = []
        client = self._get_client()
        for queue, sub_queue in self._dead_letter_sources():
            async with client.get_queue_receiver(
                queue, sub_queue=sub_queue, max_wait_time=5
            ) as receiver:
                skipped = []
                while received := await receiver.receive_messages(max_message_count=100):
                    for message in received:
                        if str(message.message_id) not in message_ids:
                            skipped.append(message)
                            continue
                        letter = from_received(message)
                        await self.send([copy(letter)])
                        await receiver.complete_message(message)
                        taken.append(letter)
                for message in skipped:
                    await receiver.abandon_message(message)
        return taken

    def _dead_letter_sources(self) -> list[tuple[str, Any]]:
        """Our dead-letter queue, and the main queue's own (expired or crashed messages)."""
        from azure.servicebus import ServiceBusSubQueue

        return [(self._dead_letter_queue, None), (self._queue, ServiceBusSubQueue.DEAD_LETTER)]
