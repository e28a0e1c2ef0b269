"""A guard against the queue path getting slower again, without timing anything: the Python
function calls the product's own code (`bridge`, `delivery`, `mapping` and the generated rule
functions) makes per queue message of a batch of the benchmark's mix (admit, map, deliver to
the emulator, settle, log the outcome), counted with `sys.setprofile` and held to the budget in
tests/fixtures/cost_budget.json. Library code (httpx, asyncio, logging) is left out: how often
the event loop turns depends on timing, not on the bridge."""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

import pytest

from benchmarks.bodies import BodyFactory
from bridge.deployment.runtime import CLIENTS, current_runtime
from bridge.durable.messages import IncomingMessage, first_message
from bridge.queue import processor as queue_processor
from bridge.queue.outcomes import MessageOutcome, Outcome
from bridge.queue.processor import BatchProcessor
from delivery import MoEngageSender, RateLimitGate, RetryPolicy
from tests.dev.test_cost_budget import BUDGET, BUDGET_FILE, NOW
from tests.fakes import FakeGateway, VirtualClock

pytestmark = pytest.mark.usefixtures("settings_env")
ROOT = Path(__file__).resolve().parents[2]
OWN_CODE = tuple(str(ROOT / package) for package in ("bridge", "delivery", "mapping"))
BATCH = 500
RESUMABLE = inspect.CO_COROUTINE | inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
# Each version its own budget: 3.12 inlines comprehensions (fewer calls for the same code).
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _messages(factory: BodyFactory, count: int, prefix: str) -> list[IncomingMessage]:
    """What the HTTP trigger enqueues for the benchmark's mix, as the queue trigger gets it."""
    received = datetime.now(UTC) - timedelta(seconds=1)
    messages = []
    for number, body in enumerate(factory.stream(count)):
        message_id = f"{body.event or body.kind}:{prefix}{number}-{uuid.uuid4().hex}"
        out = first_message(body.raw, message_id, body.event, f"c{number}", received)
        messages.append(
            IncomingMessage(out.body, out.message_id, dict(out.properties), 1, received)
        )
    return messages


def _own_calls_per_message() -> float:
    runtime = current_runtime()
    clock = VirtualClock()
    factory = BodyFactory(seed=7, now=NOW)
    warm_up, batch = _messages(factory, 100, "w"), _messages(factory, BATCH, "b")
    calls = 0
    # A coroutine's frame raises "call" again each time it resumes, and how often an await
    # suspends depends on timing: each coroutine frame counts once (kept, so no id is reused).
    started: dict[int, FrameType] = {}

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        nonlocal calls
        if event == "call":
            code = frame.f_code
            name = code.co_filename
            if name.startswith(OWN_CODE) or name.startswith("<rule"):
                if code.co_flags & RESUMABLE:
                    if id(frame) in started:
                        return
                    started[id(frame)] = frame
                calls += 1

    async def run() -> list[MessageOutcome]:
        gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)
        sender = MoEngageSender(
            runtime.target, CLIENTS.get(), RetryPolicy(attempts=3, budget=5), gate, clock.sleep
        )
        processor = BatchProcessor(
            runtime, FakeGateway(), sender, runtime.delivered_keys, clock.wall, clock.sleep
        )
        try:
            await processor.process(warm_up)  # lazy caches, the HTTP connection
            sys.setprofile(profile)
            try:
                return await processor.process(batch)
            finally:
                sys.setprofile(None)
        finally:
            await CLIENTS.aclose()

    outcomes = asyncio.run(run())
    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED] * BATCH
    return calls / BATCH


def test_python_calls_per_queue_message_stay_within_the_budget() -> None:
    measured = _own_calls_per_message()
    budget = BUDGET["python_calls_per_queue_message"][PYTHON]
    assert measured <= budget, (
        f"{measured:.1f} Python calls of the bridge's own code per queue message, budget "
        f"{budget} ({BUDGET_FILE.name}; see BENCHMARKS.md before raising it)"
    )


def test_the_guard_catches_a_return_to_the_previous_per_message_work(monkeypatch) -> None:
    """The budget is tight enough to notice a few calls more per message: a message's delivery
    key worked out each time it is asked for, and the outcome lines written through
    `record_outcome` with the timing fields parsed by `parse_utc` again (as before)."""
    from bridge.queue import outcomes

    uncached = IncomingMessage.delivery_key.func  # type: ignore[attr-defined]
    monkeypatch.setattr(IncomingMessage, "delivery_key", property(uncached))

    def log_through_record_outcome(
        workspace, messages, ordered, members, started, now, positions=None, written=None
    ):
        done = set() if written is None else written
        for position in range(len(messages)) if positions is None else positions:
            if position in done:
                continue
            done.add(position)
            message, outcome = messages[position], ordered[position]
            enqueued = outcomes.parse_utc(message.enqueued_time)
            outcomes.record_outcome(
                workspace,
                message,
                outcome,
                logging.INFO,
                len(messages),
                members=members.get(position),
                latency_ms=1.0,
                lag_ms=_span(now, message.first_received(now)),
                queue_wait_ms=_span(now, enqueued),
            )

    monkeypatch.setattr(queue_processor, "log_outcomes", log_through_record_outcome)
    assert _own_calls_per_message() > BUDGET["python_calls_per_queue_message"][PYTHON]


def _span(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds() * 1000, 1)
