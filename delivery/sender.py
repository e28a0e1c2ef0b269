"""Send MoEngage elements: auth, chunking, retries with backoff and jitter, rate-limit waits,
413 splitting. Transient failures (429, 5xx, timeouts, resets) are retried inside a time budget;
permanent ones (400/401/403/409/415) never are."""

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

from delivery.errors import DeliveryError, MoEngageRejected, MoEngageUnavailable
from delivery.http import read_capped
from delivery.payloads import (
    MAX_BULK_BYTES,
    PlannedRequest,
    chunk_indexes,
    encode_element,
    plan_requests,
    request_for,
)
from delivery.ratelimit import RateLimitGate, seconds_until_reset
from delivery.target import MoEngageTarget


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up; `budget` bounds the whole delivery in seconds."""

    attempts: int = 6
    initial_backoff: float = 0.2
    max_backoff: float = 4.0
    budget: float = 10.0


@dataclass
class ChunkResult:
    """What happened to the elements at `indexes`: delivered (error None) or not."""

    indexes: tuple[int, ...]
    error: DeliveryError | None = None
    request_id: str | None = None
    sent: bool = True


@dataclass
class DeliveryReport:
    results: list[ChunkResult] = field(default_factory=list)
    http_requests: int = 0

    @property
    def delivered(self) -> int:
        return sum(len(r.indexes) for r in self.results if r.error is None)

    @property
    def request_ids(self) -> list[str]:
        return [r.request_id for r in self.results if r.request_id]

    @property
    def first_error(self) -> DeliveryError | None:
        return next((r.error for r in self.results if r.error is not None), None)


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
    ) -> None:
        self.target = target
        self.client = client
        self.policy = policy or RetryPolicy()
        self.gate = gate or RateLimitGate()
        self._sleep = sleep
        self.max_bytes = max_bytes
        self.http_requests = 0

    def plan(self, elements: Sequence[dict]) -> list[PlannedRequest]:
        """The requests `deliver` would make first (for dry runs and previews)."""
        return plan_requests(elements, self.max_bytes)

    async def deliver(self, elements: Sequence[dict]) -> DeliveryReport:
        """Send every element; stop at the first failure (later chunks are left unsent) and
        raise it, carrying how many elements MoEngage had already accepted."""
        report = await self.deliver_all(elements, stop_after_failure=True)
        error = report.first_error
        if error is not None:
            error.delivered = report.delivered
            raise error
        return report

    async def deliver_all(
        self, elements: Sequence[dict], *, stop_after_failure: bool = False
    ) -> DeliveryReport:
        """Send every element and report per chunk. After a credentials or availability
        failure the remaining chunks are not sent (they would fail the same way)."""
        encoded = [encode_element(element) for element in elements]
        kinds = [str(element.get("type")) for element in elements]
        started = self.http_requests
        deadline = time.monotonic() + self.policy.budget
        report = DeliveryReport()
        halt: DeliveryError | None = None
        for chunk in chunk_indexes(encoded, self.max_bytes):
            if halt is not None:
                report.results.append(ChunkResult(tuple(chunk), halt, sent=False))
                continue
            results = await self._send_splitting(encoded, kinds, chunk, deadline)
            report.results.extend(results)
            for result in results:
                error = result.error
                if error is None:
                    continue
                stops = stop_after_failure or isinstance(error, MoEngageUnavailable)
                if stops or (isinstance(error, MoEngageRejected) and error.is_configuration_error):
                    halt = error
        report.http_requests = self.http_requests - started
        return report

    async def _send_splitting(
        self, encoded: list[bytes], kinds: list[str], chunk: list[int], deadline: float
    ) -> list[ChunkResult]:
        request = request_for(encoded, kinds, chunk)
        try:
            request_id = await self._send_with_retries(request, deadline)
            return [ChunkResult(request.indexes, None, request_id)]
        except _TooLarge:
            if len(chunk) == 1:
                return [ChunkResult(request.indexes, MoEngageRejected(413))]
            middle = len(chunk) // 2
            first = await self._send_splitting(encoded, kinds, chunk[:middle], deadline)
            if any(r.error for r in first):
                rest = first[-1].error
                return [*first, ChunkResult(tuple(chunk[middle:]), rest, sent=False)]
            return first + await self._send_splitting(encoded, kinds, chunk[middle:], deadline)
        except DeliveryError as error:
            return [ChunkResult(request.indexes, error)]

    async def _send_with_retries(self, request: PlannedRequest, deadline: float) -> str | None:
        budget = max(0.0, deadline - time.monotonic())
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts) | stop_before_delay(budget),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post(request, deadline)
        except _Transient as failure:
            raise MoEngageUnavailable(failure.reason, failure.retry_after) from None
        return None  # pragma: no cover - AsyncRetrying always returns or raises

    def _wait(self, state: RetryCallState) -> float:
        backoff = wait_random_exponential(
            multiplier=self.policy.initial_backoff, max=self.policy.max_backoff
        )(state)
        return max(backoff, self.gate.remaining())

    async def _post(self, request: PlannedRequest, deadline: float) -> str | None:
        remaining = deadline - time.monotonic()
        if self.gate.remaining() > remaining:
            raise _Transient("HTTP 429 rate limited", self.gate.remaining())
        await self.gate.wait()
        timeout = httpx.Timeout(max(0.5, min(8.0, deadline - time.monotonic())), connect=3.0)
        self.http_requests += 1
        try:
            async with self.client.stream(
                "POST",
                self.target.url(request.kind),
                content=request.body,
                headers=self.target.headers,
                timeout=timeout,
            ) as response:
                raw = await read_capped(response)
        except httpx.TimeoutException as error:
            raise _Transient(f"timeout ({type(error).__name__})") from None
        except httpx.TransportError as error:
            raise _Transient(f"connection failed ({type(error).__name__})") from None
        return self._classify(response, raw)

    def _classify(self, response: httpx.Response, raw: bytes) -> str | None:
        status = response.status_code
        answer = _parse(raw)
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        request_id = answer.get("request_id") or error.get("request_id")
        if 200 <= status < 300:
            if response.headers.get("x-ratelimit-remaining", "").strip() == "0":
                wait = seconds_until_reset(response.headers)
                if wait:
                    self.gate.block_for(wait)
            return request_id if isinstance(request_id, str) else None
        if status == 429:
            wait = seconds_until_reset(response.headers)
            if wait is not None:
                self.gate.block_for(wait)
            raise _Transient("HTTP 429 rate limited", wait)
        if status >= 500 or status == 408:
            raise _Transient(f"HTTP {status}", seconds_until_reset(response.headers))
        if status == 413:
            raise _TooLarge
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
        rid = request_id if isinstance(request_id, str) else None
        raise MoEngageRejected(status, error_type and error_type[:80], rid and rid[:64])


def _parse(raw: bytes) -> dict:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
