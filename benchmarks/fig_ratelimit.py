"""Figure 6: the client-side rate limit. `replay` (bridge.ops.replay.Replayer, set up as the CLI
sets it up) is offered 120 % of the emulator's per-minute quota for two minutes, i.e. 2.4 x
quota elements, with `--rate` at 90 % of the quota. Counted: the 429 answers received, by the
emulator's fixed one-minute window, and whether every event was delivered.

The run starts half a second into one of the emulator's windows (it waits for one), so the
outcome does not depend on when the suite happens to reach this figure: with a leaky-bucket
limiter, how a run straddles the quota's fixed windows decides how many 429s it meets.

Takes about (2.4 - 0.9) / 0.9 minutes plus any waits after 429s: two to three minutes."""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.bodies import Body, BodyFactory, replay_line
from benchmarks.harness import Context, EmulatorProcess, Figure, use_settings
from bridge.common.version import USER_AGENT
from bridge.deployment.runtime import current_runtime
from bridge.ops.replay import Replayer, ReplayOptions
from delivery import MoEngageSender, RetryPolicy
from delivery.http import new_client

QUOTA = 30_000  # elements per minute: MoEngage's event API ceiling (the lower of the two)
QUICK_QUOTA = 600
OFFERED = 1.2  # times the quota, per minute
MINUTES = 2.0
RATE_SHARE = 0.9  # --rate as a share of the quota
WINDOW = 60.0


def _elements(body: Body) -> int:
    return 2 if body.kind == "member_enrolled" else 1


def offered_bodies(elements: int) -> list[Body]:
    bodies: list[Body] = []
    total = 0
    for body in BodyFactory(seed=6).stream(elements * 2):
        if total >= elements:
            break
        bodies.append(body)
        total += _elements(body)
    return bodies


async def _replay(path: Path, rate: float, rate_limited: list[float]) -> dict[str, object]:
    runtime = current_runtime()
    options = ReplayOptions(path=path, rate_per_minute=rate, restart=True)
    async with new_client(USER_AGENT) as client:
        policy = RetryPolicy(attempts=8, max_backoff=30.0, budget=120.0)  # as bridge.cli
        sender = MoEngageSender(
            runtime.target,
            client,
            policy,
            gate=runtime.gate,
            on_rate_limit=lambda _: rate_limited.append(time.time()),
        )
        summary = await Replayer(runtime, sender, options).run()
    return summary.as_dict()


def _start_of_next_window(offset: float = 0.5) -> None:
    time.sleep((WINDOW - time.time() % WINDOW + offset) % WINDOW)


def run(context: Context) -> Figure:
    quota = context.size(QUOTA, QUICK_QUOTA)
    minutes = MINUTES if not context.quick else 0.1
    rate = quota * RATE_SHARE
    bodies = offered_bodies(int(quota * OFFERED * minutes))
    elements = sum(_elements(body) for body in bodies)
    rate_limited: list[float] = []
    with EmulatorProcess(quota_per_minute=quota) as emulator, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "offered.jsonl"
        path.write_bytes(b"".join(replay_line(body) + b"\n" for body in bodies))
        use_settings(emulator.base_url)
        if not context.quick:
            _start_of_next_window()
        started = time.time()
        summary = asyncio.run(_replay(path, rate, rate_limited))
        seconds = time.time() - started
        statuses = Counter(r["status"] for r in emulator.requests())
    first_window = math.floor(started / WINDOW)
    by_window = Counter(math.floor(moment / WINDOW) - first_window for moment in rate_limited)
    later = sum(count for window, count in by_window.items() if window > 0)
    delivered_all = summary["delivered"] == len(bodies) and summary["failed"] == 0
    return Figure(
        key="rate-limit",
        title="429s after the first window, replay at 120 % of quota, --rate 90 %",
        value=later,
        unit="429s",
        target="0, all delivered",
        met=later == 0 and delivered_all,
        anchor="MoEngage answers 429 past its quota; the direct webhook has no limiter",
        details={
            "quota_per_minute": quota,
            "rate_per_minute": rate,
            "offered_elements": elements,
            "lines": len(bodies),
            "delivered_lines": summary["delivered"],
            "failed_lines": summary["failed"],
            "seconds": round(seconds, 1),
            "run_started_s_into_window": round(started % WINDOW, 1),
            "429_by_window": {str(k): v for k, v in sorted(by_window.items())},
            "emulator_statuses": {str(k): v for k, v in sorted(statuses.items())},
        },
        note=(
            f"{sum(by_window.values())} 429s in all ({by_window.get(0, 0)} in the first window); "
            f"{summary['delivered']}/{len(bodies)} lines delivered in {seconds:.0f} s"
        ),
    )
