"""The only Service Bus code: a small interface the outcome logic and the CLI use, and its Azure
implementation (the GA `azure-servicebus` SDK, imported lazily so direct mode never pays for it).

Why this and not the preview SDK-type binding (per-message settlement from the trigger): see the
docs/durable-path.md, "Durable path". In short: the GA sender gives scheduled retries and a
dead-letter queue we control, with no gRPC dependency and no preview API, and the trigger stays a
plain batch trigger that completes the batch when the function returns."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from bridge.common.azure_identity import identity_credential
from bridge.config.settings import CLIENT_ID_SETTING, NAMESPACE_SETTING, Settings
from bridge.durable.messages import IncomingMessage, OutgoingMessage

if TYPE_CHECKING:  # pragma: no cover
    from azure.servicebus import ServiceBusMessage


# Few, quick retries: the HTTP trigger sends again itself and the queue trigger is
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
        """Read dead letters from every place they can be, without locking or counting a
        delivery; each carries its `source` and `sequence_number`."""

    async def replay_dead_letters(
        self, chosen: set[tuple[str, int]], copy: Callable[[IncomingMessage], OutgoingMessage]
    ) -> list[IncomingMessage]:
        """For each chosen (source, sequence number): send `copy(letter)` to the main queue,
        then remove the letter (in that order: a failure leaves a duplicate, never a loss).
        Letters not chosen are never abandoned."""


@dataclass(frozen=True)
class ServiceBusConfig:
    """The Service Bus settings alone: read even when other settings are wrong, so the queue
    trigger can still hold its messages while the configuration is being fixed."""

    queue: str
    dead_letter_queue: str
    connection_string: str | None = None
    namespace: str | None = None
    client_id: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceBusConfig:
        secret = settings.kognitiv_service_bus
        return cls(
            queue=settings.kognitiv_service_bus_queue or "",
            dead_letter_queue=settings.dead_letter_queue,
            connection_string=secret.get_secret_value() if secret else None,
            namespace=settings.kognitiv_service_bus_namespace,
            client_id=settings.kognitiv_service_bus_client_id,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ServiceBusConfig:
        queue = environ.get("KOGNITIV_SERVICE_BUS_QUEUE") or ""
        return cls(
            queue=queue,
            dead_letter_queue=environ.get("KOGNITIV_SERVICE_BUS_DEAD_LETTER_QUEUE")
            or f"{queue}-deadletter",
            connection_string=environ.get("KOGNITIV_SERVICE_BUS") or None,
            namespace=environ.get(NAMESPACE_SETTING) or None,
            client_id=environ.get(CLIENT_ID_SETTING) or None,
        )


def lasting_write_problem(error: BaseException) -> str | None:
    """Why a write can never succeed as it is (None: a transient failure, worth retrying):
    `too_large` (the message, or its MessageId), `missing` (no such queue), `full` (the queue
    is at its size quota), `refused` (disabled, or no send right)."""
    from azure.servicebus.exceptions import (
        MessageSizeExceededError,
        MessagingEntityDisabledError,
        MessagingEntityNotFoundError,
        ServiceBusAuthorizationError,
        ServiceBusQuotaExceededError,
    )

    if isinstance(error, MessageSizeExceededError | ValueError | TypeError):
        return "too_large"
    if isinstance(error, MessagingEntityNotFoundError):
        return "missing"
    if isinstance(error, ServiceBusQuotaExceededError):
        return "full"
    if isinstance(error, MessagingEntityDisabledError | ServiceBusAuthorizationError):
        return "refused"
    return None


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


def from_received(message: Any, source: str = "") -> IncomingMessage:
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
        message_id=str(message.message_id or ""),
        properties=properties,
        delivery_count=message.delivery_count or 1,
        enqueued_time=message.enqueued_time_utc,
        sequence_number=message.sequence_number,
        source=source,
    )


DEAD_LETTER_SUFFIX = "/$DeadLetterQueue"
PEEK_PAGE = 250
RECEIVE_PAGE = 100
# A letter's lock is renewed when it would end this soon: a page of letters sent back one by one
# can outlast the dead-letter queue's one-minute lock.
LOCK_MARGIN = timedelta(seconds=20)


class ServiceBusGateway:
    """QueueGateway over Azure Service Bus: a connection string or managed identity. `client`
    replaces the SDK client (tests give a model of the service)."""

    def __init__(
        self,
        config: ServiceBusConfig,
        client: Any = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._config = config
        self._clock = clock
        self._queue = config.queue
        self._dead_letter_queue = config.dead_letter_queue
        self._client: Any = client
        self._fixed_client = client is not None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get_client(self) -> Any:
        if self._fixed_client:
            return self._client
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is loop:
            return self._client
        from azure.servicebus.aio import ServiceBusClient

        config = self._config
        if config.connection_string is not None:
            self._client = ServiceBusClient.from_connection_string(
                config.connection_string, **CLIENT_RETRIES
            )
        else:
            credential = identity_credential(config.client_id)
            self._client = ServiceBusClient(config.namespace or "", credential, **CLIENT_RETRIES)
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
        """Peek page by page (by sequence number) through every dead-letter place: peeking
        takes no lock and counts no delivery, and it also shows deferred letters."""
        found: list[IncomingMessage] = []
        client = self._get_client()
        for source, queue, sub_queue in self._dead_letter_sources():
            async with client.get_queue_receiver(queue, sub_queue=sub_queue) as receiver:
                next_number = 0
                while len(found) < limit:
                    page = await receiver.peek_messages(
                        max_message_count=min(PEEK_PAGE, limit - len(found)),
                        sequence_number=next_number,
                    )
                    if not page:
                        break
                    found.extend(from_received(message, source) for message in page)
                    next_number = max(message.sequence_number for message in page) + 1
            if len(found) >= limit:
                break
        return found

    async def replay_dead_letters(
        self, chosen: set[tuple[str, int]], copy: Callable[[IncomingMessage], OutgoingMessage]
    ) -> list[IncomingMessage]:
        """Deferred letters are received by sequence number, only the chosen ones. Active
        letters cannot be received by number: they are received in order until every chosen one
        is found, and each letter not chosen is deferred at once (still listed by peek, later
        received only by its number), never abandoned: no delivery count climbs towards the
        dead-letter queue's own dead-letter queue, and no lock is held while scanning."""
        taken: list[IncomingMessage] = []
        client = self._get_client()
        for source, queue, sub_queue in self._dead_letter_sources():
            wanted = {number for place, number in chosen if place == source}
            if not wanted:
                continue
            async with client.get_queue_receiver(
                queue, sub_queue=sub_queue, max_wait_time=5
            ) as receiver:
                deferred, active = await self._states(receiver, wanted)
                numbers = sorted(deferred)
                for start in range(0, len(numbers), RECEIVE_PAGE):
                    page = numbers[start : start + RECEIVE_PAGE]
                    received = await receiver.receive_deferred_messages(page)
                    for index, message in enumerate(received):
                        await self._keep_locks(receiver, received[index:])
                        taken.append(await self._replay_one(receiver, message, source, copy))
                while active:
                    received = await receiver.receive_messages(max_message_count=RECEIVE_PAGE)
                    if not received:
                        break
                    for index, message in enumerate(received):
                        await self._keep_locks(receiver, received[index:])
                        if message.sequence_number in active:
                            active.discard(message.sequence_number)
                            taken.append(await self._replay_one(receiver, message, source, copy))
                        else:
                            await receiver.defer_message(message)
        return taken

    @staticmethod
    async def _states(receiver: Any, wanted: set[int]) -> tuple[set[int], set[int]]:
        """The wanted letters still present, split into (deferred, active), by peeking."""
        from azure.servicebus import ServiceBusMessageState

        deferred: set[int] = set()
        active: set[int] = set()
        for number in sorted(wanted):
            if number in deferred or number in active:
                continue
            page = await receiver.peek_messages(max_message_count=PEEK_PAGE, sequence_number=number)
            for message in page:
                if message.sequence_number in wanted:
                    deferred_now = message.state == ServiceBusMessageState.DEFERRED
                    (deferred if deferred_now else active).add(message.sequence_number)
        return deferred, active

    async def _keep_locks(self, receiver: Any, unsettled: Sequence[Any]) -> None:
        """Renew the locks of a page's letters not settled yet once any would end within
        `LOCK_MARGIN` (they were received together, so they end together): a lost lock would
        leave a letter already sent back in place, to be replayed a second time."""
        now = self._clock()
        for message in unsettled:
            until = getattr(message, "locked_until_utc", None)
            if until is None:
                continue
            if until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            if until - now < LOCK_MARGIN:
                await receiver.renew_message_lock(message)

    async def _replay_one(
        self,
        receiver: Any,
        message: Any,
        source: str,
        copy: Callable[[IncomingMessage], OutgoingMessage],
    ) -> IncomingMessage:
        letter = from_received(message, source)
        await self.send([copy(letter)])
        await receiver.complete_message(message)
        return letter

    def _dead_letter_sources(self) -> list[tuple[str, str, Any]]:
        """(name shown to operators, queue, sub-queue) of every place a letter can end up: our
        dead-letter queue (the bridge's own letters), the main queue's $DeadLetterQueue (the
        service's: MaxDeliveryCountExceeded, TTLExpiredException) and our dead-letter queue's
        own $DeadLetterQueue (should its letters ever expire or be abandoned too often)."""
        from azure.servicebus import ServiceBusSubQueue

        dead = ServiceBusSubQueue.DEAD_LETTER
        return [
            (self._dead_letter_queue, self._dead_letter_queue, None),
            (self._queue + DEAD_LETTER_SUFFIX, self._queue, dead),
            (self._dead_letter_queue + DEAD_LETTER_SUFFIX, self._dead_letter_queue, dead),
        ]


class GatewayProvider:
    """One gateway per process for the Service Bus settings in force (`install` replaces it,
    e.g. with a model of the service in tests)."""

    def __init__(self) -> None:
        self._installed: QueueGateway | None = None
        self._built: tuple[ServiceBusConfig, ServiceBusGateway] | None = None

    def get(self) -> QueueGateway:
        if self._installed is not None:
            return self._installed
        config = ServiceBusConfig.from_environment()
        if self._built is None or self._built[0] != config:
            self._built = (config, ServiceBusGateway(config))
        return self._built[1]

    def install(self, gateway: QueueGateway | None) -> None:
        self._installed = gateway


GATEWAYS = GatewayProvider()
