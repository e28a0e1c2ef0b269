"""The durable path: batches from the queue delivered to the MoEngage emulator over real sockets,
with faults injected and time simulated (nothing here sleeps for real)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from azure.functions.servicebus import ServiceBusMessage

from bridge.deployment.runtime import CLIENTS, current_runtime
from bridge.durable.messages import ATTEMPT, EVENT, IncomingMessage
from bridge.queue.outcomes import Outcome
from bridge.queue.processor import BatchProcessor
from bridge.queue.settlement import SETTLE_ATTEMPTS, SettlementError
from delivery import MoEngageSender, RateLimitGate, RetryPolicy
from moengage_emulator.contract import fail_body
from tests.conftest import APP_ID, fixture_body
from tests.fakes import FakeGateway, VirtualClock

pytestmark = pytest.mark.usefixtures("settings_env")


def reward(member: str, **extra) -> dict:
    body = fixture_body("rewards_issued")
    body["memberId"] = member
    body.update(extra)
    return body


def message(body: dict | bytes, message_id: str, event: str | None = "rewards_issued"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    properties = {EVENT: event} if event else {}
    return IncomingMessage(raw, message_id, properties)


@pytest.fixture
async def processor(clock, gateway):
    """A batch processor whose waits and schedule run on the virtual clock."""
    runtime = current_runtime()
    gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)
    sender = MoEngageSender(
        runtime.target, CLIENTS.get(), RetryPolicy(attempts=3, budget=5), gate, clock.sleep
    )
    return BatchProcessor(runtime, gateway, sender, runtime.delivered_keys, clock.wall, clock.sleep)


async def run_until_drained(processor, gateway, clock, first_batch, *, on_tick=None):
    """Feed the batch, then every scheduled retry when it falls due, until nothing is left."""
    outcomes = list(await processor.process(first_batch))
    while (due := gateway.next_due()) is not None:
        if due > clock.now:
            clock.now = due
        if on_tick:
            on_tick(clock)
        outcomes += await processor.process(gateway.take_due(clock.now))
    return outcomes


def accepted_members(moengage) -> list[str]:
    return sorted(element["customer_id"] for element in moengage.accepted)


async def test_mixed_batch_each_message_gets_exactly_one_outcome(processor, gateway, moengage):
    batch = [
        message(reward("2001"), "good-1"),
        message(reward("2002", memberId=None), "no-member"),
        message(b"{not json", "malformed"),
        message(fixture_body("guide-rendered"), "passthrough", event=None),
        message(reward("2003"), "unknown-event", event="points_expired"),
        message(reward("2004"), "good-2"),
    ]

    outcomes = await processor.process(batch)

    assert [(o.message_id, o.outcome, o.reason) for o in outcomes] == [
        ("good-1", Outcome.DELIVERED, None),
        ("no-member", Outcome.DEAD_LETTERED, "mapping_failed"),
        ("malformed", Outcome.DEAD_LETTERED, "invalid_payload"),
        ("passthrough", Outcome.DELIVERED, None),
        ("unknown-event", Outcome.DEAD_LETTERED, "mapping_failed"),
        ("good-2", Outcome.DELIVERED, None),
    ]
    assert accepted_members(moengage) == ["100245", "2001", "2004"]
    assert [r.path for r in moengage.requests] == [f"/v1/transition/{APP_ID}"]
    letters = {m.message_id: m.properties for m in gateway.dead}
    assert letters["no-member"]["dead_letter_reason"] == "mapping_failed"
    assert "memberId" in letters["no-member"]["dead_letter_description"]
    assert letters["malformed"]["dead_letter_reason"] == "invalid_payload"
    assert gateway.queue == []


async def test_rate_limit_burst_backs_off_past_the_reset(processor, gateway, moengage, clock):
    moengage.inject(status=429, times=3, headers={"x-ratelimit-reset": "120"})
    batch = [message(reward(str(3000 + i)), f"m{i}") for i in range(5)]

    outcomes = await processor.process(batch)

    assert {o.outcome for o in outcomes} == {Outcome.RETRY_LATER}
    assert moengage.accepted == []
    assert len(moengage.requests) == 1  # the gate stops further sends inside the window
    assert all(m.scheduled_at >= clock.now + timedelta(seconds=120) for m in gateway.queue)
    assert all(m.properties[ATTEMPT] == 1 for m in gateway.queue)

    final = await run_until_drained(processor, gateway, clock, [])

    assert len([o for o in final if o.outcome is Outcome.DELIVERED]) == 5
    assert accepted_members(moengage) == [str(3000 + i) for i in range(5)]
    assert [r.status for r in moengage.requests] == [429, 429, 429, 200]
    assert gateway.dead == []


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"drop": True}])
async def test_transient_faults_end_in_one_delivery_each(
    processor, gateway, moengage, clock, fault
):
    moengage.inject(times=4, **fault)
    batch = [message(reward(str(4000 + i)), f"t{i}") for i in range(10)]

    outcomes = await run_until_drained(processor, gateway, clock, batch)

    delivered = [o.message_id.split("#")[0] for o in outcomes if o.outcome is Outcome.DELIVERED]
    assert sorted(delivered) == sorted(f"t{i}" for i in range(10))
    assert accepted_members(moengage) == [str(4000 + i) for i in range(10)]
    assert gateway.dead == []


async def test_timeouts_are_retried_later(settings_env, processor, gateway, moengage, clock):
    moengage.inject(latency=1.5, times=3)
    processor.sender.policy = RetryPolicy(attempts=1, budget=0.6)

    outcomes = await processor.process([message(reward("5001"), "slow")])

    assert outcomes[0].outcome is Outcome.RETRY_LATER
    processor.sender.policy = RetryPolicy(attempts=3, budget=5)
    final = await run_until_drained(processor, gateway, clock, [])
    assert [o.outcome for o in final] == [Outcome.DELIVERED]
    assert accepted_members(moengage).count("5001") >= 1


async def test_413_splits_and_every_request_stays_under_100_kb(processor, moengage):
    moengage.inject(status=413, times=1)
    batch = [message(reward(str(6000 + i), rewardName="n" * 400), f"big{i}") for i in range(800)]

    outcomes = await processor.process(batch)

    assert {o.outcome for o in outcomes} == {Outcome.DELIVERED}
    assert len(moengage.accepted) == 800
    assert len(set(accepted_members(moengage))) == 800
    assert all(len(r.body) <= 100_000 for r in moengage.requests)
    assert len(moengage.requests) <= 12


async def test_an_hour_long_outage_ends_in_delivery_not_dead_letters(
    processor, gateway, moengage, clock
):
    start = clock.now
    moengage.inject(status=503, times=100_000)
    batch = [message(reward(str(7000 + i)), f"o{i}") for i in range(50)]

    def recover_after_an_hour(virtual: VirtualClock) -> None:
        if virtual.now - start >= timedelta(hours=1):
            moengage.clear_faults()

    outcomes = await run_until_drained(
        processor, gateway, clock, batch, on_tick=recover_after_an_hour
    )

    assert gateway.dead == []
    assert accepted_members(moengage) == [str(7000 + i) for i in range(50)]
    assert clock.now - start < timedelta(hours=1, minutes=20)
    delivered = [o for o in outcomes if o.outcome is Outcome.DELIVERED]
    assert len(delivered) == 50
    assert max(o.attempt for o in delivered) >= 5


async def test_retry_horizon_ends_in_retries_exhausted(settings_env, gateway, moengage, clock):
    settings_env.setenv("KOGNITIV_RETRY_HORIZON_HOURS", "2")
    runtime = current_runtime()
    gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)
    sender = MoEngageSender(
        runtime.target, CLIENTS.get(), RetryPolicy(attempts=2), gate, clock.sleep
    )
    processor = BatchProcessor(
        runtime, gateway, sender, runtime.delivered_keys, clock.wall, clock.sleep
    )
    moengage.inject(status=502, times=100_000)

    outcomes = await run_until_drained(processor, gateway, clock, [message(reward("8001"), "h1")])

    assert outcomes[-1].outcome is Outcome.DEAD_LETTERED
    assert outcomes[-1].reason == "retries_exhausted"
    [letter] = gateway.dead
    assert letter.properties["dead_letter_reason"] == "retries_exhausted"
    assert moengage.accepted == []


async def test_credentials_error_backs_off_and_never_dead_letters(
    processor, gateway, moengage, clock
):
    moengage.inject(status=401, times=40)
    batch = [message(reward(str(8100 + i)), f"k{i}") for i in range(3)]

    outcomes = await run_until_drained(processor, gateway, clock, batch)

    assert gateway.dead == []
    assert accepted_members(moengage) == ["8100", "8101", "8102"]
    assert all(o.outcome is Outcome.RETRY_LATER for o in outcomes[:-3])


async def test_permanent_rejection_dead_letters_only_the_guilty_message(processor, moengage):
    refused = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    moengage.inject(status=400, times=3, body=refused)
    batch = [message(reward(str(8200 + i)), f"p{i}") for i in range(4)]

    outcomes = await processor.process(batch)

    assert [(o.message_id, o.outcome, o.reason) for o in outcomes] == [
        ("p0", Outcome.DEAD_LETTERED, "moengage_rejected"),
        ("p1", Outcome.DELIVERED, None),
        ("p2", Outcome.DELIVERED, None),
        ("p3", Outcome.DELIVERED, None),
    ]
    assert accepted_members(moengage) == ["8201", "8202", "8203"]


async def test_settlement_failure_redelivers_without_resending_delivered(
    processor, gateway, moengage
):
    moengage.inject(status=503, times=3)  # the first chunk fails; the batch retries later
    batch = [message(reward("9001"), "s1"), message(b"[]", "s2")]
    gateway.dead_letter_failures = SETTLE_ATTEMPTS

    with pytest.raises(SettlementError):
        await processor.process(batch)
    moengage.clear_faults()
    redelivered = await processor.process(batch)
    again = await processor.process(batch)

    assert [o.outcome for o in redelivered] == [Outcome.DELIVERED, Outcome.DEAD_LETTERED]
    assert [o.outcome for o in again] == [Outcome.DELIVERED, Outcome.DEAD_LETTERED]
    assert accepted_members(moengage) == ["9001"]


async def test_service_bus_function_runs_with_real_message_objects(settings_env, moengage):
    import function_app

    settings_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", "kognitiv")
    fake = FakeGateway()
    current_runtime().gateway = fake
    messages = [
        ServiceBusMessage(
            body=json.dumps(reward("9100")).encode(),
            message_id="sb-1",
            application_properties={"event": "rewards_issued"},
            user_properties={},
            delivery_count=1,
        ),
        ServiceBusMessage(
            body=json.dumps(
                {"event": "rewards_redeemed", **fixture_body("rewards_redeemed")}
            ).encode(),
            message_id="sb-2",
            application_properties={},
            user_properties={},
        ),
        ServiceBusMessage(
            body=b"\xff", message_id="sb-3", application_properties={}, user_properties={}
        ),
    ]

    handler = function_app.kognitiv_service_bus.build().get_user_function()
    await handler(messages)

    assert accepted_members(moengage) == ["100245", "9100"]
    assert [m.properties["dead_letter_reason"] for m in fake.dead] == ["invalid_payload"]


def test_the_trigger_reads_each_field_of_the_hosts_messages_into_its_place(settings_env):
    """What the host hands over becomes the message the batch works with, field for field
    (the sequence number orders a member's facts; the enqueued time is the lag's fallback and
    the line's queue wait); missing values read as their defaults."""
    import function_app

    enqueued = datetime(2026, 3, 14, 12, 0, 5, tzinfo=UTC)
    full = ServiceBusMessage(
        body=b'{"memberId": "9200"}',
        message_id="sb-10",
        application_properties={"event": "rewards_issued", "attempt": 2},
        user_properties={"ignored": "yes"},
        delivery_count=3,
        enqueued_time_utc=enqueued,
        sequence_number=4242,
    )
    bare = ServiceBusMessage(
        body=b"",
        message_id=None,  # type: ignore[arg-type]
        application_properties={},
        user_properties={"event": "member_updated"},
    )

    assert function_app._to_incoming([full, bare]) == [
        IncomingMessage(
            body=b'{"memberId": "9200"}',
            message_id="sb-10",
            properties={"event": "rewards_issued", "attempt": 2},
            delivery_count=3,
            enqueued_time=enqueued,
            sequence_number=4242,
        ),
        IncomingMessage(
            body=b"",
            message_id="",
            properties={"event": "member_updated"},
            delivery_count=1,
            enqueued_time=None,
            sequence_number=None,
        ),
    ]


@pytest.mark.parametrize("fault", [{"status": 503}, {"drop": True}, {"status": 429}])
async def test_concurrent_chunks_failing_together_end_in_one_delivery_each(
    processor, gateway, moengage, clock, fault
):
    moengage.inject(times=6, **fault)
    batch = [message(reward(str(12_000 + i), rewardName="n" * 400), f"c{i}") for i in range(900)]

    outcomes = await run_until_drained(processor, gateway, clock, batch)

    delivered = [o.message_id.split("#")[0] for o in outcomes if o.outcome is Outcome.DELIVERED]
    assert sorted(delivered) == sorted(f"c{i}" for i in range(900))
    assert accepted_members(moengage) == sorted(str(12_000 + i) for i in range(900))
    assert all(len(r.body) <= 100_000 for r in moengage.requests)
    assert gateway.dead == []


async def test_a_mapping_bug_parks_only_that_message(processor, gateway, moengage, monkeypatch):
    from bridge.queue import processor as queue_processor

    real = queue_processor.map_request

    def flaky(runtime, request):
        if b"9901" in request.body:
            raise KeyError("bug")
        return real(runtime, request)

    monkeypatch.setattr(queue_processor, "map_request", flaky)

    outcomes = await processor.process(
        [message(reward("9900"), "ok"), message(reward("9901"), "bug")]
    )

    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED, Outcome.DEAD_LETTERED]
    assert gateway.dead[0].properties["dead_letter_description"] == (
        "internal error while mapping (KeyError)"
    )
    assert accepted_members(moengage) == ["9900"]
