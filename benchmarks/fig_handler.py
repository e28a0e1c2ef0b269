"""Figure 2: the HTTP trigger in dry-run, webhooks per second on one core.

The decorated function itself (`function_app.kognitiv_webhook`) is called with real
`azure.functions.HttpRequest` objects and `?dry_run=true`: function-key routing is the host's,
everything after it is ours (Kognitiv bearer-token check, body checks, mapping, the JSON answer,
the structured log line). Requests are built beforehand: building them is the worker's job.

The headline runs with INFO records made and handed to a handler, as in the Functions worker.
`json_ratio_without_info_lines` is the same loop with the bridge's logger at WARNING (what a
process that never configured logging does: Python's default level makes no INFO record), so
the log line's share can be read off the two."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

import azure.functions as func

from benchmarks.bodies import BodyFactory
from benchmarks.harness import KOGNITIV_TOKEN, Context, Figure, cpu_clock, use_settings

TARGET = 20_000
Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]


def build_requests(factory: BodyFactory, count: int) -> list[func.HttpRequest]:
    requests = []
    for body in factory.stream(count):
        route = {"event": body.event} if body.event else {}
        url = "https://bench.azurewebsites.net/api/kognitiv" + (f"/{body.event}" * bool(body.event))
        requests.append(
            func.HttpRequest(
                "POST",
                url + "?dry_run=true",
                headers={
                    "Authorization": f"Bearer {KOGNITIV_TOKEN}",
                    "Content-Type": "application/json",
                },
                params={"dry_run": "true"},
                route_params=route,
                body=body.raw,
            )
        )
    return requests


async def _pass(handler: Handler, requests: Sequence[func.HttpRequest]) -> float:
    started = cpu_clock()
    for request in requests:
        response = await handler(request)
        if response.status_code != 200:
            raise RuntimeError(f"the dry run answered {response.status_code}")
    return cpu_clock() - started


def _json_round_trips(requests: Sequence[func.HttpRequest]) -> float:
    """CPU seconds of `json.dumps(json.loads(body))` over the same bodies."""
    bodies = [request.get_body() for request in requests]
    started = cpu_clock()
    for body in bodies:
        json.dumps(json.loads(body))
    return cpu_clock() - started


def run(context: Context) -> Figure:
    use_settings()
    import function_app

    handler: Handler = function_app.kognitiv_webhook.build().get_user_function()
    factory = BodyFactory(seed=2)
    count, rounds = context.size(5000, 50), context.size(7, 2)

    async def measure() -> tuple[float, float]:
        await _pass(handler, build_requests(factory, count))  # warm
        # new bodies every round: no cache is served by an earlier round; the JSON round trip
        # of the same bodies is timed in the same rounds (the ratio's denominator)
        best, json_best = float("inf"), float("inf")
        for _ in range(rounds):
            requests = build_requests(factory, count)
            best = min(best, await _pass(handler, requests))
            json_best = min(json_best, _json_round_trips(requests))
        return best, json_best

    best, json_best = asyncio.run(measure())
    logger = logging.getLogger("kognitiv_bridge")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        quiet, quiet_json = asyncio.run(measure())
    finally:
        logger.setLevel(level)
    rate = count / best
    json_ratio = best / json_best
    return Figure(
        key="handler",
        title="HTTP handler, dry run (webhooks/s, one core)",
        value=round(rate),
        unit="/s",
        target=f"≥ {TARGET:,}",
        met=rate >= TARGET,
        anchor="MoEngage event API ceiling 500/s (30,000/min)",
        details={
            "us_per_webhook": round(best / count * 1e6, 1),
            "json_us_per_body": round(json_best / count * 1e6, 2),
            "json_ratio": round(json_ratio, 2),
            "json_ratio_without_info_lines": round(quiet / quiet_json, 2),
            "webhooks_per_round": count,
        },
        note=f"{best / count * 1e6:.1f} µs per webhook, {json_ratio:.1f}x a JSON round trip",
    )
