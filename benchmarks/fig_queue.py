"""Figure 3: the queue path to the emulator over loopback with 20 ms of emulated MoEngage
latency: events per second sustained on one core.

The emulator runs in its own process on the other core (it parses and checks every element, work
that MoEngage does, not the bridge). Batches of host.json's `maxMessageBatchSize` go through the
queue trigger one after the other, as one Functions host listener dispatches them. Three runs of
20,000 new events; the median run is the figure. The same runs with one request in flight at a
time (delivery.sender.MAX_CONCURRENT_REQUESTS = 1) are the anchor."""

from __future__ import annotations

import asyncio
import statistics
from unittest import mock

from benchmarks.bodies import BodyFactory
from benchmarks.harness import Context, EmulatorProcess, Figure
from benchmarks.queue_driver import QueueRun, batch_size, batches_of, drive
from delivery import sender

TARGET = 10_000
LATENCY_MS = 20.0


def _runs(context: Context, emulator: EmulatorProcess, factory: BodyFactory) -> list[QueueRun]:
    size = context.size(batch_size(), 50)
    runs = []
    for _ in range(context.size(3, 1)):
        batches = batches_of(factory.stream(size * context.size(40, 2)), size)
        runs.append(asyncio.run(drive(emulator.base_url, batches)))
        emulator.reset()
    return runs


def run(context: Context) -> Figure:
    factory = BodyFactory(seed=3)
    size = context.size(batch_size(), 50)
    with EmulatorProcess(latency_ms=LATENCY_MS) as emulator:
        asyncio.run(drive(emulator.base_url, batches_of(list(factory.stream(size)), size)))
        emulator.reset()
        runs = _runs(context, emulator, factory)
        with mock.patch.object(sender, "MAX_CONCURRENT_REQUESTS", 1):
            sequential = _runs(context, emulator, factory)
    median = sorted(runs, key=lambda r: r.per_second)[len(runs) // 2]
    rate = median.per_second
    one_at_a_time = statistics.median(r.per_second for r in sequential)
    per_batch_ms = [s * 1000 for s in median.batch_seconds]
    return Figure(
        key="queue",
        title=f"queue path, {LATENCY_MS:.0f} ms MoEngage latency (events/s, one core)",
        value=round(rate),
        unit="/s",
        target=f"≥ {TARGET:,}",
        met=rate >= TARGET,
        anchor=f"1 request at a time {one_at_a_time:,.0f}/s; MoEngage bulk quota 1,000/s",
        details={
            "runs_per_second": [round(r.per_second) for r in runs],
            "sequential_runs_per_second": [round(r.per_second) for r in sequential],
            "events_per_run": median.messages,
            "batch_size": size,
            "batch_ms_median": round(statistics.median(per_batch_ms), 1),
            "batch_ms_max": round(max(per_batch_ms), 1),
            "bridge_cpu_us_per_event": round(median.cpu_us_per_message, 1),
            "max_concurrent_requests": sender.MAX_CONCURRENT_REQUESTS,
            "emulator_core": emulator.core,
        },
        note=(
            f"median of {len(runs)} runs of {median.messages:,} events in batches of {size}; "
            f"median {statistics.median(per_batch_ms):.0f} ms per execution"
        ),
    )
