"""The `queue_message` lines of a batch: exactly one per message per processing, delivered
lines written as their wave ends (while later waves still wait for MoEngage), retries and dead
letters only once their copies are written. Batches go to the MoEngage emulator over real
sockets; time is virtual except where a test says otherwise."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bridge.deployment.runtime import CLIENTS, current_runtime
from bridge.durable.messages import EVENT, IDEMPOTENCY_KEY, IncomingMessage
from bridge.queue import processor as queue_processor
from bridge.queue.outcomes import MessageOutcome, Outcome, delivered_outcome, log_outcomes
from bridge.queue.processor import BatchProcessor
from bridge.queue.settlement import SETTLE_ATTEMPTS, SettlementError
from delivery import MoEngageSender, RateLimitGate, RetryPolicy
from moengage_emulator.contract import fail_body
from tests.conftest import fixture_body

pytestmark = pytest.mark.usefixtures("settings_env")

UNAVAILABLE = {"status": 503, "times": 3}  # every attempt of the wave's request
REFUSED = {
    "status": 400,
    "times": 2,  # the wave's request, then the refused element's own (the request is bisected)
    "body": fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError"),
}


def message(
    member: str, message_id: str, key: str | None = None, enqueued: datetime | None = None
) -> IncomingMessage:
    body = fixture_body("rewards_issued")
    body["memberId"] = member
    properties = {EVENT: "rewards_issued"}
    if key:
        properties[IDEMPOTENCY_KEY] = key
    raw = json.dumps(body).encode()
    return IncomingMessage(raw, message_id, properties, enqueued_time=enqueued)


class OneWaveAtATime:
    """The real sender to the emulator, one wave's delivery at a time, so MoEngage's answer
    to a chosen wave (named by a member it carries) can be set: `faults` are injected just
    before that wave's request; `hold` makes that wave wait for `release` first."""

    def __init__(self, sender: MoEngageSender, moengage, faults=None, hold: str | None = None):
        self.sender = sender
        self.moengage = moengage
        self.faults = faults or {}
        self.hold = hold
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.lock = asyncio.Lock()

    def __getattr__(self, name: str):
        return getattr(self.sender, name)

    async def deliver_units(self, units, budget):
        members = {element["customer_id"] for unit in units for element in unit}
        if self.hold in members:
            self.held.set()
            await self.release.wait()
        async with self.lock:
            for member, fault in self.faults.items():
                if member in members:
                    self.moengage.inject(**fault)
            return await self.sender.deliver_units(units, budget=budget)


@pytest.fixture
def waves_of_two(monkeypatch):
    monkeypatch.setattr(queue_processor, "WAVE_SIZE", 2)


@pytest.fixture
def lines(caplog):
    """The `queue_message` lines written so far, parsed."""
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")

    def written() -> list[dict]:
        found = []
        for record in caplog.records:
            text = record.getMessage()
            if record.name == "kognitiv_bridge" and text.startswith('{"kind":"queue_message"'):
                found.append(json.loads(text))
        return found

    return written


def make_processor(clock, gateway, moengage, **sending) -> tuple[BatchProcessor, OneWaveAtATime]:
    runtime = current_runtime()
    gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)
    real = MoEngageSender(
        runtime.target, CLIENTS.get(), RetryPolicy(attempts=3, budget=5), gate, clock.sleep
    )
    sender = OneWaveAtATime(real, moengage, **sending)
    processor = BatchProcessor(
        runtime, gateway, sender, runtime.delivered_keys, clock.wall, clock.sleep
    )
    return processor, sender


def mixed_batch() -> list[IncomingMessage]:
    """Waves of two: {good-0, copy-a}, {retry-0, retry-1}, {refused, good-9}, {good-10,
    good-11}; copy-b, broken and before are decided at admission."""
    return [
        message("6000", "good-0"),
        message("6001", "copy-a", key="k1"),
        message("6001", "copy-b", key="k1"),  # another copy of copy-a's event: duplicate
        IncomingMessage(b"{not json", "broken", {EVENT: "rewards_issued"}),
        message("6004", "before"),  # delivered by an earlier batch
        message("6005", "retry-0"),
        message("6006", "retry-1"),
        message("6007", "refused"),
        message("6009", "good-9"),
        message("6010", "good-10"),
        message("6011", "good-11"),
    ]


def summary(line: dict) -> tuple:
    return line["message_id"], line["outcome"], line.get("reason")


async def test_every_message_of_a_batch_of_several_waves_gets_exactly_one_line(
    waves_of_two, clock, gateway, moengage, lines
):
    faults = {"6005": UNAVAILABLE, "6007": REFUSED}
    processor, _ = make_processor(clock, gateway, moengage, faults=faults)
    await processor.process([message("6004", "before")])
    assert [summary(line) for line in lines()] == [("before", "delivered", None)]
    earlier = len(lines())

    outcomes = await processor.process(mixed_batch())

    assert [(o.message_id, o.outcome, o.reason) for o in outcomes] == [
        ("good-0", Outcome.DELIVERED, None),
        ("copy-a", Outcome.DELIVERED, None),
        ("copy-b", Outcome.DUPLICATE, None),
        ("broken", Outcome.DEAD_LETTERED, "invalid_payload"),
        ("before", Outcome.DELIVERED, None),
        ("retry-0", Outcome.RETRY_LATER, "unavailable"),
        ("retry-1", Outcome.RETRY_LATER, "unavailable"),
        ("refused", Outcome.DEAD_LETTERED, "moengage_rejected"),
        ("good-9", Outcome.DELIVERED, None),
        ("good-10", Outcome.DELIVERED, None),
        ("good-11", Outcome.DELIVERED, None),
    ]
    batch_lines = lines()[earlier:]
    assert Counter(line["message_id"] for line in batch_lines) == Counter(
        o.message_id for o in outcomes
    )  # one each: none missing, none twice
    assert sorted(summary(line) for line in batch_lines) == sorted(
        (o.message_id, o.outcome.value, o.reason) for o in outcomes
    )
    assert all(line["batch_size"] == 11 for line in batch_lines)
    assert {m.message_id for m in gateway.dead} == {"broken", "refused"}
    assert sorted(m.properties[IDEMPOTENCY_KEY] for m in gateway.queue) == ["retry-0", "retry-1"]
    # Retries and letters are written after their copies, so after every delivered line.
    assert sorted(summary(line) for line in batch_lines[-4:]) == [
        ("broken", "dead_lettered", "invalid_payload"),
        ("refused", "dead_lettered", "moengage_rejected"),
        ("retry-0", "retry_later", "unavailable"),
        ("retry-1", "retry_later", "unavailable"),
    ]


async def test_an_early_waves_lines_are_written_before_the_last_wave_is_answered(
    waves_of_two, clock, gateway, moengage, lines
):
    """The last wave waits for MoEngage (held here until released); meanwhile the lines of the
    waves that ended are written, with the time of their writing: a line's `latency_ms`
    runs from the start of the batch's processing to the line, and its `lag_ms` uses the
    clock when it is written."""
    processor, sender = make_processor(clock, gateway, moengage, hold="7004")
    enqueued = clock.now - timedelta(seconds=2)  # first received then, too
    batch = [message(str(7000 + i), f"m{i}", enqueued=enqueued) for i in range(6)]
    batch.insert(2, message("7001", "m1-copy", key="m1", enqueued=enqueued))  # m1's duplicate

    task = asyncio.create_task(processor.process(batch))
    await asyncio.wait_for(sender.held.wait(), 5)

    for _ in range(1000):  # the early waves' answers come over real sockets
        if len(lines()) >= 5:
            break
        await asyncio.sleep(0.005)
    early = lines()
    assert sorted(summary(line) for line in early) == [
        ("m0", "delivered", None),
        ("m1", "delivered", None),
        ("m1-copy", "duplicate", None),
        ("m2", "delivered", None),
        ("m3", "delivered", None),
    ]
    assert not task.done()
    assert {r["customer_id"] for r in moengage.accepted} == {"7000", "7001", "7002", "7003"}

    clock.advance(60)  # virtual: MoEngage takes a minute to answer the last wave
    await asyncio.sleep(0.05)  # real: `latency_ms` is measured by the process's own clock
    sender.release.set()
    outcomes = await task

    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED] * 2 + [Outcome.DUPLICATE] + [
        Outcome.DELIVERED
    ] * 4
    final = lines()[len(early) :]
    assert sorted(summary(line) for line in final) == [
        ("m4", "delivered", None),
        ("m5", "delivered", None),
    ]
    for line in final:
        assert line["latency_ms"] >= max(e["latency_ms"] for e in early) + 50
        assert (line["lag_ms"], line["queue_wait_ms"]) == (62_000.0, 62_000.0)
    for line in early:  # written before the minute passed
        assert line["queue_wait_ms"] == 2_000.0
        assert line.get("lag_ms") == (None if line["outcome"] == "duplicate" else 2_000.0)


async def test_when_retries_cannot_be_written_only_final_outcomes_have_lines(
    waves_of_two, clock, gateway, moengage, lines
):
    """Service Bus refuses the retry copies: the batch raises (it is redelivered) and no line
    claims a retry or a letter; the delivered and duplicate lines are true either way."""
    faults = {"6005": UNAVAILABLE, "6007": REFUSED}
    processor, _ = make_processor(clock, gateway, moengage, faults=faults)
    await processor.process([message("6004", "before")])
    earlier = len(lines())
    gateway.send_failures = SETTLE_ATTEMPTS

    with pytest.raises(SettlementError):
        await processor.process(mixed_batch())

    assert sorted(summary(line) for line in lines()[earlier:]) == [
        ("before", "delivered", None),
        ("copy-a", "delivered", None),
        ("copy-b", "duplicate", None),
        ("good-0", "delivered", None),
        ("good-10", "delivered", None),
        ("good-11", "delivered", None),
        ("good-9", "delivered", None),
    ]
    assert gateway.queue == []  # no retry was written


async def test_a_redelivered_batch_logs_its_delivered_messages_again_and_nothing_false(
    waves_of_two, clock, gateway, moengage, lines
):
    """After a batch that raised, its redelivery writes one line per message again: a message
    delivered the first time is "delivered" twice (both true), the retry once, when written."""
    faults = {"6005": UNAVAILABLE}
    processor, sender = make_processor(clock, gateway, moengage, faults=faults)
    batch = [message("6000", "good-0"), message("6001", "good-1"), message("6005", "retry-0")]
    gateway.send_failures = SETTLE_ATTEMPTS
    with pytest.raises(SettlementError):
        await processor.process(batch)
    sender.faults = {"6005": UNAVAILABLE}

    await processor.process(batch)

    assert sorted(Counter(summary(line) for line in lines()).items()) == [
        (("good-0", "delivered", None), 2),
        (("good-1", "delivered", None), 2),
        (("retry-0", "retry_later", "unavailable"), 1),
    ]
    assert len(moengage.accepted) == 2  # the record kept them from MoEngage the second time


async def test_a_delivered_outcome_and_its_line_carry_every_field_as_decided(
    clock, gateway, moengage, lines
):
    """The delivered outcome (built by position, once per message) has each field in its
    place: MoEngage's request id, the attempt, the accepted elements, nothing else set; and
    its line says the same."""
    processor, _ = make_processor(clock, gateway, moengage)
    batch = [message("6100", "good-0"), message("6101", "good-1")]

    outcomes = await processor.process(batch)

    request_ids = {outcome.request_id for outcome in outcomes}
    assert len(request_ids) == 1  # one wave, one request
    (request_id,) = request_ids
    assert isinstance(request_id, str)
    assert request_id
    assert outcomes == [
        MessageOutcome(
            message_id,
            Outcome.DELIVERED,
            "rewards_issued",
            attempt=0,
            request_id=request_id,
            accepted=frozenset({0}),
        )
        for message_id in ("good-0", "good-1")
    ]
    written = {line["message_id"]: line for line in lines()}
    assert sorted(written) == ["good-0", "good-1"]
    for line in written.values():
        assert line["outcome"] == "delivered"
        assert line["event"] == "rewards_issued"
        assert line["attempts"] == 1
        assert line["moengage_request_id"] == request_id
        assert line["batch_size"] == 2
        assert "reason" not in line
        assert "retry_at" not in line


def test_the_delivered_outcome_is_the_one_named_by_its_fields() -> None:
    accepted = frozenset({0, 2})
    assert delivered_outcome("m-1", "rewards_issued", 3, "req-1", accepted) == MessageOutcome(
        "m-1", Outcome.DELIVERED, "rewards_issued", attempt=3, request_id="req-1", accepted=accepted
    )


def test_each_line_is_the_text_json_dumps_writes_a_time_and_all(caplog) -> None:
    """A retry's line carries its time as `str(datetime)` (what `json.dumps(default=str)`
    writes), a dead letter's its reason; fields without a value are left out; the latency,
    lag and wait are milliseconds to a tenth."""
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")
    now = datetime(2026, 12, 7, 15, 0, 0, tzinfo=UTC)
    batch = [
        message("6200", "retry-0", enqueued=now - timedelta(milliseconds=1234.56)),
        message("6201", "dead-1", enqueued=now - timedelta(seconds=2)),
    ]
    outcomes = [
        MessageOutcome("retry-0", Outcome.RETRY_LATER, "rewards_issued", "moengage_unavailable",
                       attempt=1, retry_at=now + timedelta(minutes=5)),
        MessageOutcome("dead-1", Outcome.DEAD_LETTERED, None, "mapping_failed", attempt=0),
    ]  # fmt: skip

    log_outcomes("default", batch, outcomes, {0: ["6200"]}, time.perf_counter(), now)

    written = [r for r in caplog.records if "custom_dimensions" in r.__dict__]
    assert [r.levelno for r in written] == [logging.INFO, logging.WARNING]
    for record in written:
        assert record.getMessage() == json.dumps(
            record.custom_dimensions, default=str, separators=(",", ":")
        )
    retry, dead = (record.custom_dimensions for record in written)
    assert json.loads(written[0].getMessage())["retry_at"] == "2026-12-07 15:05:00+00:00"
    assert {k: v for k, v in retry.items() if k != "latency_ms"} == {
        "kind": "queue_message",
        "workspace": "default",
        "message_id": "retry-0",
        "event": "rewards_issued",
        "outcome": "retry_later",
        "reason": "moengage_unavailable",
        "attempts": 2,
        "retry_at": now + timedelta(minutes=5),
        "members": ["6200"],
        "batch_size": 2,
        "queue_wait_ms": 1234.6,
    }
    assert list(dead) == [
        "kind", "workspace", "message_id", "outcome", "reason", "attempts", "batch_size",
        "latency_ms", "queue_wait_ms",
    ]  # fmt: skip
    assert (dead["reason"], dead["queue_wait_ms"]) == ("mapping_failed", 2000.0)
