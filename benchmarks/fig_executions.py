"""Figure 5: function executions per 1,000 queued events at steady load: a MODEL, not an Azure
measurement.

A simulation of one Functions host's Service Bus listener with host.json's batch settings:
after an execution ends, the listener takes what is in the queue if there are at least
`minMessageBatchSize` messages (at most `maxMessageBatchSize`); otherwise it waits until there
are that many or `maxBatchWaitTime` has passed since it started waiting (an empty queue waits for
the first message), and dispatches what it has. Events arrive at a steady rate. An execution
lasts one 20 ms MoEngage round trip per 100 KB request plus 60 µs per message (the order of
figures 1 and 3). Scale-out to several instances, which would split the same traffic into more
executions, is not modelled."""

from __future__ import annotations

import math
import re

from benchmarks.harness import Context, Figure
from benchmarks.queue_driver import host_service_bus_settings

TARGET = 10
STEADY_RATE = 500.0  # events/s: MoEngage's event API ceiling (30,000/min)
RATES = (1.0, 5.0, 20.0, 50.0, 100.0, 500.0, 1_000.0, 5_000.0)
ROUND_TRIP = 0.020
PER_MESSAGE = 60e-6
MESSAGES_PER_REQUEST = 300  # ~330-byte elements in 100 KB requests


def _seconds(text: str) -> float:
    """A host.json TimeSpan, "hh:mm:ss[.fff]"."""
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", text)
    if not match:
        raise ValueError(f"not a TimeSpan: {text!r}")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def execution_seconds(messages: int) -> float:
    return math.ceil(messages / MESSAGES_PER_REQUEST) * ROUND_TRIP + messages * PER_MESSAGE


def simulate(
    rate: float, events: int, min_batch: int, max_batch: int, max_wait: float
) -> tuple[int, float]:
    """(executions, mean batch size) for `events` arriving every 1/rate seconds."""
    interval = 1.0 / rate
    taken = executions = 0
    now = 0.0

    def arrived(moment: float) -> int:  # messages that have arrived by `moment`
        return min(events, math.floor(moment / interval + 1e-9) + 1)

    while taken < events:
        waiting_since = max(now, taken * interval)  # an empty queue waits for a first message
        if arrived(waiting_since) - taken >= min_batch:
            dispatch = waiting_since
        else:
            full = (taken + min_batch - 1) * interval  # when the min_batch-th message arrives
            dispatch = min(full, waiting_since + max_wait)
        batch = min(arrived(dispatch) - taken, max_batch)
        taken += batch
        executions += 1
        now = dispatch + execution_seconds(batch)
    return executions, events / executions


def run(context: Context) -> Figure:
    settings = host_service_bus_settings()
    min_batch = int(settings["minMessageBatchSize"])  # type: ignore[call-overload]
    max_batch = int(settings["maxMessageBatchSize"])  # type: ignore[call-overload]
    max_wait = _seconds(str(settings["maxBatchWaitTime"]))
    sweep: dict[str, dict[str, float]] = {}
    for rate in RATES:
        events = context.size(max(20_000, int(rate * 600)), 2_000)
        executions, mean = simulate(rate, events, min_batch, max_batch, max_wait)
        sweep[f"{rate:g}/s"] = {
            "executions_per_1000": round(executions / events * 1000, 1),
            "mean_batch": round(mean, 1),
        }
    steady = sweep[f"{STEADY_RATE:g}/s"]["executions_per_1000"]
    lowest = next(
        (rate for rate, row in sweep.items() if row["executions_per_1000"] <= TARGET), "none"
    )
    return Figure(
        key="executions",
        title=f"function executions per 1,000 events at {STEADY_RATE:g} events/s (model)",
        value=steady,
        unit="exec",
        target=f"≤ {TARGET}",
        met=steady <= TARGET,
        anchor="direct webhook 1,000",
        details={
            "model": "one listener, steady arrivals, host.json batch settings",
            "min_batch": min_batch,
            "max_batch": max_batch,
            "max_wait_s": max_wait,
            "sweep": sweep,
            "lowest_rate_meeting_target": lowest,
        },
        note=f"model; ≤ {TARGET} from {lowest} up (host.json batch {min_batch}-{max_batch})",
    )
