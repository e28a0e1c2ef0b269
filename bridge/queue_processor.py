"""The queue trigger's work, without Azure: every message of a batch ends in exactly one outcome.

- delivered: MoEngage accepted it (elements of many messages share bulk requests);
- retry later: a copy is scheduled after an exponential delay (never sooner than MoEngage's
  rate-limit reset) until the retry horizon runs out;
- dead-lettered: with a reason code and a description (no secrets, no member data).

The Functions host completes the whole batch when the function returns. So retries and dead
letters are written first; if Service Bus refuses them, the function raises, the host abandons
the batch and it is redelivered: a duplicate is preferred to a loss."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bridge import telemetry
from bridge.errors import BridgeError
from bridge.idempotency import RecentlyDelivered
from bridge.observations import HEALTH
from bridge.queue_gateway import QueueGateway
from bridge.queue_messages import (
    IncomingMessage,
    OutgoingMessage,
    dead_letter_copy,
    jitter_factor,
    retry_copy,
    retry_delay,
)
from bridge.runtime import Runtime
from bridge.webhook import WebhookRequest, map_request, result_fields
from delivery import MoEngageRejected, MoEngageSender, MoEngageUnavailable
from mapping import MappingResult

log = logging.getLogger("kognitiv_bridge")
WAVE_SIZE = 250  # messages mapped before their delivery starts (one ~100 KB request of rewards)


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY_LATER = "retry_later"
    DEAD_LETTERED = "dead_lettered"


class Reason(enum.StrEnum):
    INVALID_PAYLOAD = "invalid_payload"
    MAPPING_FAILED = "mapping_failed"
    MOENGAGE_REJECTED = "moengage_rejected"
    RETRIES_EXHAUSTED = "retries_exhausted"


@dataclass(frozen=True)
class MessageOutcome:
    message_id: str
    outcome: Outcome
    event: str | None = None
    reason: str | None = None
    description: str | None = None
    attempt: int = 0
    retry_at: datetime | None = None
    correlation_id: str | None = None
    request_id: str | None = None
    members: tuple[str, ...] = ()


class SettlementError(RuntimeError):
    """Service Bus refused a retry or dead-letter write: the batch must be redelivered."""


@dataclass
class _Pending:
    message: IncomingMessage
    result: MappingResult


class BatchProcessor:
    """Maps, delivers and settles one batch of queue messages."""

    def __init__(
        self,
        runtime: Runtime,
        gateway: QueueGateway,
        sender: MoEngageSender,
        delivered: RecentlyDelivered,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.runtime = runtime
        self.gateway = gateway
        self.sender = sender
        self.delivered = delivered
        self.clock = clock
        self.horizon = timedelta(hours=runtime.settings.kognitiv_retry_horizon_hours)
        self._jitter = 1.0

    async def process(self, messages: Sequence[IncomingMessage]) -> list[MessageOutcome]:
        started = time.perf_counter()
        now = self.clock()
        self._jitter = jitter_factor()
        outcomes: dict[int, MessageOutcome] = {}
        retries: list[OutgoingMessage] = []
        letters: list[OutgoingMessage] = []
        pending: dict[int, _Pending] = {}
        deliveries: list[asyncio.Task[None]] = []
        wave: dict[int, _Pending] = {}
        for position, message in enumerate(messages):
            if len(wave) >= WAVE_SIZE:  # send what is mapped while the rest is being mapped
                deliveries.append(
                    asyncio.ensure_future(self._deliver(wave, outcomes, retries, letters, now))
                )
                wave = {}
                await asyncio.sleep(0)
            mapped = self._map(message, now, letters)
            if isinstance(mapped, MessageOutcome):
                outcomes[position] = mapped
            else:
                pending[position] = wave[position] = _Pending(message, mapped)

        if wave:
            deliveries.append(
                asyncio.ensure_future(self._deliver(wave, outcomes, retries, letters, now))
            )
        await asyncio.gather(*deliveries)
        await self._settle(retries, letters)
        ordered = [outcomes[i] for i in range(len(messages))]
        members = {p: result_fields(item.result)["members"] for p, item in pending.items()}
        self._log(messages, ordered, members, started)  # type: ignore[arg-type]
        return ordered

    def _map(
        self, message: IncomingMessage, now: datetime, letters: list[OutgoingMessage]
    ) -> MappingResult | MessageOutcome:
        """The message's elements, or its final outcome when it needs no delivery: already
        delivered by this instance, or dead-lettered because it cannot be mapped."""
        if message.idempotency_key in self.delivered:
            return MessageOutcome(
                message.message_id, Outcome.DELIVERED, message.event, attempt=message.attempt
            )
        try:
            request = WebhookRequest(message.body, route_event=message.event)
            return map_request(self.runtime, request)[1]
        except BridgeError as error:
            reason = Reason.INVALID_PAYLOAD if error.status in (400, 413) else Reason.MAPPING_FAILED
            return self._dead(message, reason, f"{error.code}: {error.message}", now, letters)
        except Exception as error:  # a bug must not sink the batch: park this message
            log.exception("internal error mapping message %s", message.message_id)
            description = f"internal error while mapping ({type(error).__name__})"
            return self._dead(message, Reason.MAPPING_FAILED, description, now, letters)

    async def _deliver(
        self,
        pending: dict[int, _Pending],
        outcomes: dict[int, MessageOutcome],
        retries: list[OutgoingMessage],
        letters: list[OutgoingMessage],
        now: datetime,
    ) -> None:
        if not pending:
            return
        positions = list(pending)
        report = await self.sender.deliver_units([pending[p].result.elements for p in positions])
        errors = report.unit_errors(len(positions))
        request_ids = report.unit_request_ids(len(positions))
        for index, position in enumerate(positions):
            item, error = pending[position], errors[index]
            message, event = item.message, item.result.event
            for warning in item.result.warnings:
                log.warning("message %s, event %s: %s", message.message_id, event, warning)
            if error is None:
                self.delivered.add(message.idempotency_key)
                outcomes[position] = MessageOutcome(
                    message.message_id,
                    Outcome.DELIVERED,
                    event,
                    attempt=message.attempt,
                    request_id=request_ids[index],
                )
                continue
            if isinstance(error, MoEngageRejected):
                HEALTH.saw_rejection(error)
            if isinstance(error, MoEngageRejected) and error.is_configuration_error:
                log.error(
                    "MoEngage refused the credentials or account (%s): message %s backs off; "
                    "fix the settings, nothing is dead-lettered",
                    error.message,
                    message.message_id,
                )
                outcomes[position] = self._retry(message, event, None, now, retries, letters, True)
            elif isinstance(error, MoEngageRejected):
                outcomes[position] = self._dead(
                    message, Reason.MOENGAGE_REJECTED, error.message, now, letters, event
                )
            else:
                wait = error.retry_after if isinstance(error, MoEngageUnavailable) else None
                outcomes[position] = self._retry(message, event, wait, now, retries, letters)

    def _retry(
        self,
        message: IncomingMessage,
        event: str | None,
        not_before: float | None,
        now: datetime,
        retries: list[OutgoingMessage],
        letters: list[OutgoingMessage],
        unlimited: bool = False,
    ) -> MessageOutcome:
        """Schedule a copy; past the horizon, dead-letter it instead (unless the cause is our
        own configuration, which must never empty the queue into the dead letters)."""
        deadline = message.first_received(now) + self.horizon
        if now >= deadline and not unlimited:
            description = (
                f"MoEngage stayed unavailable for {self.horizon.total_seconds() / 3600:g} h "
                f"({message.attempt + 1} attempts)"
            )
            return self._dead(message, Reason.RETRIES_EXHAUSTED, description, now, letters, event)
        at = now + timedelta(seconds=retry_delay(message.attempt, not_before, self._jitter))
        if not unlimited:
            at = min(at, max(deadline, now))
        retries.append(retry_copy(message, at, now))
        return MessageOutcome(
            message.message_id, Outcome.RETRY_LATER, event, attempt=message.attempt + 1, retry_at=at
        )

    def _dead(
        self,
        message: IncomingMessage,
        reason: Reason,
        description: str,
        now: datetime,
        letters: list[OutgoingMessage],
        event: str | None = None,
    ) -> MessageOutcome:
        letters.append(dead_letter_copy(message, reason.value, description, now))
        return MessageOutcome(
            message.message_id,
            Outcome.DEAD_LETTERED,
            event or message.event,
            reason.value,
            description,
            message.attempt,
        )

    async def _settle(self, retries: list[OutgoingMessage], letters: list[OutgoingMessage]) -> None:
        try:
            await self.gateway.dead_letter(letters)
            await self.gateway.send(retries)
        except Exception as error:
            log.error(
                "Service Bus refused %d retry and %d dead-letter writes (%s): the batch will be "
                "redelivered; delivered messages are skipped by this instance",
                len(retries),
                len(letters),
                type(error).__name__,
            )
            raise SettlementError("could not write retries or dead letters") from error

    def _log(
        self,
        messages: Sequence[IncomingMessage],
        outcomes: list[MessageOutcome],
        members: dict[int, list[str]],
        started: float,
    ) -> None:
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        for position, (message, outcome) in enumerate(zip(messages, outcomes, strict=True)):
            level = logging.WARNING if outcome.outcome is Outcome.DEAD_LETTERED else logging.INFO
            telemetry.record(
                "queue_message",
                level,
                message_id=outcome.message_id,
                correlation_id=message.correlation_id,
                event=outcome.event,
                outcome=outcome.outcome.value,
                reason=outcome.reason,
                attempts=outcome.attempt + 1,
                moengage_request_id=outcome.request_id,
                retry_at=outcome.retry_at,
                members=members.get(position),
                batch_size=len(messages),
                latency_ms=elapsed,
            )
