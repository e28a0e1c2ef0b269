"""Figure: the direct path, latency the bridge adds to a webhook, p50 and p99 in milliseconds.

The HTTP trigger in direct mode (no queue) delivers each webhook to the emulator (its own process
on the other core, no emulated latency). Per webhook, the time from the trigger being awaited to
its answer, minus the time its MoEngage requests took on the wire (from httpx sending the request
to the response being read): what is left is the bridge's own work (authentication, parsing,
mapping, planning, the HTTP client's bookkeeping, the answer and the log line). Connections are
reused across webhooks, as in one worker process."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import azure.functions as func
import httpx

from benchmarks.bodies import BodyFactory
from benchmarks.fig_handler import build_requests
from benchmarks.harness import Context, EmulatorProcess, Figure, use_settings
from benchmarks.layout import module

TARGET_P50_MS, TARGET_P99_MS = 0.5, 3.0
Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _measure(handler: Handler, requests: list[func.HttpRequest]) -> list[float]:
    """The bridge's share of each webhook's latency, in seconds."""
    wire: list[float] = []
    original = httpx.AsyncClient.send

    async def timed_send(self: httpx.AsyncClient, *args: object, **kwargs: object) -> object:
        started = time.perf_counter()
        response = await original(self, *args, **kwargs)  # type: ignore[arg-type]
        await response.aread()
        wire.append(time.perf_counter() - started)
        return response

    httpx.AsyncClient.send = timed_send  # type: ignore[method-assign]
    added = []
    try:
        for request in requests:
            wire.clear()
            started = time.perf_counter()
            response = await handler(request)
            total = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"the webhook answered {response.status_code}")
            added.append(total - sum(wire))
    finally:
        httpx.AsyncClient.send = original  # type: ignore[method-assign]
    return added


def run(context: Context) -> Figure:
    factory = BodyFactory(seed=5)
    count = context.size(3000, 40)
    with EmulatorProcess(latency_ms=0.0) as emulator:
        use_settings(emulator.base_url)
        import function_app

        CLIENTS = module("bridge.deployment.runtime").CLIENTS

        handler: Handler = function_app.kognitiv_webhook.build().get_user_function()

        async def measure() -> list[float]:
            try:
                await _measure(handler, _direct(build_requests(factory, context.size(300, 10))))
                return await _measure(handler, _direct(build_requests(factory, count)))
            finally:
                await CLIENTS.aclose()

        added = asyncio.run(measure())
    p50, p99 = _percentile(added, 0.50) * 1000, _percentile(added, 0.99) * 1000
    return Figure(
        key="direct",
        title="direct path: latency the bridge adds, p50 (ms)",
        value=round(p50, 3),
        unit="ms",
        target=f"≤ {TARGET_P50_MS} / {TARGET_P99_MS} (p50 / p99)",
        met=p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS,
        anchor="MoEngage's own answer time is not counted",
        details={
            "p50_ms": round(p50, 3),
            "p99_ms": round(p99, 3),
            "mean_ms": round(statistics.fmean(added) * 1000, 3),
            "webhooks": count,
        },
        note=f"p50 {p50:.2f} ms, p99 {p99:.2f} ms over {count:,} webhooks",
    )


def _direct(requests: list[func.HttpRequest]) -> list[func.HttpRequest]:
    """The same requests without `?dry_run=true`: delivered for real."""
    return [
        func.HttpRequest(
            request.method,
            request.url.split("?", 1)[0],
            headers=dict(request.headers),
            params={},
            route_params=dict(request.route_params),
            body=request.get_body(),
        )
        for request in requests
    ]
