"""Send MoEngage elements: auth, chunking, retries with backoff and jitter, rate-limit waits,
413 splitting. Transient failures (429, 5xx, timeouts, resets) are retried inside a time budget;
permanent ones (400/401/403/409/415) never are. Requests go phase by phase (a delete or a merge
is a barrier, see `delivery.payloads`); a failure that will be retried holds every later phase,
so nothing planned after an erasure can reach MoEngage before it, nor anything before it after.
Delete User answering "Not Found" (the member is not in MoEngage, or was erased already) counts
as done: the member is gone either way."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_random_exponential,
)

from delivery.errors import (
    DeliveryError,
    MoEngageRejected,
    MoEngageUnavailable,
    is_delete_not_found,
    is_delete_users_problem,
)
from delivery.http import read_capped
from delivery.payloads import MAX_BULK_BYTES, EncodedUnits, PlannedRequest, Slot
from delivery.ratelimit import RateLimitGate, seconds_until_reset
from delivery.target import MoEngageTarget

MAX_CONCURRENT_REQUESTS = 4  # bulk requests of one delivery in flight at once


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; `budget` bounds the whole delivery in seconds."""

    attempts: int = 6
    initial_backoff: float = 0.2
    max_backoff: float = 4.0
    budget: float = 10.0


@dataclass(frozen=True)
class Answer:
    """MoEngage accepted a request; `not_found`: Delete User had no such member."""

    request_id: str | None = None
    not_found: bool = False


@dataclass
class ChunkResult:
    """What happened to the elements at `slots`: delivered (error None) or not (sent and
    refused, or never sent because an earlier chunk halted the delivery)."""

    slots: tuple[Slot, ...]
    error: DeliveryError | None = None
    request_id: str | None = None
    not_found: bool = False


@dataclass
class DeliveryReport:
    results: list[ChunkResult] = field(default_factory=list)
    http_requests: int = 0

    @property
    def delivered(self) -> int:
        return sum(len(r.slots) for r in self.results if r.error is None)

    @property
    def request_ids(self) -> list[str]:
        return [r.request_id for r in self.results if r.request_id]

    @property
    def first_error(self) -> DeliveryError | None:
        return next((r.error for r in self.results if r.error is not None), None)

    def unit_request_ids(self, units: int) -> list[str | None]:
        """Per unit: MoEngage's request id of (the last) request that carried it."""
        ids: list[str | None] = [None] * units
        for result in self.results:
            for unit, _ in result.slots:
                ids[unit] = result.request_id or ids[unit]
        return ids

    def unit_errors(self, units: int) -> list[DeliveryError | None]:
        """Per unit: None when every element of it was accepted, else the first error."""
        errors: list[DeliveryError | None] = [None] * units
        for result in self.results:
            if result.error is not None:
                for unit, _ in result.slots:
                    errors[unit] = errors[unit] or result.error
        return errors


def halts(error: DeliveryError | None) -> bool:
    """After these, later requests would fail the same way: do not send them."""
    if isinstance(error, MoEngageUnavailable):
        return True
    return isinstance(error, MoEngageRejected) and error.is_configuration_error


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _TooLarge(Exception):
    pass


Sleep = Callable[[float], Awaitable[object]]


class MoEngageSender:
    """Delivers elements to one MoEngage workspace through a shared httpx client."""

    def __init__(
        self,
        target: MoEngageTarget,
        client: httpx.AsyncClient,
        policy: RetryPolicy | None = None,
        gate: RateLimitGate | None = None,
        sleep: Sleep = asyncio.sleep,
        max_bytes: int = MAX_BULK_BYTES,
        on_rate_limit: Callable[[float | None], object] | None = None,
        on_request: Callable[[dict[str, object]], object] | None = None,
    ) -> None:
        self.target = target
        self.client = client
        self.policy = policy or RetryPolicy()
        self.gate = gate or RateLimitGate()
        self._sleep = sleep
        self.max_bytes = max_bytes
        self.on_rate_limit = on_rate_limit
        self.on_request = on_request
        self.http_requests = 0

    async def deliver(self, elements: Sequence[dict]) -> DeliveryReport:
        """Send one webhook's elements; raise the first failure, carrying how many elements
        MoEngage had already accepted."""
        report = await self.deliver_units([elements])
        error = report.first_error
        if error is not None:
            error.delivered = report.delivered
            raise error
        return report

    async def deliver_units(
        self, units: Sequence[Sequence[dict]], budget: float | None = None
    ) -> DeliveryReport:
        """Send many units (one per queue message), packed into as few requests as fit, and
        report per chunk. A unit's track elements travel together, so it is delivered or not
        as a whole. Phases go one after the other (see `delivery.payloads`); inside one, up to
        MAX_CONCURRENT_REQUESTS chunks are in flight at once (each waits out MoEngage's latency
        in parallel). After a credentials or availability failure no further chunk is started
        (those already in flight finish and are reported as they end), in this phase or any
        later one: what is planned after a failure that will be retried waits for the retry.
        `budget` (seconds) shortens the policy's budget: what is left of a caller's own."""
        encoded = EncodedUnits(units)
        started = self.http_requests
        allowed = self.policy.budget if budget is None else min(budget, self.policy.budget)
        deadline = time.monotonic() + max(0.0, allowed)
        results: list[ChunkResult] = []
        halt: DeliveryError | None = None
        for phase in encoded.phases(self.max_bytes):
            if halt is not None:
                results.extend(ChunkResult(tuple(chunk), halt) for chunk in phase)
                continue
            phase_results = await self._send_phase(encoded, phase, deadline)
            results.extend(phase_results)
            halt = next((r.error for r in phase_results if halts(r.error)), None)
        report = DeliveryReport(results)
        report.http_requests = self.http_requests - started
        return report

    async def _send_phase(
        self, encoded: EncodedUnits, chunks: list[list[Slot]], deadline: float
    ) -> list[ChunkResult]:
        outcomes: list[list[ChunkResult]] = [[] for _ in chunks]
        halt: DeliveryError | None = None
        in_flight = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def send(index: int, chunk: list[Slot]) -> None:
            nonlocal halt
            async with in_flight:
                if halt is not None:
                    outcomes[index] = [ChunkResult(tuple(chunk), halt)]
                    return
                outcomes[index] = await self._send_splitting(encoded, chunk, deadline)
                halt = halt or next((r.error for r in outcomes[index] if halts(r.error)), None)

        if len(chunks) == 1:
            await send(0, chunks[0])
        else:
            try:
                async with asyncio.TaskGroup() as group:
                    for index, chunk in enumerate(chunks):
                        group.create_task(send(index, chunk))
            except ExceptionGroup as failed:  # an unexpected error, raised as it would be alone
                raise failed.exceptions[0] from None
        return [result for results in outcomes for result in results]

    async def _send_splitting(
        self, encoded: EncodedUnits, slots: Sequence[Slot], deadline: float
    ) -> list[ChunkResult]:
        """Send; on 413 split in halves, and on a 400 naming an element of a request mixing
        several units split by unit, so one bad message cannot sink the others (a 400 naming
        nothing is the account's: splitting would only multiply it)."""
        request = encoded.request(slots)
        try:
            answer = await self._send_with_retries(request, deadline)
            return [ChunkResult(request.slots, None, answer.request_id, answer.not_found)]
        except _TooLarge:
            if len(slots) == 1:
                return [ChunkResult(request.slots, MoEngageRejected(413))]
            first, second = _halves(slots, by_unit=False)
        except MoEngageRejected as error:
            if error.status != 400 or error.is_account_level or len(request.units) < 2:
                return [ChunkResult(request.slots, error)]
            first, second = _halves(slots, by_unit=True)
        except DeliveryError as error:
            return [ChunkResult(request.slots, error)]
        results = await self._send_splitting(encoded, first, deadline)
        halt = next((r.error for r in results if halts(r.error)), None)
        if halt is not None:
            return [*results, ChunkResult(tuple(second), halt)]
        return results + await self._send_splitting(encoded, second, deadline)

    async def _send_with_retries(self, request: PlannedRequest, deadline: float) -> Answer:
        """The first attempt goes straight out (most succeed; building the retry loop costs
        tens of µs); only a transient failure enters `_retry`, as its attempt 1."""
        started = time.monotonic()
        try:
            return await self._post(request, deadline)
        except _Transient as failure:
            return await self._retry(request, deadline, failure, started)

    async def _retry(
        self, request: PlannedRequest, deadline: float, first: _Transient, started: float
    ) -> Answer:
        """Attempts 2 to `policy.attempts` after `first` failed: tenacity's loop replays that
        failure as its attempt 1, so attempt numbers, backoff (`_wait`) and the stop conditions
        are those of one loop begun at `started`; the budget counts the first attempt's time."""
        budget = max(0.0, deadline - started) - (time.monotonic() - started)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts) | stop_before_delay(budget),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        replay: _Transient | None = first
        try:
            async for attempt in retrying:
                with attempt:
                    if replay is not None:
                        failed, replay = replay, None
                        raise failed
                    return await self._post(request, deadline)
        except _Transient as failure:
            raise MoEngageUnavailable(failure.reason, failure.retry_after) from None
        raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying returns or raises

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(
            multiplier=self.policy.initial_backoff, max=self.policy.max_backoff
        )(state)
        return max(backoff, self.gate.remaining())

    async def _post(self, request: PlannedRequest, deadline: float) -> Answer:
        remaining = deadline - time.monotonic()
        if self.gate.remaining() > remaining:
            raise _Transient("HTTP 429 rate limited", self.gate.remaining())
        await self.gate.wait()
        timeout = httpx.Timeout(max(0.5, min(8.0, deadline - time.monotonic())), connect=3.0)
        self.http_requests += 1
        started = time.perf_counter()
        try:
            async with self.client.stream(
                "POST",
                self.target.parsed_url(request.kind),
                content=request.body,
                headers=self.target.headers,
                timeout=timeout,
            ) as response:
                raw = await read_capped(response)
        except httpx.TimeoutException as error:
            self._observe(request, started, failure="timeout")
            raise _Transient(f"timeout ({type(error).__name__})") from None
        except httpx.TransportError as error:
            self._observe(request, started, failure="connection_failed")
            raise _Transient(f"connection failed ({type(error).__name__})") from None
        self._observe(request, started, response=response)
        return self._classify(response, raw, request.kind)

    def _observe(
        self,
        request: PlannedRequest,
        started: float,
        response: httpx.Response | None = None,
        failure: str | None = None,
    ) -> None:
        """Tell `on_request` how one HTTP request went (the dashboard's MoEngage view): API,
        status or failure, latency, elements carried and MoEngage's rate-limit wait."""
        if self.on_request is None:
            return
        status = None if response is None else response.status_code
        wait = seconds_until_reset(response.headers) if status == 429 else None  # type: ignore[union-attr]
        self.on_request(
            {
                "api": request.kind,
                "moengage_status": status,
                "failure": failure,
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "elements": len(request.slots),
                "rate_limit_wait_s": None if wait is None else round(wait, 1),
            }
        )

    def _classify(self, response: httpx.Response, raw: bytes, kind: str) -> Answer:
        """MoEngage's answer as an Answer, or the exception that says what to do. Delete User's
        429 and 5xx carry `{"status": "fail", "title": ..., "description": ...}` instead of the
        `error` object: the title stands for the error type."""
        status = response.status_code
        answer = _parse(raw)
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        request_id = answer.get("request_id") or error.get("request_id")
        rid = request_id[:64] if isinstance(request_id, str) else None
        if 200 <= status < 300:
            if response.headers.get("x-ratelimit-remaining", "").strip() == "0":
                wait = seconds_until_reset(response.headers)
                if wait:
                    self.gate.block_for(wait)
            return Answer(rid)
        if status == 429:
            wait = seconds_until_reset(response.headers)
            if wait is not None:
                self.gate.block_for(wait)
            if self.on_rate_limit is not None:
                self.on_rate_limit(wait)
            raise _Transient("HTTP 429 rate limited", wait)
        if status >= 500 or status == 408:
            raise _Transient(f"HTTP {status}", seconds_until_reset(response.headers))
        if status == 413:
            raise _TooLarge
        error_type = error.get("type", answer.get("title"))
        error_type = error_type if isinstance(error_type, str) else None
        users_problem = False
        if kind in ("delete", "erasure") and status == 400:
            if kind == "delete" and is_delete_not_found(error_type, error.get("message")):
                return Answer(rid, not_found=True)
            users_problem = is_delete_users_problem(error_type)
        attribute = error.get("attribute") if isinstance(error.get("attribute"), str) else None
        raise MoEngageRejected(
            status,
            error_type and error_type[:80],
            rid,
            attribute=attribute,
            element_level=users_problem,
        )


def _parse(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _halves(slots: Sequence[Slot], *, by_unit: bool) -> tuple[list[Slot], list[Slot]]:
    if not by_unit:
        middle = len(slots) // 2
        return list(slots[:middle]), list(slots[middle:])
    units = sorted({unit for unit, _ in slots})
    first_units = set(units[: len(units) // 2])
    return [s for s in slots if s[0] in first_units], [s for s in slots if s[0] not in first_units]
