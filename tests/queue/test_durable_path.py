"""The durable path end to end: webhooks enqueued by the HTTP trigger, batches delivered by the
real Service Bus trigger (`function_app.kognitiv_service_bus`) as the Functions host runs it, on
a model of Service Bus (duplicate detection, peek-lock, delivery counts, the native dead-letter
sub-queue, scheduled messages) and the MoEngage emulator. Time is virtual: nothing sleeps."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from datetime import timedelta

import pytest

import function_app
from bridge import cli
from bridge.deployment.runtime import current_runtime
from bridge.durable.gateway import GATEWAYS
from bridge.durable.messages import EVENT, FIRST_RECEIVED_UTC
from bridge.queue import processor as queue_processor
from bridge.queue import settlement
from bridge.queue import trigger as queue_trigger
from bridge.queue.trigger import TriggerClock
from delivery import MoEngageSender, RateLimitGate
from moengage_emulator.contract import fail_body
from tests.conftest import CONNECTION, DEAD, QUEUE, call_webhook, fixture_body, http_request
from tests.documentation import documentation_text
from tests.fakes import VirtualClock
from tests.servicebus_model import FunctionHost, ServiceBusModel


def use_virtual_time(clock: VirtualClock) -> None:
    """The current runtime's rate-limit gate waits on the virtual clock."""
    current_runtime().gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)


@pytest.fixture
def bus(bus, clock):
    """The shared Service Bus model, with the runtime's rate-limit gate on virtual time too."""
    use_virtual_time(clock)
    return bus


@pytest.fixture
def host(bus) -> FunctionHost:
    return FunctionHost(bus, QUEUE, function_app.kognitiv_service_bus.build().get_user_function())


def reward(member: str, **extra) -> dict:
    return {**fixture_body("rewards_issued"), "memberId": member, **extra}


def publish(
    bus: ServiceBusModel,
    body: dict | bytes,
    event: str | None = "rewards_issued",
    message_id: str | None = None,
    *,
    no_id: bool = False,
    **properties,
):
    """A producer's send to the main queue (Kognitiv's own integration, a script): a fresh
    MessageId unless one is given, or none at all with `no_id`."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    props = {EVENT: event, **properties} if event else dict(properties)
    identity = None if no_id else message_id or uuid.uuid4().hex
    return bus.queue(QUEUE).accept(identity, raw, props)


def members(moengage, kind: str = "event") -> list[str]:
    return sorted(e["customer_id"] for e in moengage.accepted if e.get("type") == kind)


def run_cli(*argv: str, gateway) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), gateway=gateway, stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


# 1. A repeated body is a new fact ----------------------------------------------------------------
async def test_consent_true_false_true_ends_true_in_moengage(bus, host, moengage):
    profile = fixture_body("member_enrolled")
    for allowed in ("True", "False", "True"):
        body = {**profile, "memberEmailContactAllowed": allowed}
        status, answer, _ = await call_webhook(http_request(body, "member_updated"))
        assert (status, answer["status"]) == (202, "queued")

    await host.drain()

    consent = [e["attributes"]["email_contact_allowed"] for e in moengage.accepted]
    assert consent == [True, False, True]
    assert bus.queue(QUEUE).dropped_duplicates == []


async def test_a_repeated_reward_is_dropped_but_two_rewards_of_one_day_are_not(bus, host, moengage):
    timed = reward("1001")  # "03/14/2026 09:30:00": to the second, so a key
    dated = reward("1002", issuedDate="03/14/2026")  # a date only: no key

    for body in (timed, timed, dated, dated):
        status, _, _ = await call_webhook(http_request(body, "rewards_issued"))
        assert status == 202
    await host.drain()

    assert members(moengage) == ["1001", "1002", "1002"]
    assert len(bus.queue(QUEUE).dropped_duplicates) == 1


# 2. Messages without a MessageId ---------------------------------------------------------------
async def test_messages_without_a_message_id_are_each_delivered(bus, host, moengage):
    publish(bus, reward("2001"), no_id=True)
    publish(bus, reward("2002"), no_id=True)
    publish(bus, reward("2001"), no_id=True)
    host.max_batch = 1  # one execution each: nothing carries over as "already delivered"

    await host.drain()

    assert members(moengage) == ["2001", "2001", "2002"]


# 3. Retry copies never collide -----------------------------------------------------------------
async def test_a_replayed_letter_retries_without_colliding_with_the_original(
    bus, host, moengage, clock
):
    rejected = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    publish(bus, reward("3001"), message_id="rewards_issued:k3001")
    moengage.inject(status=503, times=3)  # attempt 0: retry copy ...#r1
    moengage.inject(status=400, times=1, body=rejected)  # attempt 1: dead-lettered
    await host.drain()
    assert [s.application_properties["dead_letter_reason"] for s in bus.queue(DEAD).all()] == [
        "moengage_rejected"
    ]

    code, _ = await asyncio.to_thread(run_cli, "deadletters", "replay", "--all",
                                      gateway=GATEWAYS.get())  # fmt: skip
    assert code == 0
    moengage.inject(status=503, times=3)  # the replay's first try fails: its own retry copy
    await host.drain()

    assert members(moengage) == ["3001"]
    assert bus.queue(QUEUE).dropped_duplicates == []
    assert bus.queue(DEAD).all() == []


# 4. Times without a time zone ----------------------------------------------------------------
async def test_naive_times_during_an_outage_are_read_as_utc(bus, host, moengage, clock):
    publish(bus, reward("4001"))  # enqueued time only (the worker passes it without tzinfo)
    publish(bus, reward("4002"), **{FIRST_RECEIVED_UTC: "2026-03-14T11:00:00"})
    moengage.inject(status=503, times=12)

    await host.drain()

    assert host.errors == []
    assert members(moengage) == ["4001", "4002"]
    assert bus.queue(QUEUE).dead_letter.all() == []


# 5. A settings mistake keeps the backlog -------------------------------------------------------
async def test_a_settings_mistake_holds_messages_and_health_says_why(
    bus, host, moengage, clock, settings_env
):
    settings_env.setenv("MOENGAGE_DATA_CENTER", "99")
    settings_env.delenv("MOENGAGE_API_BASE_URL")
    for index in range(3):
        publish(bus, reward(f"500{index}"))

    for _ in range(12):  # more executions than MaxDeliveryCount
        await host.run_once()
        clock.now = bus.queue(QUEUE).next_scheduled() or clock.now
    answer = function_app.health.build().get_user_function()(http_request(b""))

    assert host.errors == []
    assert len(host.executions) == 12
    assert bus.queue(QUEUE).dead_letter.all() == []
    assert len(bus.queue(QUEUE).all()) == 3
    assert answer.status_code == 503
    problems = json.loads(answer.get_body())["settings"]["problems"]
    assert any("MOENGAGE_DATA_CENTER" in problem for problem in problems)

    settings_env.setenv("MOENGAGE_API_BASE_URL", moengage.base_url)
    settings_env.setenv("MOENGAGE_DATA_CENTER", "01")
    use_virtual_time(clock)
    await host.drain()

    assert members(moengage) == ["5000", "5001", "5002"]
    assert bus.queue(DEAD).all() == []


# 6. The horizon counts only time MoEngage was unavailable ------------------------------------
async def test_a_long_credentials_outage_then_a_429_dead_letters_nothing(
    bus, host, moengage, clock, settings_env
):
    settings_env.setenv("KOGNITIV_RETRY_HORIZON_HOURS", "2")
    use_virtual_time(clock)
    start = clock.now
    for index in range(5):
        publish(bus, reward(f"600{index}"))
    moengage.inject(status=401, times=100_000)

    def key_fixed_after_three_hours(virtual: VirtualClock) -> None:
        if virtual.now - start >= timedelta(hours=3) and moengage.faults:
            moengage.clear_faults()
            moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "60"})

    await host.drain(on_tick=key_fixed_after_three_hours)

    assert bus.queue(DEAD).all() == []
    assert members(moengage) == [f"600{i}" for i in range(5)]


async def test_a_429_never_dead_letters(bus, host, moengage, clock, settings_env):
    settings_env.setenv("KOGNITIV_RETRY_HORIZON_HOURS", "1")
    use_virtual_time(clock)
    start = clock.now
    publish(bus, reward("6101"))
    moengage.inject(status=429, times=100_000, headers={"x-ratelimit-reset": "60"})

    def quota_back_after_three_hours(virtual: VirtualClock) -> None:
        if virtual.now - start >= timedelta(hours=3):
            moengage.clear_faults()

    await host.drain(on_tick=quota_back_after_three_hours)

    assert bus.queue(DEAD).all() == []
    assert members(moengage) == ["6101"]


# 7. Account-level 400s back off ------------------------------------------------------------------
async def test_an_account_level_400_backs_off_instead_of_bisecting(bus, host, moengage, clock):
    start = clock.now
    for index in range(200):
        publish(bus, reward(f"7{index:03d}"))
    moengage.inject(status=400, times=100_000)  # no attribute named: the account's problem

    def unblocked_after_an_hour(virtual: VirtualClock) -> None:
        if virtual.now - start >= timedelta(hours=1):
            moengage.clear_faults()

    await host.drain(on_tick=unblocked_after_an_hour)

    assert bus.queue(DEAD).all() == []
    assert members(moengage) == sorted(f"7{index:03d}" for index in range(200))
    refused = [r for r in moengage.requests if r.status == 400]
    executions = len(host.executions) - 1  # the last one delivered
    assert len(refused) == executions  # one request per held batch, never split


async def test_a_400_naming_an_element_dead_letters_only_its_message(bus, host, moengage):
    rejected = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    for index in range(4):
        publish(bus, reward(f"710{index}"), message_id=f"p{index}")
    moengage.inject(status=400, times=3, body=rejected)  # bisected down to the first message

    await host.drain()

    assert [s.message_id for s in bus.queue(DEAD).all()] == ["p0"]
    assert members(moengage) == ["7101", "7102", "7103"]


# 8. A failed Service Bus write does not resend the batch ---------------------------------------
async def test_a_failed_settlement_write_is_retried_not_redelivered(bus, host, moengage):
    publish(bus, reward("8001"))
    publish(bus, reward("8002"))
    moengage.inject(status=503, times=3)  # both retry later
    bus.faults.refuse_sends = 2  # the retry copies' first two writes fail

    await host.drain()

    assert host.errors == []
    assert [e.delivery_counts for e in host.executions] == [[1, 1], [1, 1]]
    assert members(moengage) == ["8001", "8002"]


# 9. All waves finish before an error propagates ------------------------------------------------
async def test_a_failing_wave_holds_only_its_messages(bus, host, moengage, monkeypatch):
    real = MoEngageSender.deliver_units
    calls = 0

    async def first_wave_breaks(self, units, **options):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("unexpected")
        return await real(self, units, **options)

    monkeypatch.setattr(MoEngageSender, "deliver_units", first_wave_breaks)
    for index in range(500):
        publish(bus, reward(f"9{index:03d}"))

    await host.drain()

    assert host.errors == []
    assert members(moengage) == sorted(f"9{index:03d}" for index in range(500))


async def test_one_message_failing_to_settle_never_fails_its_neighbours(
    bus, host, moengage, monkeypatch
):
    real = queue_processor.dead_letter_copy

    def broken_for_one(message, *args):
        if message.message_id == "q0":
            raise KeyError("bug")
        return real(message, *args)

    monkeypatch.setattr(queue_processor, "dead_letter_copy", broken_for_one)
    rejected = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    for index in range(3):
        publish(bus, reward(f"920{index}"), message_id=f"q{index}")
    moengage.inject(status=400, times=3, body=rejected)  # bisected down to q0

    await host.run_once()

    assert host.errors == []
    assert members(moengage) == ["9201", "9202"]
    [held] = bus.queue(QUEUE).all()  # q0 could not be dead-lettered: kept as a retry instead
    assert held.message_id == "q0#r1"


# 10. The queue-mode fallback never delivers twice ----------------------------------------------
async def test_a_slow_but_successful_enqueue_is_not_also_delivered_directly(bus, host, moengage):
    bus.faults.lose_acks = 1  # stored, but the answer times out

    status, answer, _ = await call_webhook(http_request(reward("10001"), "rewards_issued"))
    assert moengage.requests == []
    await host.drain()

    assert (status, answer["status"]) == (202, "queued")
    assert bus.queue(QUEUE).dropped_duplicates == [answer["id"]]
    assert members(moengage) == ["10001"]


async def test_503_when_the_queue_never_confirms(bus, moengage):
    bus.faults.refuse_sends = 2

    status, answer, response = await call_webhook(http_request(reward("10002"), "rewards_issued"))

    assert status == 503
    assert answer["error"]["code"] == "queue_unavailable"
    assert response.headers["Retry-After"] == "30"
    assert moengage.requests == []
    assert bus.queue(QUEUE).all() == []


# 11. A message split by a 413 --------------------------------------------------------------------
async def test_a_split_message_retries_only_its_undelivered_part(bus, host, moengage):
    publish(bus, fixture_body("member_enrolled"), event="member_enrolled")
    moengage.inject(status=413, times=1)  # customer + event together: too large
    moengage.inject(status=None, times=1)  # the customer half is accepted
    moengage.inject(status=503, times=3)  # the event half is not (yet)

    await host.drain()

    assert [(e["type"], e["customer_id"]) for e in moengage.accepted] == [
        ("customer", "100246"),
        ("event", "100246"),
    ]


# 12. The same MessageId twice in one batch -----------------------------------------------------
async def test_the_same_message_id_twice_in_a_batch_is_sent_once(settings_env, clock, moengage,
                                                                 monkeypatch):  # fmt: skip
    settings_env.setenv("KOGNITIV_SERVICE_BUS", CONNECTION)
    settings_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", QUEUE)
    basic_tier = ServiceBusModel(clock, duplicate_window=timedelta(0))  # no duplicate detection
    GATEWAYS.install(basic_tier.gateway(QUEUE, DEAD))
    monkeypatch.setattr(queue_trigger, "CLOCK", TriggerClock(clock.wall, clock.sleep))
    host = FunctionHost(
        basic_tier, QUEUE, function_app.kognitiv_service_bus.build().get_user_function()
    )
    try:
        publish(basic_tier, reward("12001"), message_id="same")
        publish(basic_tier, reward("12001"), message_id="same")
        await host.drain()
    finally:
        GATEWAYS.install(None)

    assert len(host.executions) == 1
    assert members(moengage) == ["12001"]


# 13. Retries no sooner than the reset as of scheduling -----------------------------------------
async def test_a_retry_lands_after_the_reset_measured_when_it_is_scheduled(
    bus, host, moengage, clock
):
    start = clock.now
    publish(bus, reward("13001"))
    moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "20"})  # waited inside
    moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "60"})  # then too long

    await host.run_once()

    [retry] = bus.queue(QUEUE).all()
    assert retry.scheduled_at >= start + timedelta(seconds=20 + 60)
    await host.drain()
    assert members(moengage) == ["13001"]


# 14. Dead letters stay visible until an operator acts ------------------------------------------
async def test_selective_replays_never_move_other_letters(bus, host, moengage):
    dead = bus.queue(DEAD)
    for index in range(12):
        properties = {EVENT: "rewards_issued", "dead_letter_reason": "moengage_rejected"}
        dead.accept(f"letter-{index}", json.dumps(reward(f"140{index:02d}")).encode(), properties)
    native = publish(bus, reward("14100"), message_id="crashed")
    bus.queue(QUEUE).move_to_dead_letter(native, "MaxDeliveryCountExceeded", "10 deliveries")
    lost = dead.accept("expired", json.dumps(reward("14200")).encode(), {EVENT: "rewards_issued"})
    dead.move_to_dead_letter(lost, "TTLExpiredException", "expired")
    gateway = GATEWAYS.get()

    for index in reversed(range(1, 12)):  # more selective replays than MaxDeliveryCount
        code, output = await asyncio.to_thread(
            run_cli, "deadletters", "replay", "--id", f"letter-{index}", gateway=gateway
        )
        assert (code, "replayed 1 message(s)" in output) == (0, True)
    code, listing = await asyncio.to_thread(
        run_cli, "deadletters", "list", "--json", gateway=gateway
    )

    listed = [json.loads(line) for line in listing.splitlines()]
    assert sorted(item["id"] for item in listed) == ["crashed", "expired", "letter-0"]
    assert [s.message_id for s in dead.dead_letter.all()] == ["expired"]
    assert all(s.delivery_count <= 1 for s in dead.all())
    code, _ = await asyncio.to_thread(run_cli, "deadletters", "replay", "--all", gateway=gateway)
    await host.drain()

    assert members(moengage) == sorted(
        [f"140{index:02d}" for index in range(12)] + ["14100", "14200"]
    )
    assert dead.all() == dead.dead_letter.all() == bus.queue(QUEUE).dead_letter.all() == []


async def test_dead_letters_are_listed_page_by_page(bus):
    for index in range(600):
        bus.queue(DEAD).accept(f"l{index}", b"{}", {"dead_letter_reason": "mapping_failed"})

    code, listing = await asyncio.to_thread(
        run_cli, "deadletters", "list", "--json", "--limit", "1000", gateway=GATEWAYS.get()
    )

    assert code == 0
    assert len(listing.splitlines()) == 600
    assert all(stored.delivery_count == 0 for stored in bus.queue(DEAD).all())


# 15. Timeouts hold ------------------------------------------------------------------------------
async def test_a_hanging_settlement_write_gives_the_batch_back_in_time(
    bus, host, moengage, monkeypatch
):
    monkeypatch.setattr(settlement, "SETTLE_TIMEOUT_SECONDS", 0.01)
    publish(bus, reward("15001"), message_id="m15001")
    publish(bus, reward("15002"), event="no_such_event", message_id="m15002")  # a dead letter
    bus.faults.hang_sends = settlement.SETTLE_ATTEMPTS

    await host.drain()

    assert [type(e).__name__ for e in host.errors] == ["SettlementError"]
    assert host.executions[1].delivery_counts == [2, 2]
    assert members(moengage) == ["15001"]
    assert [s.message_id for s in bus.queue(DEAD).all()] == ["m15002"]


def test_function_timeout_is_below_the_queue_lock_duration():
    from pathlib import Path

    root = Path(__file__).parent.parent.parent
    timeout = json.loads((root / "host.json").read_text())["functionTimeout"]
    hours, minutes, seconds = (int(part) for part in timeout.split(":"))
    readme = documentation_text()
    assert "--lock-duration PT5M" in readme
    assert timedelta(hours=hours, minutes=minutes, seconds=seconds) < timedelta(minutes=5)
    budget = settlement.SETTLE_ATTEMPTS * settlement.SETTLE_TIMEOUT_SECONDS
    assert budget + 60 < timedelta(hours=hours, minutes=minutes, seconds=seconds).total_seconds()
