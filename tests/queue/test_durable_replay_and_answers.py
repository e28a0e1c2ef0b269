"""Dead-letter replays and the webhook's answers on the durable path, as the review reproduced
them: a replayed letter of an event already delivered is not sent again (the delivered-keys
record on Azurite), a long replay keeps its letters locked, and a 503 `queue_unavailable`
promises a recognised repeat only for a rule that declares the event's identity."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

import function_app
from bridge.durable.gateway import GATEWAYS
from bridge.durable.messages import EVENT
from moengage_emulator.contract import fail_body
from tests.conftest import DEAD, QUEUE, call_webhook, fixture_body, http_request
from tests.queue.test_delivery_record import azurite, restart  # noqa: F401 (a fixture)
from tests.queue.test_durable_path import members, reward, run_cli, use_virtual_time
from tests.servicebus_model import FunctionHost


def publish(bus, message_id: str, body: dict) -> None:
    bus.queue(QUEUE).accept(message_id, json.dumps(body).encode(), {EVENT: "rewards_issued"})


@pytest.fixture
def host(bus, clock) -> FunctionHost:
    use_virtual_time(clock)
    return FunctionHost(bus, QUEUE, function_app.kognitiv_service_bus.build().get_user_function())


# Finding: replay ignored the durable delivered-keys record --------------------------------------
async def test_a_replayed_letter_of_a_delivered_event_is_not_sent_again_on_another_instance(
    azurite,  # noqa: F811
    bus,
    clock,
    moengage,
    monkeypatch,
    settings_env,
):
    settings_env.setenv("AzureWebJobsStorage", azurite)
    restart(clock, monkeypatch)
    function = function_app.kognitiv_service_bus.build().get_user_function()

    async def recycled_after_returning(messages) -> None:
        await function(messages)
        raise RuntimeError("the worker was recycled before the host completed the batch")

    rejected = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    moengage.inject(status=400, times=1, body=rejected)
    publish(bus, "rejected-1", reward("3102"))
    await FunctionHost(bus, QUEUE, function).run_once()  # refused: a letter of our own
    publish(bus, "delivered-1", reward("3101"))
    crashing = FunctionHost(bus, QUEUE, recycled_after_returning)
    for _ in range(bus.max_delivery_count):  # delivered once, then found in the record
        await crashing.run_once()
    [native] = bus.queue(QUEUE).dead_letter.all()
    assert native.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert [s.message_id for s in bus.queue(DEAD).all()] == ["rejected-1"]
    assert members(moengage) == ["3101"]

    restart(clock, monkeypatch)  # another instance: nothing in memory
    code, output = await asyncio.to_thread(
        run_cli, "deadletters", "replay", "--all", gateway=GATEWAYS.get()
    )
    assert (code, "replayed 2 message(s)" in output) == (0, True)
    host = FunctionHost(bus, QUEUE, function)
    await host.drain()

    assert host.errors == []
    assert members(moengage) == ["3101", "3102"]  # the delivered one once; the refused one now
    assert bus.queue(QUEUE).dead_letter.all() == bus.queue(DEAD).all() == []


# Finding: replay did not renew its one-minute locks while sending a page ------------------------
async def test_a_replay_page_slower_than_the_lock_replays_each_letter_once(bus, host, moengage):
    dead = bus.queue(DEAD)
    dead.lock_duration = timedelta(minutes=1)  # the dead-letter queue's, as created in the README
    for index in range(150):
        body = json.dumps(reward(f"32{index:03d}")).encode()
        dead.accept(f"letter-{index}", body, {EVENT: "rewards_issued"})
    bus.send_seconds = 1.5  # each copy sent back takes 1.5 s: a page of 100 takes 150 s

    code, output = await asyncio.to_thread(
        run_cli, "deadletters", "replay", "--all", gateway=GATEWAYS.get()
    )

    assert (code, "replayed 150 message(s)" in output) == (0, True)
    assert dead.all() == []
    assert dead.renewals > 0
    assert sorted(s.message_id.split("#")[0] for s in bus.queue(QUEUE).all()) == sorted(
        f"letter-{index}" for index in range(150)
    )
    await host.drain()
    assert members(moengage) == sorted(f"32{index:03d}" for index in range(150))


# Finding: a 503 that promised a recognised repeat for a rule without identity ------------------
async def test_a_503_for_a_rule_without_identity_says_a_repeat_may_deliver_twice(
    bus, host, moengage
):
    profile = fixture_body("member_enrolled")  # member_updated declares no identity
    bus.faults.refuse_sends = 1  # the first send is refused ...
    bus.faults.lose_acks = 1  # ... the second is stored but its answer times out

    status, answer, response = await call_webhook(http_request(profile, "member_updated"))
    again, _, _ = await call_webhook(http_request(profile, "member_updated"))  # Kognitiv repeats
    await host.drain()

    assert (status, response.headers["Retry-After"], again) == (503, "30", 202)
    error = answer["error"]
    assert (error["code"], error["repeat_recognised"]) == ("queue_unavailable", False)
    assert "may deliver it twice" in error["message"]
    assert '"member_updated" declares no event identity' in error["message"]
    assert "safe" not in error["message"]
    assert members(moengage, "customer") == ["100246", "100246"]  # what the answer warned of


async def test_a_503_for_a_rule_with_identity_says_a_repeat_is_recognised(bus, host, moengage):
    timed = reward("11001")  # an issue time to the second: the rule's identity
    bus.faults.refuse_sends = 1
    bus.faults.lose_acks = 1

    status, answer, _ = await call_webhook(http_request(timed, "rewards_issued"))
    again, _, _ = await call_webhook(http_request(timed, "rewards_issued"))
    await host.drain()

    assert (status, again) == (503, 202)
    error = answer["error"]
    assert (error["code"], error["repeat_recognised"]) == ("queue_unavailable", True)
    assert "safe: a repeat is recognised" in error["message"]
    assert members(moengage) == ["11001"]
    assert len(bus.queue(QUEUE).dropped_duplicates) == 1
