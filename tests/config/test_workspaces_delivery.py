"""Two MoEngage workspaces on two emulators (EU on data center 02, US on 01) served by one
deployment: interleaved webhook and queue traffic reaches each with its own credentials, and a
fault in one (429 bursts, an outage, a wrong key) never holds back the other's deliveries.

The queue path runs the real Service Bus trigger on the Service Bus model; time is virtual and
every wait is recorded per workspace, so "not delayed" is asserted, never timed."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta

import azure.functions as func
import pytest

import function_app
from bridge.common.observations import HEALTH
from bridge.deployment.runtime import current_deployment, current_workspace
from bridge.durable.gateway import GATEWAYS
from bridge.durable.messages import EVENT, WORKSPACE, IncomingMessage
from bridge.queue import trigger as queue_trigger
from bridge.queue.outcomes import Outcome
from bridge.queue.trigger import TriggerClock, process_queue_batch
from delivery import RateLimitGate
from moengage_emulator.contract import fail_body
from tests.conftest import (
    API_KEY,
    APP_ID,
    CONNECTION,
    DEAD,
    QUEUE,
    call_webhook,
    fixture_body,
    http_request,
)
from tests.fakes import VirtualClock
from tests.servicebus_model import FunctionHost, ServiceBusModel
from tests.workspaces import (
    EU_APP,
    EU_KEY,
    US_APP,
    US_KEY,
    basic,
    call_workspace_webhook,
    members,
    table,
    workspace_request,
)

pytestmark = pytest.mark.usefixtures("workspaces_env")


class Waits:
    """Every wait of each workspace's rate-limit gate, on the virtual clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.by_workspace: dict[str, list[float]] = {}

    def install(self) -> None:
        """Give every workspace of the current deployment a gate on the virtual clock."""
        for name, runtime in current_deployment().workspaces.items():
            runtime.gate = RateLimitGate(clock=self.clock.monotonic, sleep=self.sleeper(name))

    def sleeper(self, name: str) -> Callable[[float], object]:
        waits = self.by_workspace.setdefault(name, [])

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await self.clock.sleep(seconds)

        return sleep


@pytest.fixture(autouse=True)
def fresh_health():
    HEALTH.clear()
    yield
    HEALTH.clear()


@pytest.fixture
def waits(clock) -> Waits:
    return Waits(clock)


@pytest.fixture
def bus(workspaces_env, clock, waits, monkeypatch):
    """Queue mode on a Service Bus model; the trigger and every gate run on the virtual clock."""
    workspaces_env.setenv("KOGNITIV_SERVICE_BUS", CONNECTION)
    workspaces_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", QUEUE)
    model = ServiceBusModel(clock)
    GATEWAYS.install(model.gateway(QUEUE, DEAD))
    monkeypatch.setattr(queue_trigger, "CLOCK", TriggerClock(clock.wall, clock.sleep))
    waits.install()
    yield model
    GATEWAYS.install(None)


@pytest.fixture
def host(bus) -> FunctionHost:
    return FunctionHost(bus, QUEUE, function_app.kognitiv_service_bus.build().get_user_function())


def reward(member: str, reward_id: str = "R-1") -> dict:
    return {**fixture_body("rewards_issued"), "memberId": member, "rewardId": reward_id}


def publish(bus: ServiceBusModel, workspace: str | None, member: str) -> None:
    """A producer's own send to the queue; no `workspace` property means `default`."""
    properties = {EVENT: "rewards_issued"}
    if workspace is not None:
        properties[WORKSPACE] = workspace
    bus.queue(QUEUE).accept(uuid.uuid4().hex, json.dumps(reward(member)).encode(), properties)


def assert_sent_as(emulator, app_id: str, key: str) -> None:
    """Every request the emulator saw used this workspace's path and credentials."""
    assert emulator.requests
    for request in emulator.requests:
        assert request.path in (f"/v1/event/{app_id}", f"/v1/transition/{app_id}")
        assert request.headers["authorization"] == basic(app_id, key)
        assert request.headers["moe-appkey"] == app_id
    assert emulator.violations == []


def get_health() -> tuple[int, dict]:
    handler = function_app.health.build().get_user_function()
    response = handler(func.HttpRequest("GET", "http://localhost/api/health", body=b""))
    return response.status_code, json.loads(response.get_body())


def queued_workspaces(bus: ServiceBusModel) -> list[str]:
    return sorted(
        str(stored.application_properties.get(WORKSPACE)) for stored in bus.queue(QUEUE).all()
    )


# --- interleaved traffic -----------------------------------------------------------------------


async def test_interleaved_traffic_reaches_each_workspace_with_its_credentials(
    bus, host, moengage, eu, us, caplog
):
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")
    for index in range(4):
        for workspace in ("eu", "us"):
            request = workspace_request(workspace, "rewards_issued", reward(f"{workspace}-{index}"))
            status, body = await call_workspace_webhook(request)
            assert (status, body["status"]) == (202, "queued")
        status, _, _ = await call_webhook(
            http_request(reward(f"default-{index}"), "rewards_issued")
        )
        assert status == 202
        publish(bus, "eu", f"eu-bus-{index}")
        publish(bus, "us", f"us-bus-{index}")
        publish(bus, None, f"default-bus-{index}")

    await host.drain()

    assert host.errors == []
    assert len(host.executions) == 1  # one batch, split by workspace
    assert members(eu) == sorted([f"eu-{i}" for i in range(4)] + [f"eu-bus-{i}" for i in range(4)])
    assert members(us) == sorted([f"us-{i}" for i in range(4)] + [f"us-bus-{i}" for i in range(4)])
    assert members(moengage) == sorted(
        [f"default-{i}" for i in range(4)] + [f"default-bus-{i}" for i in range(4)]
    )
    assert_sent_as(eu, EU_APP, EU_KEY)
    assert_sent_as(us, US_APP, US_KEY)
    assert_sent_as(moengage, APP_ID, API_KEY)
    assert len(eu.requests) == len(us.requests) == len(moengage.requests) == 1
    lines = [
        json.loads(record.getMessage())
        for record in caplog.records
        if record.getMessage().startswith('{"kind":"queue_message"')
    ]
    assert len(lines) == 24
    for line in lines:  # each line names the workspace of its member
        assert line["members"][0].split("-")[0] == line["workspace"]


async def test_the_same_event_in_two_workspaces_is_not_a_duplicate(bus, host, eu, us):
    body = reward("shared-member", "R-shared")  # the same member and reward in both programs
    answers = []
    for workspace in ("eu", "us", "eu"):
        request = workspace_request(workspace, "rewards_issued", body)
        answers.append(await call_workspace_webhook(request))

    await host.drain()

    ids = [answer["id"] for _, answer in answers]
    assert ids[0] == ids[2] != ids[1]
    assert ids[0].startswith("eu:rewards_issued:")
    assert ids[1].startswith("us:rewards_issued:")
    assert (members(eu), members(us)) == (["shared-member"], ["shared-member"])
    assert len(bus.queue(QUEUE).dropped_duplicates) == 1  # eu's repeat, not us's


async def test_a_redelivered_batch_is_not_sent_again_to_either_workspace(bus, eu, us):
    messages = [
        IncomingMessage(json.dumps(reward("M-1")).encode(), "m-eu", {EVENT: "rewards_issued",
                        WORKSPACE: "eu", "idempotency_key": "same-key"}, delivery_count=1),
        IncomingMessage(json.dumps(reward("M-1")).encode(), "m-us", {EVENT: "rewards_issued",
                        WORKSPACE: "us", "idempotency_key": "same-key"}, delivery_count=1),
    ]  # fmt: skip
    first = await process_queue_batch(messages)
    again = await process_queue_batch(
        [IncomingMessage(m.body, m.message_id, m.properties, delivery_count=2) for m in messages]
    )

    assert [o.outcome for o in first] == [Outcome.DELIVERED, Outcome.DELIVERED]
    assert [o.outcome for o in again] == [Outcome.DELIVERED, Outcome.DELIVERED]
    assert (members(eu), members(us)) == (["M-1"], ["M-1"])  # each once, neither skipped


# --- a fault in one workspace ------------------------------------------------------------------


def rate_limit_burst(env, eu) -> None:
    eu.inject(status=429, times=3, headers={"x-ratelimit-reset": "120"})


def outage(env, eu) -> None:
    eu.inject(status=503, times=100_000)


def wrong_key(env, eu) -> None:
    env.setenv("EU_MOENGAGE_KEY", "eu-key-wrong")


def recover(env, eu, waits: Waits) -> None:
    eu.clear_faults()
    env.setenv("EU_MOENGAGE_KEY", EU_KEY)
    waits.install()  # a changed key rebuilds the runtimes: their gates again on virtual time


@pytest.mark.parametrize("fault", [rate_limit_burst, outage, wrong_key])
async def test_a_fault_in_one_workspace_never_holds_back_the_other(
    workspaces_env, bus, host, eu, us, waits, clock, fault
):
    fault(workspaces_env, eu)
    waits.install()
    for index in range(3):
        publish(bus, "eu", f"eu-{index}")
        publish(bus, "us", f"us-{index}")

    await host.run_once()

    assert members(us) == ["us-0", "us-1", "us-2"]  # in the first execution, at once
    assert len(us.requests) == 1
    assert waits.by_workspace["us"] == []
    assert current_workspace("us").gate.remaining() == 0
    assert members(eu) == []
    assert queued_workspaces(bus) == ["eu", "eu", "eu"]  # EU's messages wait as retries
    assert current_workspace("us").health.recent() == []
    seen = {problem.kind for problem in current_workspace("eu").health.recent()}
    assert (
        seen
        == {"rate_limit_burst": {"rate_limit"}, "outage": set(), "wrong_key": {"credentials"}}[
            fault.__name__
        ]
    )
    assert bus.queue(DEAD).all() == bus.queue(QUEUE).dead_letter.all() == []

    publish(bus, "us", "us-later")  # while EU is still held back
    clock.advance(1)
    await host.run_once()

    assert members(us) == ["us-0", "us-1", "us-2", "us-later"]
    assert waits.by_workspace["us"] == []

    recover(workspaces_env, eu, waits)
    await host.drain()

    assert host.errors == []
    assert members(eu) == ["eu-0", "eu-1", "eu-2"]
    assert members(us) == ["us-0", "us-1", "us-2", "us-later"]
    assert_sent_as(us, US_APP, US_KEY)
    assert bus.queue(DEAD).all() == []


async def test_the_healthy_workspace_delivers_while_the_other_waits_out_its_backoff(
    bus, eu, us, monkeypatch
):
    """EU's batch is first; its first request fails and the sender backs off. That backoff
    only ends once US's deliveries are finished: processed one workspace after the other, EU's
    wait could never end (the test would fail on its 10 s safety bound)."""
    eu.inject(status=503, times=1)
    us_finished = asyncio.Event()
    us_keys = current_workspace("us").delivered_keys
    settle = us_keys.settle

    async def settle_and_signal(delivered, released=()):
        await settle(delivered, released)
        if delivered:
            us_finished.set()

    monkeypatch.setattr(us_keys, "settle", settle_and_signal)
    backoffs: list[tuple[float, list[str]]] = []

    async def eu_backoff(seconds: float) -> None:
        await asyncio.wait_for(us_finished.wait(), 10)
        backoffs.append((seconds, members(us)))

    monkeypatch.setattr(queue_trigger, "CLOCK", TriggerClock(queue_trigger.CLOCK.wall, eu_backoff))
    batch = [
        IncomingMessage(json.dumps(reward(f"{w}-{i}")).encode(), f"{w}-{i}",
                        {EVENT: "rewards_issued", WORKSPACE: w})
        for w in ("eu", "us") for i in range(2)
    ]  # fmt: skip

    outcomes = await process_queue_batch(batch)

    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED] * 4
    assert len(backoffs) == 1
    assert backoffs[0][1] == ["us-0", "us-1"]  # US was done while EU was still backing off
    assert [r.status for r in eu.requests] == [503, 200]
    assert [r.status for r in us.requests] == [200]


async def test_direct_mode_a_rate_limited_workspace_leaves_the_other_gate_open(eu, us):
    eu.inject(status=429, times=1, headers={"x-ratelimit-reset": "120"})

    eu_status, eu_body = await call_workspace_webhook(
        workspace_request("eu", "rewards_issued", reward("E-1"))
    )
    us_status, us_body = await call_workspace_webhook(
        workspace_request("us", "rewards_issued", reward("U-1"))
    )

    assert (eu_status, eu_body["error"]["code"]) == (503, "moengage_unavailable")
    assert (us_status, us_body["status"], us_body["moengage_requests"]) == (200, "delivered", 1)
    assert current_workspace("eu").gate.remaining() > 100
    assert current_workspace("us").gate.remaining() == 0
    assert (members(eu), members(us)) == ([], ["U-1"])


# --- retries, dead letters and unknown workspaces ----------------------------------------------


async def test_retries_and_dead_letters_keep_their_workspace(bus, host, eu, us):
    refused = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    eu.inject(status=503, times=3)  # first try: a retry copy
    eu.inject(status=400, times=1, body=refused)  # second try: dead-lettered
    publish(bus, "eu", "E-1")
    publish(bus, "us", "U-1")

    await host.run_once()
    retried = bus.queue(QUEUE).all()
    await host.drain()

    assert [s.application_properties[WORKSPACE] for s in retried] == ["eu"]
    assert [s.application_properties["attempt"] for s in retried] == [1]
    [letter] = bus.queue(DEAD).all()
    assert letter.application_properties[WORKSPACE] == "eu"
    assert letter.application_properties["dead_letter_reason"] == "moengage_rejected"
    assert (members(eu), members(us)) == ([], ["U-1"])


async def test_a_message_for_an_unknown_workspace_is_held_until_it_exists(
    workspaces_env, bus, host, moengage, eu, us, clock, waits
):
    publish(bus, "asia", "A-1")
    publish(bus, "us", "U-1")

    for _ in range(12):  # more executions than MaxDeliveryCount
        await host.run_once()
        clock.now = bus.queue(QUEUE).next_scheduled() or clock.now

    assert host.errors == []
    assert members(us) == ["U-1"]
    assert queued_workspaces(bus) == ["asia"]
    assert bus.queue(DEAD).all() == bus.queue(QUEUE).dead_letter.all() == []
    [held] = bus.queue(QUEUE).all()
    assert held.application_properties["attempt"] >= 10
    assert held.scheduled_at is not None

    entries = table(eu, us)
    entries["asia"] = {
        "app_id": APP_ID,
        "data_center": "05",
        "api_key_setting": "MOENGAGE_API_KEY",
        "api_base_url": moengage.base_url,
        "inherit": True,
    }
    workspaces_env.setenv("MOENGAGE_WORKSPACES", json.dumps(entries))
    waits.install()
    await host.drain()

    assert members(moengage) == ["A-1"]
    assert bus.queue(DEAD).all() == []


async def test_an_unknown_workspace_outcome_says_why(bus, us):
    batch = [
        IncomingMessage(json.dumps(reward("A-1")).encode(), "a-1",
                        {EVENT: "rewards_issued", WORKSPACE: "asia"}),
        IncomingMessage(json.dumps(reward("U-1")).encode(), "u-1",
                        {EVENT: "rewards_issued", WORKSPACE: "us"}),
    ]  # fmt: skip

    outcomes = await process_queue_batch(batch)

    assert [(o.message_id, o.outcome, o.reason) for o in outcomes] == [
        ("a-1", Outcome.RETRY_LATER, "unknown_workspace"),
        ("u-1", Outcome.DELIVERED, None),
    ]


# --- a broken or unknown workspace holds only its own messages ---------------------------------


async def test_broken_workspace_settings_hold_only_that_workspaces_messages(
    workspaces_env, bus, host, moengage, eu, us, clock, waits
):
    workspaces_env.delenv("US_MOENGAGE_KEY")  # the us entry names a setting that is not set
    publish(bus, "eu", "E-1")
    publish(bus, "us", "U-1")
    publish(bus, None, "D-1")

    for _ in range(12):  # more executions than MaxDeliveryCount
        await host.run_once()
        clock.now = bus.queue(QUEUE).next_scheduled() or clock.now

    assert host.errors == []
    assert (members(eu), members(moengage), us.requests) == (["E-1"], ["D-1"], [])
    assert queued_workspaces(bus) == ["us"]
    assert bus.queue(DEAD).all() == bus.queue(QUEUE).dead_letter.all() == []

    workspaces_env.setenv("US_MOENGAGE_KEY", US_KEY)
    waits.install()
    await host.drain()

    assert members(us) == ["U-1"]
    assert bus.queue(DEAD).all() == []


async def test_an_unknown_workspace_is_dead_lettered_after_the_horizon_and_counted(
    workspaces_env, bus, host, us, clock, waits
):
    workspaces_env.setenv("KOGNITIV_RETRY_HORIZON_HOURS", "2")
    waits.install()
    start = clock.now
    publish(bus, "asia", "A-1")
    publish(bus, "us", "U-1")
    [original] = [s for s in bus.queue(QUEUE).all() if s.application_properties[WORKSPACE] != "us"]

    await host.drain()

    assert host.errors == []
    assert members(us) == ["U-1"]
    [letter] = bus.queue(DEAD).all()
    properties = letter.application_properties
    assert properties["dead_letter_reason"] == "unknown_workspace"
    assert (
        "'asia', which MOENGAGE_WORKSPACES does not define" in properties["dead_letter_description"]
    )
    assert (letter.body, properties[WORKSPACE]) == (original.body, "asia")
    assert clock.now - start >= timedelta(hours=2)
    assert clock.now - start < timedelta(hours=2, minutes=20)  # the first try after the horizon
    assert len(host.executions) < 20  # 30 s doubling up to 15 min: about ten holds in 2 h
    assert bus.queue(QUEUE).all() == []

    status, body = get_health()
    assert (status, body["status"]) == (200, "degraded")
    counted = body["unknown_workspaces"]["asia"]
    assert counted["dead_lettered"] == 1
    assert counted["held"] == len(host.executions) - 1  # every execution but the last
    assert any("asia" in warning for warning in body["warnings"])
