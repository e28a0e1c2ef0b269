"""A model of Azure Service Bus and of the Functions host's batch trigger, for tests.

It follows Microsoft's documentation of the service, on a virtual clock:
- duplicate detection: a message whose MessageId was accepted within the window is accepted
  again and silently dropped (the sender sees success); a message without a MessageId is never
  a duplicate;
- peek-lock: a received message is locked for the lock duration and its delivery count rises;
  complete removes it; abandon (or an expired lock) makes it available again at once; once its
  delivery count has reached MaxDeliveryCount it moves to the queue's dead-letter sub-queue with
  reason `MaxDeliveryCountExceeded`;
- defer: the message stays in the queue, set aside: peek shows it, only
  `receive_deferred_messages` (by sequence number) receives it;
- scheduled messages are invisible until their scheduled time;
- peek takes no lock and counts no delivery;
- a message (body and properties) over 256 KB or a MessageId over 128 characters is refused;
  a missing queue or one at its size quota refuses every send (lasting faults, `Faults`);
- a send may time out having stored the messages or not (`Faults.lose_acks`, `time_out_sends`);
- the dead-letter sub-queue keeps letters until they are received and completed (it has no
  dead-letter queue of its own); a separate queue used as a dead-letter queue is an ordinary
  queue, with its own `$DeadLetterQueue`;
- time to live: a message older than the queue's TTL (14 days by default) expires: it moves to
  the dead-letter sub-queue (`TTLExpiredException`) when dead-lettering on expiry is on, else it
  is gone;
- locks are renewed with `renew_message_lock`; a lock that expires while its batch is still
  being processed releases the messages to the next receive (another instance).

The client surface (`get_queue_sender`, `get_queue_receiver` and their methods) is the part of
`azure.servicebus.aio.ServiceBusClient` the bridge uses, so the real `ServiceBusGateway` runs on
it. `FunctionHost` is the host with `autoCompleteMessages: true`: it receives a batch, calls the
function with `azure.functions.ServiceBusMessage` objects, completes every message on a normal
return and abandons every message when the function raises or outlives its functionTimeout
(`timeout_when`)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions.servicebus import ServiceBusMessage as FunctionMessage
from azure.servicebus import ServiceBusMessage, ServiceBusMessageState, ServiceBusSubQueue
from azure.servicebus.exceptions import (
    MessageLockLostError,
    MessageNotFoundError,
    MessageSizeExceededError,
    MessagingEntityNotFoundError,
    OperationTimeoutError,
    ServiceBusConnectionError,
    ServiceBusQuotaExceededError,
)

from bridge.durable.gateway import ServiceBusConfig, ServiceBusGateway
from tests.fakes import VirtualClock

MAX_BATCH_BYTES = 256 * 1024  # Standard tier
MAX_MESSAGE_BYTES = 256 * 1024  # one message, body and properties (Standard tier)
MAX_MESSAGE_ID = 128
MAX_DELIVERY_COUNT_EXCEEDED = "MaxDeliveryCountExceeded"
TTL_EXPIRED = "TTLExpiredException"
SendHook = Callable[[str, Sequence[ServiceBusMessage]], Awaitable[str]]


@dataclass
class Stored:
    """One message as the service keeps it."""

    sequence_number: int
    message_id: str | None
    body: bytes
    application_properties: dict[str, Any]
    enqueued_time: datetime
    scheduled_at: datetime | None = None
    delivery_count: int = 0
    deferred: bool = False
    locked_until: datetime | None = None
    lock_token: int | None = None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Received:
    """What a receiver hands out (the attributes of a ServiceBusReceivedMessage we read)."""

    stored: Stored
    lock_token: int | None
    count_at_receive: int | None = None  # a received message keeps the count it came with

    @property
    def message_id(self) -> str | None:
        return self.stored.message_id

    @property
    def body(self) -> list[bytes]:
        return [self.stored.body]

    @property
    def application_properties(self) -> dict[bytes, Any]:
        return {key.encode(): value for key, value in self.stored.application_properties.items()}

    @property
    def delivery_count(self) -> int:
        if self.count_at_receive is not None:
            return self.count_at_receive
        return self.stored.delivery_count

    @property
    def enqueued_time_utc(self) -> datetime:
        return self.stored.enqueued_time

    @property
    def sequence_number(self) -> int:
        return self.stored.sequence_number

    @property
    def locked_until_utc(self) -> datetime | None:
        """When this receiver's lock ends (None once settled or released)."""
        if self.lock_token is None or self.stored.lock_token != self.lock_token:
            return None
        return self.stored.locked_until

    @property
    def dead_letter_reason(self) -> str | None:
        return self.stored.dead_letter_reason

    @property
    def dead_letter_error_description(self) -> str | None:
        return self.stored.dead_letter_error_description

    @property
    def state(self) -> ServiceBusMessageState:
        if self.stored.deferred:
            return ServiceBusMessageState.DEFERRED
        if self.stored.scheduled_at is not None:
            return ServiceBusMessageState.SCHEDULED
        return ServiceBusMessageState.ACTIVE


class Entity:
    """A queue, or a queue's dead-letter sub-queue (`dead_letter` None, no duplicate check)."""

    def __init__(self, model: ServiceBusModel, name: str, sub_queue: bool = False) -> None:
        self.model = model
        self.name = name
        self.messages: dict[int, Stored] = {}
        self.dead_letter: Entity | None = None if sub_queue else Entity(model, name, True)
        self.detects_duplicates = not sub_queue
        self._accepted_ids: dict[str, datetime] = {}
        self.dropped_duplicates: list[str] = []
        self.receives = 0  # messages handed out under lock
        self.lock_duration: timedelta | None = None  # None: the namespace's default
        self.time_to_live = timedelta(days=14)
        self.dead_letter_on_expiry = True
        self.expired = 0
        self.renewals = 0

    # writing ---------------------------------------------------------------------------------
    def accept(
        self,
        message_id: str | None,
        body: bytes,
        properties: dict[str, Any],
        scheduled_at: datetime | None = None,
    ) -> Stored | None:
        """Store a sent message, or drop it silently as a duplicate (returns None)."""
        now = self.model.clock.now
        if self.detects_duplicates and message_id is not None:
            seen = self._accepted_ids.get(message_id)
            if seen is not None and now - seen < self.model.duplicate_window:
                self.dropped_duplicates.append(message_id)
                return None
            self._accepted_ids[message_id] = now
        if scheduled_at is not None and scheduled_at.tzinfo is None:
            scheduled_at = scheduled_at.replace(tzinfo=UTC)
        stored = Stored(
            self.model.next_sequence(),
            message_id,
            body,
            dict(properties),
            now,
            scheduled_at if scheduled_at is not None and scheduled_at > now else None,
        )
        self.messages[stored.sequence_number] = stored
        return stored

    def move_to_dead_letter(self, stored: Stored, reason: str, description: str) -> None:
        assert self.dead_letter is not None, "a dead-letter sub-queue has no dead-letter queue"
        del self.messages[stored.sequence_number]
        stored.locked_until = stored.lock_token = None
        stored.dead_letter_reason = reason
        stored.dead_letter_error_description = description
        stored.sequence_number = self.model.next_sequence()
        self.dead_letter.messages[stored.sequence_number] = stored

    # reading ---------------------------------------------------------------------------------
    def _release_expired_locks(self) -> None:
        now = self.model.clock.now
        for stored in list(self.messages.values()):
            if stored.locked_until is not None and stored.locked_until <= now:
                self._unlock(stored)

    def _unlock(self, stored: Stored) -> None:
        """Abandon or lock expiry: available again at once, or dead-lettered past the max."""
        stored.locked_until = stored.lock_token = None
        limit = self.model.max_delivery_count
        if self.dead_letter is not None and stored.delivery_count >= limit:
            description = f"Message could not be consumed after {limit} delivery attempts."
            self.move_to_dead_letter(stored, MAX_DELIVERY_COUNT_EXCEEDED, description)

    def _expire(self) -> None:
        """Messages past their time to live (from their enqueued time) expire, unless locked."""
        now = self.model.clock.now
        for stored in list(self.messages.values()):
            alive = stored.scheduled_at is not None or stored.locked_until is not None
            if alive or now - stored.enqueued_time < self.time_to_live:
                continue
            self.expired += 1
            if self.dead_letter is not None and self.dead_letter_on_expiry:
                description = "The message expired and was dead lettered."
                self.move_to_dead_letter(stored, TTL_EXPIRED, description)
            else:
                del self.messages[stored.sequence_number]

    def _available(self) -> list[Stored]:
        now = self.model.clock.now
        self._release_expired_locks()
        for stored in self.messages.values():
            if stored.scheduled_at is not None and stored.scheduled_at <= now:
                stored.scheduled_at = None
                stored.enqueued_time = now  # a scheduled message is enqueued at its time
        if self.dead_letter is not None:
            self._expire()
        return [
            stored
            for _, stored in sorted(self.messages.items())
            if stored.scheduled_at is None and not stored.deferred and stored.locked_until is None
        ]

    @property
    def lock(self) -> timedelta:
        return self.lock_duration or self.model.lock_duration

    def _lock(self, stored: Stored) -> Received:
        stored.delivery_count += 1
        stored.locked_until = self.model.clock.now + self.lock
        stored.lock_token = next(self.model.tokens)
        self.receives += 1
        return Received(stored, stored.lock_token, stored.delivery_count)

    def receive(self, limit: int) -> list[Received]:
        return [self._lock(stored) for stored in self._available()[:limit]]

    def receive_deferred(self, numbers: Iterable[int]) -> list[Received]:
        found = []
        for number in numbers:
            stored = self.messages.get(number)
            if stored is None or not stored.deferred:
                raise MessageNotFoundError(message=f"no deferred message {number}")
            found.append(self._lock(stored))
        return found

    def peek(self, from_number: int, limit: int) -> list[Received]:
        self._available()  # due scheduled messages become active; peek itself locks nothing
        chosen = [s for n, s in sorted(self.messages.items()) if n >= from_number][:limit]
        return [Received(stored, None) for stored in chosen]

    def next_scheduled(self) -> datetime | None:
        times = [s.scheduled_at for s in self.messages.values() if s.scheduled_at is not None]
        locks = [s.locked_until for s in self.messages.values() if s.locked_until is not None]
        return min(times + locks, default=None)

    # settling --------------------------------------------------------------------------------
    def _locked(self, received: Received) -> Stored:
        self._release_expired_locks()
        stored = self.messages.get(received.stored.sequence_number)
        if (
            stored is None
            or received.lock_token is None
            or stored.lock_token != received.lock_token
        ):
            raise MessageLockLostError(message="the lock was lost or the message was settled")
        return stored

    def complete(self, received: Received) -> None:
        del self.messages[self._locked(received).sequence_number]

    def abandon(self, received: Received) -> None:
        self._unlock(self._locked(received))

    def renew(self, received: Received) -> datetime:
        """Renew a lock still held: another lock duration from now."""
        stored = self._locked(received)
        stored.locked_until = self.model.clock.now + self.lock
        self.renewals += 1
        return stored.locked_until

    def defer(self, received: Received) -> None:
        stored = self._locked(received)
        stored.locked_until = stored.lock_token = None
        stored.deferred = True

    # inspection --------------------------------------------------------------------------------
    def all(self) -> list[Stored]:
        return [stored for _, stored in sorted(self.messages.items())]

    def ids(self) -> list[str | None]:
        return [stored.message_id for stored in self.all()]


@dataclass
class Faults:
    """Scripted Service Bus trouble for the next sends (in this order of precedence)."""

    refuse_sends: int = 0  # raise, nothing stored
    lose_acks: int = 0  # stored, then raise as if the answer timed out
    time_out_sends: int = 0  # time out, nothing stored
    hang_sends: int = 0  # never answer (the caller's timeout must act)
    missing: set[str] = field(default_factory=set)  # queues that do not exist (lasting)
    full: set[str] = field(default_factory=set)  # queues at their size quota (lasting)


class ServiceBusModel:
    """A namespace: queues by name (created on first use), each with its dead-letter sub-queue."""

    def __init__(
        self,
        clock: VirtualClock,
        *,
        max_delivery_count: int = 10,
        lock_duration: timedelta = timedelta(minutes=5),
        duplicate_window: timedelta = timedelta(days=1),
    ) -> None:
        self.clock = clock
        self.max_delivery_count = max_delivery_count
        self.lock_duration = lock_duration
        self.duplicate_window = duplicate_window
        self.queues: dict[str, Entity] = {}
        self.faults = Faults()
        self.tokens = itertools.count(1)
        self._sequence = itertools.count(1)
        self.sends = 0
        self.send_seconds = 0.0  # how long each send takes (virtual time passes)
        self.send_hook: SendHook | None = None  # decides each send: "ok", "refuse", "lose_ack"

    def next_sequence(self) -> int:
        return next(self._sequence)

    def queue(self, name: str) -> Entity:
        if name not in self.queues:
            self.queues[name] = Entity(self, name)
        return self.queues[name]

    def entity(self, name: str, sub_queue: object = None) -> Entity:
        queue = self.queue(name)
        if sub_queue is None:
            return queue
        assert sub_queue == ServiceBusSubQueue.DEAD_LETTER
        assert queue.dead_letter is not None
        return queue.dead_letter

    def client(self) -> ModelClient:
        return ModelClient(self)

    def gateway(self, queue: str, dead_letter_queue: str) -> ServiceBusGateway:
        """The bridge's real gateway, talking to this model instead of Azure."""
        config = ServiceBusConfig(queue=queue, dead_letter_queue=dead_letter_queue)
        return ServiceBusGateway(config, client=self.client(), clock=self.clock.wall)

    async def send(self, queue: str, messages: Sequence[ServiceBusMessage]) -> None:
        """What a sender's `send_messages` does, faults included."""
        self.sends += 1
        if self.send_seconds:
            await self.clock.sleep(self.send_seconds)
        faults = self.faults
        if queue in faults.missing:
            raise MessagingEntityNotFoundError(message=f"the entity {queue} was not found")
        if queue in faults.full:
            raise ServiceBusQuotaExceededError(message=f"the entity {queue} is at its size quota")
        for message in messages:  # what the service refuses before storing anything
            if message.message_id is not None and len(str(message.message_id)) > MAX_MESSAGE_ID:
                raise ValueError(f"message_id cannot be longer than {MAX_MESSAGE_ID} characters.")
            if _size(message) > MAX_MESSAGE_BYTES:
                raise MessageSizeExceededError(message="the message exceeds 256 KB")
        if faults.refuse_sends:
            faults.refuse_sends -= 1
            raise ServiceBusConnectionError(message="Service Bus is unreachable")
        if faults.time_out_sends:
            faults.time_out_sends -= 1
            raise OperationTimeoutError(message="the send timed out")
        if faults.hang_sends:
            faults.hang_sends -= 1
            await asyncio.Event().wait()
        decision = "ok" if self.send_hook is None else await self.send_hook(queue, messages)
        if decision == "refuse":
            raise ServiceBusConnectionError(message="Service Bus is unreachable")
        target = self.queue(queue)
        for message in messages:
            properties = {
                (k.decode() if isinstance(k, bytes) else k): v
                for k, v in (message.application_properties or {}).items()
            }
            target.accept(
                message.message_id,
                b"".join(message.body),
                properties,
                message.scheduled_enqueue_time_utc,
            )
        if faults.lose_acks:
            faults.lose_acks -= 1
            decision = "lose_ack"
        if decision == "lose_ack":
            raise OperationTimeoutError(message="the send was not acknowledged in time")


def _size(message: ServiceBusMessage) -> int:
    body = b"".join(message.body)
    return len(body) + sum(
        len(str(k)) + len(str(v)) for k, v in (message.application_properties or {}).items()
    )


class ModelBatch:
    """ServiceBusMessageBatch: refuses a message that would pass the tier's size."""

    def __init__(self) -> None:
        self.messages: list[ServiceBusMessage] = []
        self.size = 0

    def add_message(self, message: ServiceBusMessage) -> None:
        size = _size(message)
        if self.size + size > MAX_BATCH_BYTES:
            raise MessageSizeExceededError(message="the batch is full")
        self.messages.append(message)
        self.size += size


class ModelSender:
    def __init__(self, model: ServiceBusModel, queue: str) -> None:
        self.model = model
        self.queue = queue

    async def __aenter__(self) -> ModelSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def create_message_batch(self) -> ModelBatch:
        return ModelBatch()

    async def send_messages(self, messages: Any) -> None:
        if isinstance(messages, ModelBatch):
            batch = messages.messages
        elif isinstance(messages, ServiceBusMessage):
            batch = [messages]
        else:
            batch = list(messages)
            if sum(_size(m) for m in batch) > MAX_BATCH_BYTES:
                raise MessageSizeExceededError(message="the messages exceed the batch size")
        await self.model.send(self.queue, batch)


class ModelReceiver:
    def __init__(self, entity: Entity) -> None:
        self.entity = entity

    async def __aenter__(self) -> ModelReceiver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def peek_messages(
        self, max_message_count: int = 1, *, sequence_number: int = 0, **_: object
    ) -> list[Received]:
        return self.entity.peek(sequence_number, max_message_count)

    async def receive_messages(self, max_message_count: int = 1, **_: object) -> list[Received]:
        return self.entity.receive(max_message_count)

    async def receive_deferred_messages(
        self, sequence_numbers: Iterable[int], **_: object
    ) -> list[Received]:
        return self.entity.receive_deferred(sequence_numbers)

    async def complete_message(self, message: Received) -> None:
        self.entity.complete(message)

    async def abandon_message(self, message: Received) -> None:
        self.entity.abandon(message)

    async def renew_message_lock(self, message: Received, **_: object) -> datetime:
        return self.entity.renew(message)

    async def defer_message(self, message: Received) -> None:
        self.entity.defer(message)


class ModelClient:
    """The part of azure.servicebus.aio.ServiceBusClient the gateway uses."""

    def __init__(self, model: ServiceBusModel) -> None:
        self.model = model

    def get_queue_sender(self, queue_name: str, **_: object) -> ModelSender:
        return ModelSender(self.model, queue_name)

    def get_queue_receiver(
        self, queue_name: str, sub_queue: object = None, **_: object
    ) -> ModelReceiver:
        return ModelReceiver(self.model.entity(queue_name, sub_queue))


def function_message(received: Received) -> FunctionMessage:
    """What the Python worker passes the function: times without a time zone, as in the trigger
    metadata."""
    stored = received.stored
    return FunctionMessage(
        body=stored.body,
        message_id=stored.message_id or "",
        application_properties=dict(stored.application_properties),
        user_properties={},
        delivery_count=received.delivery_count,
        enqueued_time_utc=stored.enqueued_time.astimezone(UTC).replace(tzinfo=None),
        sequence_number=stored.sequence_number,
        lock_token=str(received.lock_token),
    )


class FunctionTimeout(Exception):
    """The host cut the invocation (functionTimeout)."""


@dataclass
class Execution:
    """One invocation of the function: its messages and how it ended."""

    message_ids: list[str | None]
    delivery_counts: list[int]
    error: BaseException | None = None


@dataclass
class FunctionHost:
    """The Functions host running a `cardinality=many` Service Bus trigger with
    `autoCompleteMessages: true` (host.json)."""

    model: ServiceBusModel
    queue: str
    function: Callable[[list[FunctionMessage]], Awaitable[object]]
    max_batch: int = 1000
    executions: list[Execution] = field(default_factory=list)
    # functionTimeout: when this returns True (polled while the function runs), the host cancels
    # the invocation and restarts the worker; the batch's locks are released (abandoned).
    timeout_when: Callable[[], bool] | None = None

    async def run_once(self) -> bool:
        """Receive one batch and run the function on it; False when nothing is available."""
        entity = self.model.queue(self.queue)
        batch = entity.receive(self.max_batch)
        if not batch:
            return False
        execution = Execution([r.message_id for r in batch], [r.delivery_count for r in batch])
        self.executions.append(execution)
        try:
            await self._invoke([function_message(received) for received in batch])
        except Exception as error:
            execution.error = error
            for received in batch:
                with contextlib.suppress(MessageLockLostError):  # expired: already released
                    entity.abandon(received)
            return True
        for received in batch:
            with contextlib.suppress(MessageLockLostError):  # expired: the message comes back
                entity.complete(received)
        return True

    async def _invoke(self, messages: list[FunctionMessage]) -> None:
        if self.timeout_when is None:
            await self.function(messages)
            return
        task = asyncio.ensure_future(self.function(messages))
        while not task.done():
            if self.timeout_when():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise FunctionTimeout("the function exceeded functionTimeout")
            await asyncio.sleep(0.001)  # real time: the emulator answers from its own thread
        await task

    async def drain(
        self,
        *,
        on_tick: Callable[[VirtualClock], None] | None = None,
        max_executions: int = 5000,
    ) -> None:
        """Run until the queue holds nothing active or scheduled, moving the clock to each
        scheduled message's time (`on_tick` sees each move)."""
        entity = self.model.queue(self.queue)
        while len(self.executions) < max_executions:
            if await self.run_once():
                continue
            due = entity.next_scheduled()
            if due is None:
                return
            if due > self.model.clock.now:
                self.model.clock.now = due
            if on_tick is not None:
                on_tick(self.model.clock)
        raise AssertionError(f"the queue did not drain in {max_executions} executions")

    @property
    def errors(self) -> list[BaseException]:
        return [e.error for e in self.executions if e.error is not None]
