"""Settlement: the retries and dead letters one batch writes before the host completes it.

Each write is bounded and retried with backoff; when Service Bus keeps failing, the batch is
given back (`SettlementError`: a duplicate is preferred to a loss). A write that can never
succeed (too large, queue missing or full) touches its message alone: a retry becomes a letter,
and a letter is kept whole in the claim-check table (with a small pointer letter when the
dead-letter queue takes one)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from bridge.common.observations import DEAD_LETTERS
from bridge.durable.claim_checks import ClaimChecks, claim_checks
from bridge.durable.gateway import QueueGateway, lasting_write_problem
from bridge.durable.messages import (
    CLAIM_CHECK,
    DEAD_LETTER_DESCRIPTION,
    DEAD_LETTER_REASON,
    IncomingMessage,
    OutgoingMessage,
    pointer_letter,
)
from bridge.queue.outcomes import UNWRITABLE_RETRY

log = logging.getLogger("kognitiv_bridge")
SETTLE_ATTEMPTS = 4  # writes of retries and dead letters, before the batch is given back
SETTLE_TIMEOUT_SECONDS = 20.0  # per attempt: 4 attempts and backoff stay far inside the lock
SETTLE_BACKOFF_SECONDS = 1.0  # doubled after each failed attempt

Sleep = Callable[[float], Awaitable[object]]


class SettlementError(RuntimeError):
    """Service Bus refused a retry or dead-letter write: the batch must be redelivered."""


async def settle_writes(
    gateway: QueueGateway,
    retries: Sequence[OutgoingMessage],
    letters: Sequence[OutgoingMessage],
    sleep: Sleep = asyncio.sleep,
    parking: ClaimChecks | Literal["default"] | None = "default",
) -> None:
    """Write dead letters and retries. A write that fails for a while is retried with backoff
    (SETTLE_ATTEMPTS, each bounded); when Service Bus keeps failing, SettlementError (the batch
    is redelivered). A write that can never succeed (`lasting_write_problem`: too large, queue
    missing or full) affects its message alone: a retry that cannot be written becomes a
    letter, and a letter that cannot be written is kept in the claim-check table (with a small
    pointer letter when the dead-letter queue takes one); only when that too fails does the
    batch raise."""
    checks = claim_checks() if parking == "default" else parking
    unwritable = await _write_all(gateway.dead_letter, list(letters), sleep)
    refused = await _write_all(gateway.send, list(retries), sleep)
    if refused:
        as_letters = [_unwritable_retry(retry, problem) for retry, problem in refused]
        unwritable += await _write_all(gateway.dead_letter, as_letters, sleep)
    if letters and not unwritable:
        DEAD_LETTERS.written()
    for letter, problem in unwritable:
        await _claim_check(gateway, letter, problem, checks, sleep)


async def _write_all(
    write: Callable[[Sequence[OutgoingMessage]], Awaitable[None]],
    messages: list[OutgoingMessage],
    sleep: Sleep,
) -> list[tuple[OutgoingMessage, str]]:
    """Write the messages together; after a lasting failure, one by one. The messages that can
    never be written, with why; SettlementError when transient failures outlast the attempts."""
    if not messages:
        return []
    problem = await _write_with_backoff(write, messages, sleep)
    if problem is None:
        return []
    if len(messages) == 1:
        return [(messages[0], problem)]
    refused = []
    for message in messages:
        problem = await _write_with_backoff(write, [message], sleep)
        if problem is not None:
            refused.append((message, problem))
    return refused


async def _write_with_backoff(
    write: Callable[[Sequence[OutgoingMessage]], Awaitable[None]],
    messages: list[OutgoingMessage],
    sleep: Sleep,
) -> str | None:
    """None when written; the lasting problem when it can never be; SettlementError when
    Service Bus keeps failing transiently."""
    delay = SETTLE_BACKOFF_SECONDS
    for attempt in range(1, SETTLE_ATTEMPTS + 1):
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_SECONDS):
                await write(messages)
            return None
        except Exception as error:
            problem = lasting_write_problem(error)
            if problem is not None:
                log.warning("Service Bus cannot take %d message(s): %s", len(messages), problem)
                return problem
            log.warning(
                "Service Bus write failed (%s), attempt %d of %d",
                type(error).__name__,
                attempt,
                SETTLE_ATTEMPTS,
            )
            if attempt == SETTLE_ATTEMPTS:
                log.error(
                    "Service Bus refused %d writes (%s): the batch will be redelivered; "
                    "delivered messages are skipped",
                    len(messages),
                    type(error).__name__,
                )
                raise SettlementError("could not write retries or dead letters") from error
            await sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _unwritable_retry(retry: OutgoingMessage, problem: str) -> OutgoingMessage:
    """A retry copy Service Bus can never take (e.g. too large once its properties grew): the
    same message as a letter, so it is kept and can be replayed."""
    properties = dict(retry.properties)
    properties[DEAD_LETTER_REASON] = UNWRITABLE_RETRY
    properties[DEAD_LETTER_DESCRIPTION] = f"the retry copy could not be written ({problem})"
    return OutgoingMessage(retry.body, retry.message_id, properties)


async def _claim_check(
    gateway: QueueGateway,
    letter: OutgoingMessage,
    problem: str,
    checks: ClaimChecks | None,
    sleep: Sleep,
) -> None:
    """Keep a letter Service Bus refused for good: its whole message in the claim-check table,
    and a small pointer letter in the dead-letter queue when that queue takes one."""
    if problem != "too_large":
        DEAD_LETTERS.unwritable(
            f"dead_letter_queue_{problem}",
            f"the dead-letter queue is {problem}: letters are kept in the claim-check table",
        )
    if checks is None:
        raise SettlementError(f"a letter cannot be written ({problem}) and no storage is set")
    try:
        reference = await checks.park(letter, problem)
    except Exception as error:
        log.error("could not keep a letter in the claim-check table (%s)", type(error).__name__)
        raise SettlementError("a letter could be written nowhere") from error
    DEAD_LETTERS.parked += 1
    log.warning("letter %s kept in the claim-check table (%s)", letter.message_id, problem)
    if problem != "too_large":
        return  # the dead-letter queue itself is the problem: the row is the letter
    pointer = pointer_letter(letter, reference)
    if await _write_with_backoff(gateway.dead_letter, [pointer], sleep) is not None:
        log.warning("no pointer letter for %s: the claim-check row alone", letter.message_id)


async def with_kept_bodies(
    messages: Sequence[IncomingMessage],
) -> tuple[list[IncomingMessage], set[int]]:
    """Messages whose body was kept in the claim-check table (a replayed pointer letter carries
    `claim_check`) get their body back; the positions whose body could not be read."""
    found = list(messages)
    unreadable: set[int] = set()
    for position, message in enumerate(messages):
        reference = message.properties.get(CLAIM_CHECK)
        if not isinstance(reference, str):
            continue
        checks = claim_checks()
        try:
            if checks is None:
                raise LookupError("no storage account is set")
            kept = await checks.read(reference)
        except Exception as error:
            log.warning("message %s: its kept body is unreadable (%s)", message.message_id,
                        type(error).__name__)  # fmt: skip
            unreadable.add(position)
            continue
        properties = {k: v for k, v in message.properties.items() if k != CLAIM_CHECK}
        found[position] = dataclasses.replace(message, body=kept.body, properties=properties)
    return found, unreadable
