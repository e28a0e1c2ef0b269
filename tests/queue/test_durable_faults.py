"""The durable path under lasting and racing faults, one named regression per mechanism: the real
trigger (`function_app.kognitiv_service_bus`) as the Functions host runs it on the Service Bus
model, Azurite for the delivered-keys record and the claim-check table, the MoEngage emulator
over real sockets. Service Bus and delivery time are virtual."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

import function_app
from bridge.durable import tables
from bridge.durable.claim_checks import ClaimChecks
from bridge.durable.delivery_record import TableDeliveryRecord
from bridge.durable.gateway import GATEWAYS
from bridge.durable.idempotency import CLAIM_SECONDS, KeyState
from bridge.durable.messages import (
    ATTEMPT,
    CLAIM_CHECK,
    DELIVERED_ELEMENTS,
    FIRST_RECEIVED_UTC,
    IDEMPOTENCY_KEY,
    UNAVAILABLE_SINCE_UTC,
)
from bridge.durable.tables import StorageConfig
from bridge.queue import processor as queue_processor
from bridge.queue import settlement
from bridge.queue import trigger as queue_trigger
from bridge.queue.trigger import TriggerClock
from moengage_emulator.contract import fail_body
from tests.conftest import DEAD, QUEUE, fixture_body, http_request
from tests.documentation import documentation_text
from tests.queue.test_delivery_record import azurite, restart  # noqa: F401 - the Azurite fixture
from tests.queue.test_durable_path import members, publish, reward, run_cli
from tests.servicebus_model import FunctionHost, ServiceBusModel

ALL_ATTEMPTS = settlement.SETTLE_ATTEMPTS


def trigger() -> object:
    return function_app.kognitiv_service_bus.build().get_user_function()


@pytest.fixture
def host(bus, clock, monkeypatch) -> FunctionHost:
    restart(clock, monkeypatch)
    return FunctionHost(bus, QUEUE, trigger())


@pytest.fixture
def storage(azurite, settings_env, clock, monkeypatch) -> str:  # noqa: F811
    """The delivered-keys record and the claim-check table on Azurite, on the virtual clock."""
    settings_env.setenv("AzureWebJobsStorage", azurite)
    restart(clock, monkeypatch)
    return azurite


def kept_as(message_id: str) -> str:
    """The claim-check reference of a letter: its row is a hash of its MessageId."""
    return f"kognitivletters/letter/{hashlib.sha256(message_id.encode()).hexdigest()}"


def health() -> dict:
    answer = function_app.health.build().get_user_function()(http_request(b""))
    return json.loads(answer.get_body())


# 1. A message and its own retry copy in one batch ---------------------------------------------
async def test_a_message_and_its_own_retry_copy_in_one_batch_lose_nothing(
    bus, host, moengage, clock
):
    publish(bus, reward("1601"), message_id="m1601")
    moengage.inject(status=503, times=6)  # down for two batches
    bus.faults.lose_acks = ALL_ATTEMPTS  # the retry copy is stored, its acknowledgement lost

    await host.run_once()  # raises: M comes back, its copy M#r1 is already written
    [copy] = [s for s in bus.queue(QUEUE).all() if s.message_id == "m1601#r1"]
    clock.now = copy.scheduled_at
    await host.run_once()  # M (2nd delivery) and M#r1 in one batch, MoEngage still down
    await host.drain()

    assert [type(e).__name__ for e in host.errors] == ["SettlementError"]
    assert host.executions[1].message_ids == ["m1601", "m1601#r1"]
    assert members(moengage) == ["1601"]
    assert bus.queue(QUEUE).dead_letter.all() == bus.queue(DEAD).all() == []


# 2. A write that can never succeed sinks no batch ----------------------------------------------
@pytest.mark.parametrize("fault", ["missing", "full"])
async def test_an_unwritable_dead_letter_queue_sinks_no_batch(storage, bus, host, moengage, fault):
    getattr(bus.faults, fault).add(DEAD)
    for index in range(3):
        publish(bus, reward(f"162{index}"), message_id=f"{fault}-ok{index}")
    publish(bus, reward("1629"), event="no_such_event", message_id=f"{fault}-bad")

    await host.drain()

    assert host.errors == []
    assert len(host.executions) == 1
    assert members(moengage) == ["1620", "1621", "1622"]
    assert bus.queue(QUEUE).dead_letter.all() == []
    checks = ClaimChecks(StorageConfig(connection_string=storage))
    [listed] = [p for p in await checks.list() if p["claim_check"] == kept_as(f"{fault}-bad")]
    assert listed["reason"] == "mapping_failed"
    kept = await checks.read(listed["claim_check"])
    assert kept.message_id == f"{fault}-bad"
    assert json.loads(kept.body)["memberId"] == "1629"
    report = health()
    assert report["status"] == "degraded"
    assert report["dead_letter_queue"]["writable"] is False
    assert report["dead_letter_queue"]["problem"]["kind"] == f"dead_letter_queue_{fault}"
    assert any("dead-letter queue" in warning for warning in report["warnings"])


async def test_a_letter_too_large_for_the_dead_letter_queue_keeps_its_body(
    storage, bus, host, moengage
):
    raw = json.dumps({**reward("1630"), "padding": ""}).encode()
    raw = raw.replace(
        b'"padding": ""', b'"padding": "' + b"x" * (256 * 1024 - 40 - len(raw)) + b'"'
    )
    assert len(raw) == 256 * 1024 - 40  # fits the queue with its `event`; not with a reason
    publish(bus, raw, message_id="big")
    publish(bus, reward("1631"), message_id="small")

    await host.drain()

    assert host.errors == []
    assert members(moengage) == ["1631"]
    [pointer] = bus.queue(DEAD).all()
    assert pointer.message_id == "big"
    assert pointer.application_properties["dead_letter_reason"] == "invalid_payload"
    reference = pointer.application_properties[CLAIM_CHECK]
    assert json.loads(pointer.body) == {CLAIM_CHECK: reference, "size": len(raw)}
    kept = await ClaimChecks(StorageConfig(connection_string=storage)).read(reference)
    assert kept.body == raw
    assert kept.properties["dead_letter_reason"] == "invalid_payload"
    assert health()["dead_letter_queue"]["writable"] is True


async def test_a_retry_copy_too_large_for_the_queue_becomes_a_kept_letter(
    storage, bus, host, moengage, clock
):
    # Fits the queue as sent; its retry copy's added properties no longer do.
    body = reward("1640")
    room = 256 * 1024 - 20 - len(json.dumps(body)) - len("event" + "rewards_issued" + "note")
    publish(bus, body, message_id="near", note="y" * room)
    publish(bus, reward("1641"), message_id="other")
    moengage.inject(status=503, times=3)

    await host.drain()

    assert host.errors == []
    assert members(moengage) == ["1641"]
    [pointer] = bus.queue(DEAD).all()
    assert pointer.application_properties["dead_letter_reason"] == "unwritable_retry"
    reference = pointer.application_properties[CLAIM_CHECK]
    kept = await ClaimChecks(StorageConfig(connection_string=storage)).read(reference)
    assert json.loads(kept.body)["memberId"] == "1640"
    assert kept.properties["note"].startswith("yyy")

    # Replaying the pointer letter delivers the kept body.
    code, _ = await asyncio.to_thread(run_cli, "deadletters", "replay", "--all",
                                      gateway=GATEWAYS.get())  # fmt: skip
    assert code == 0
    await host.drain()
    assert members(moengage) == ["1640", "1641"]


async def test_a_retry_write_that_times_out_unstored_is_written_again(bus, host, moengage):
    publish(bus, reward("1650"), message_id="t1650")
    moengage.inject(status=503, times=3)
    bus.faults.time_out_sends = 2  # the first two writes time out and store nothing

    await host.drain()

    assert host.errors == []
    assert members(moengage) == ["1650"]
    assert bus.queue(QUEUE).dropped_duplicates == []


async def test_a_128_character_message_id_retries_within_the_limit(bus, host, moengage):
    longest = "k" * 128
    publish(bus, reward("1660"), message_id=longest)
    moengage.inject(status=503, times=3)

    await host.run_once()
    [retry] = bus.queue(QUEUE).all()
    await host.drain()

    assert host.errors == []
    assert len(retry.message_id) <= 128
    assert retry.message_id.endswith("#r1")
    assert members(moengage) == ["1660"]


# 4. One failing Table read ------------------------------------------------------------------------
async def test_one_failing_table_read_holds_only_its_key(storage, bus, host, moengage, monkeypatch):
    for index in range(3):
        publish(bus, reward(f"164{index}"), message_id=f"r{index}")
    await host.drain()
    assert members(moengage) == ["1640", "1641", "1642"]
    record = TableDeliveryRecord(StorageConfig(connection_string=storage))
    assert await record.find(["r0", "r1", "r2"]) == {"r0", "r1", "r2"}

    # The same three again (a redelivery after a restart); reading r1's row fails once.
    restart(host.model.clock, monkeypatch)
    real = TableDeliveryRecord._claim_one
    failures = []

    def one_read_fails(self, key, now):
        if key == "r1" and not failures:
            failures.append(key)
            from azure.core.exceptions import ServiceResponseError

            raise ServiceResponseError("connection reset")
        return real(self, key, now)

    monkeypatch.setattr(TableDeliveryRecord, "_claim_one", one_read_fails)
    for index in range(3):
        publish(bus, reward(f"164{index}"), message_id=f"r{index}#r1",
                **{ATTEMPT: 1, IDEMPOTENCY_KEY: f"r{index}"})  # fmt: skip
    await host.run_once()

    assert failures == ["r1"]
    assert members(moengage) == ["1640", "1641", "1642"]  # nothing resent
    [held] = bus.queue(QUEUE).all()  # r1 alone is held, retried shortly
    assert held.message_id == "r1#r2"
    await host.drain()
    assert members(moengage) == ["1640", "1641", "1642"]


# 6. A function timeout mid-batch ------------------------------------------------------------
async def test_a_function_timeout_repeats_at_most_the_wave_in_flight(
    storage, bus, host, moengage, clock, monkeypatch
):
    for index in range(500):
        publish(bus, reward(f"6{index:03d}"), message_id=f"w{index}")
    publish(bus, reward("6999"), message_id="last")  # the third wave: one element, its own API
    moengage.inject(status=None, times=1, latency=5.0, path_prefix="/v1/event")
    seen: list[float] = []

    def cut_after_two_waves() -> bool:
        if len(moengage.accepted) < 500:
            return False
        seen.append(time.monotonic())
        return seen[-1] - seen[0] > 1.0  # two waves accepted and recorded; the third in flight

    host.timeout_when = cut_after_two_waves
    await host.run_once()
    host.timeout_when = None
    assert [type(e).__name__ for e in host.errors] == ["FunctionTimeout"]
    restart(clock, monkeypatch)  # the host restarts the worker: the in-memory keys are gone
    await asyncio.sleep(5.0)  # the request in flight reaches MoEngage after the cut
    await host.drain()

    delivered = members(moengage)
    assert sorted(set(delivered)) == sorted([f"6{index:03d}" for index in range(500)] + ["6999"])
    repeated = {member for member in delivered if delivered.count(member) > 1}
    assert repeated <= {"6999"}  # only the wave in flight


# 7. Two instances, two live copies ------------------------------------------------------------
async def test_two_instances_with_two_live_copies_deliver_once(
    storage, settings_env, clock, moengage, monkeypatch
):
    basic = ServiceBusModel(clock, duplicate_window=timedelta(0))  # no duplicate detection
    GATEWAYS.install(basic.gateway(QUEUE, DEAD))
    monkeypatch.setattr(queue_trigger, "CLOCK", TriggerClock(clock.wall, clock.sleep))
    try:
        first = FunctionHost(basic, QUEUE, trigger(), max_batch=1)
        second = FunctionHost(basic, QUEUE, trigger(), max_batch=1)
        publish(basic, reward("1701"), message_id="same-event")
        publish(basic, reward("1701"), message_id="same-event")
        moengage.latency = 0.2  # both sends would overlap

        await asyncio.gather(first.run_once(), second.run_once())
        moengage.latency = 0.0
        await first.drain()
    finally:
        GATEWAYS.install(None)

    assert first.errors == second.errors == []
    assert members(moengage) == ["1701"]
    assert basic.queue(QUEUE).all() == []


async def test_a_claim_left_by_a_crashed_instance_expires(storage, bus, host, moengage, clock):
    record = TableDeliveryRecord(StorageConfig(connection_string=storage))
    crashed_at = clock.now
    assert await record.claim(["orphan"], crashed_at) == {"orphan": KeyState.CLAIMED}
    publish(bus, reward("1702"), message_id="orphan")

    await host.drain()

    assert members(moengage) == ["1702"]
    assert clock.now - crashed_at >= timedelta(seconds=CLAIM_SECONDS)
    assert len(host.executions) > 1  # held while the claim was alive
    assert await record.find(["orphan"]) == {"orphan"}


# 10. Poison properties ------------------------------------------------------------------------
POISON = [
    {FIRST_RECEIVED_UTC: "0001-01-01T00:00:00+01:00"},
    {FIRST_RECEIVED_UTC: "9999-12-31T23:59:59-01:00"},
    {DELIVERED_ELEMENTS: "²"},
    {DELIVERED_ELEMENTS: "1,²,x,-3"},
    {ATTEMPT: "²"},
    {ATTEMPT: float("inf")},
    {ATTEMPT: 2**80},
    {UNAVAILABLE_SINCE_UTC: "0001-01-01T00:00:00+01:00"},
    {"custom": 2**80},
]


async def test_poison_properties_never_raise_nor_multiply_deliveries(bus, host, moengage):
    for index in range(500):
        poison = POISON[index % len(POISON)] if index % 50 == 7 else {}
        publish(bus, reward(f"10{index:03d}"), message_id=f"p{index}", **poison)
    moengage.inject(status=503, times=3, path_prefix="/v1/transition")  # one wave: retries

    await host.drain()

    assert host.errors == []
    assert members(moengage) == sorted(f"10{index:03d}" for index in range(500))
    assert bus.queue(DEAD).all() == bus.queue(QUEUE).dead_letter.all() == []


# 12. Replay after a split delivery ----------------------------------------------------------
async def test_a_replayed_letter_of_a_split_delivery_sends_only_the_rest(bus, host, moengage):
    rejected = fail_body("event", "event is not valid", "InvalidAttributeError")
    publish(bus, fixture_body("member_enrolled"), event="member_enrolled", message_id="split")
    moengage.inject(status=413, times=1)  # customer + event together: too large
    moengage.inject(status=None, times=1)  # the customer half is accepted
    moengage.inject(status=400, times=1, body=rejected)  # the event half is refused

    await host.drain()
    [letter] = bus.queue(DEAD).all()
    assert letter.application_properties[DELIVERED_ELEMENTS] == "0"
    code, _ = await asyncio.to_thread(run_cli, "deadletters", "replay", "--all",
                                      gateway=GATEWAYS.get())  # fmt: skip
    assert code == 0
    await host.drain()

    assert [(e["type"], e["customer_id"]) for e in moengage.accepted] == [
        ("customer", "100246"),
        ("event", "100246"),
    ]


# 13. Retry copies of id-less messages ----------------------------------------------------------
async def test_retry_copies_of_a_message_without_id_do_not_multiply(bus, host, moengage):
    stored = publish(bus, reward("1301"), no_id=True)
    moengage.inject(status=503, times=6)  # down for the first two executions
    bus.faults.lose_acks = ALL_ATTEMPTS  # the first retry write is stored, unacknowledged

    await host.drain()

    root = f"sequence-{stored.sequence_number}"
    assert [type(e).__name__ for e in host.errors] == ["SettlementError"]
    assert f"{root}#r1" in bus.queue(QUEUE).dropped_duplicates  # the redelivery's own copy
    assert members(moengage) == ["1301"]


# 14. A hung Table endpoint -------------------------------------------------------------------
@pytest.fixture
def hung_endpoint() -> Iterator[int]:
    """A TCP listener that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


async def test_a_hung_table_endpoint_never_blocks_delivery(
    hung_endpoint, bus, host, moengage, clock, settings_env, monkeypatch
):
    from tests.queue.test_delivery_record import storage_connection

    settings_env.setenv("AzureWebJobsStorage", storage_connection(hung_endpoint))
    # MoEngage by host name: every connection needs a DNS lookup in the default executor.
    settings_env.setenv(
        "MOENGAGE_API_BASE_URL", moengage.base_url.replace("127.0.0.1", "localhost")
    )
    monkeypatch.setattr(tables, "TIMEOUT_SECONDS", 0.2)
    monkeypatch.setitem(tables.SOCKET_TIMEOUTS, "read_timeout", 2.0)
    restart(clock, monkeypatch)
    for index in range(12):
        seen = {ATTEMPT: 1, IDEMPOTENCY_KEY: f"h{index}"} if index % 2 else {}
        publish(bus, reward(f"14{index:02d}"), message_id=f"h{index}", **seen)
    host.max_batch = 2  # many executions, each waiting on the hung record

    async with asyncio.timeout(60):  # a guard, not a measurement: a stall would hang here
        await host.drain()

    assert host.errors == []
    assert members(moengage) == sorted(f"14{index:02d}" for index in range(12))
    outage = timedelta(seconds=queue_processor.RECORD_OUTAGE_SECONDS)
    assert clock.now - clock.origin >= outage  # retries held up to the bound, then delivered
    first_tries = [r for r in moengage.requests if r.status == 200][:6]
    assert len(first_tries) == 6  # first deliveries went at once: the record cannot block them


DELETE_RULE = {
    "description": "A member was deleted in Kognitiv.",
    "elements": [{"type": "delete", "customer_id": "{{memberId | required}}"}],
}


# Also: one delivery deadline for the whole invocation ----------------------------------------
async def test_ordered_waves_share_one_delivery_deadline(
    bus, host, moengage, monkeypatch, settings_env, clock
):
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps({"member_deleted": DELETE_RULE}))
    restart(clock, monkeypatch)
    monkeypatch.setattr(queue_processor, "DELIVERY_SECONDS", 0.3)
    # Each ordered wave takes at least this long; well under the sender's shortest request
    # timeout (0.5 s), so a loaded machine never turns an answered request into a repeat.
    moengage.latency = 0.2
    publish(bus, {"memberId": "D-1"}, event="member_deleted")  # the waves after it are ordered
    for index in range(3 * queue_processor.WAVE_SIZE):
        publish(bus, reward(f"15{index:03d}"), message_id=f"o{index}")

    await host.run_once()
    first = len(moengage.requests)
    moengage.latency = 0.0
    await host.drain()

    assert host.errors == []
    assert first < 4  # the delete and the waves after it: cut by the one deadline
    assert members(moengage) == sorted(f"15{index:03d}" for index in range(750))


# 5. Order per member across batches and retries -----------------------------------------------
def profile(member: str, **fields: str) -> dict:
    body = {**fixture_body("member_enrolled"), "memberId": member, **fields}
    return {key: value for key, value in body.items() if value is not None}


async def older_update_retried_later(bus, functions, moengage, member: str, message_id: str):
    """A member's older update that a MoEngage outage sends back to the queue (~30 s later)."""
    older = profile(member, memberPointsAvailable="100")
    publish(bus, older, event="member_updated", message_id=message_id)
    moengage.inject(status=503, times=3)
    await functions.run_once()


@pytest.fixture
def deletes(settings_env, clock, monkeypatch):
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps({"member_deleted": DELETE_RULE}))
    restart(clock, monkeypatch)


async def test_an_older_update_retried_after_a_newer_one_never_overwrites_it(
    storage, bus, host, moengage, clock
):
    older = profile("5101", memberPointsAvailable="100", memberFirstName="Ada")
    publish(bus, older, event="member_updated", message_id="u-older")
    moengage.inject(status=503, times=3)
    await host.run_once()  # MoEngage down: the older update is retried in ~30 s
    clock.advance(5)
    newer = profile("5101", memberPointsAvailable="200", memberFirstName=None)
    publish(bus, newer, event="member_updated", message_id="u-newer")
    await host.run_once()  # the newer update reaches MoEngage first

    await host.drain()

    final = moengage.profiles["5101"]
    assert final["points_balance"] == 200  # the newer value stays
    assert final["first_name"] == "Ada"  # an attribute only the older update had still lands
    sent = [e["attributes"].get("points_balance") for e in moengage.accepted]
    assert sent == [200, None]  # the older update was sent without its outdated balance


async def test_a_newer_update_partly_accepted_before_a_retry_is_never_overwritten_by_an_older(
    storage, bus, host, moengage, clock
):
    """A message whose request was split (413) and only partly accepted is retried for the
    rest; the part MoEngage accepted is recorded in its member's state, so an older update
    retried later does not overwrite it."""
    await older_update_retried_later(bus, host, moengage, "5102", "p-older")
    moengage.clear_faults()
    clock.advance(5)
    newer = profile("5102", memberPointsAvailable="200")  # member_enrolled: customer + event
    publish(bus, newer, event="member_enrolled", message_id="p-newer")
    moengage.inject(status=413, times=1, path_prefix="/v1/transition")  # split in halves
    moengage.inject(status=503, times=20, path_prefix="/v1/event")  # the event half fails
    await host.run_once()  # the newer profile lands; its event waits for a retry
    assert moengage.profiles["5102"]["points_balance"] == 200
    moengage.clear_faults()

    await host.drain()

    assert moengage.profiles["5102"]["points_balance"] == 200  # the newer value stays
    assert [e["type"] for e in moengage.accepted if e.get("customer_id") == "5102"].count(
        "event"
    ) == 1  # the newer message's event, delivered once by its retry
    assert bus.queue(DEAD).all() == []


async def test_an_update_retried_after_its_members_delete_is_not_sent(
    storage, deletes, bus, host, moengage, clock
):
    publish(bus, profile("5201"), event="member_updated", message_id="e-5201")
    await host.run_once()  # the member exists in MoEngage
    clock.advance(5)
    publish(bus, profile("5201", memberLastName="Later"), event="member_updated", message_id="u")
    moengage.inject(status=503, times=3)
    await host.run_once()  # the next update fails (attempt 0)
    clock.advance(5)
    publish(bus, {"memberId": "5201"}, event="member_deleted", message_id="d-5201")
    await host.run_once()  # the later delete is delivered

    await host.drain()  # the update's retry comes back after the delete

    assert moengage.deletions == [("customer_id", "5201")]
    assert len([e for e in moengage.accepted if e.get("type") == "customer"]) == 1
    moengage.elapse(24 * 3600 + 1)  # Delete User's buffer ends: nothing brought the user back
    assert "5201" not in moengage.profiles


async def test_a_failed_delete_keeps_its_place_before_a_later_re_enrolment(
    storage, deletes, bus, host, moengage, clock
):
    publish(bus, profile("5301", memberLastName="Old"), event="member_updated", message_id="e0")
    await host.run_once()  # the member exists in MoEngage
    clock.advance(5)
    publish(bus, {"memberId": "5301"}, event="member_deleted", message_id="d-5301")
    moengage.inject(status=503, times=3, path_prefix="/v1/customer/delete")
    await host.run_once()  # the delete fails: a barrier for 5301's newer facts
    clock.advance(5)
    again = profile("5301", memberFirstName="New", memberLastName=None)
    publish(bus, again, event="member_updated", message_id="e2")
    await host.run_once()  # the re-enrolment waits behind the delete
    assert len(moengage.accepted) == 1

    await host.drain()

    assert moengage.deletions == [("customer_id", "5301")]
    accepted = [r for r in moengage.requests if r.status == 200]
    delete_at = next(i for i, r in enumerate(accepted) if r.path.startswith("/v1/customer/delete"))
    re_enrolled_at = next(i for i, r in enumerate(accepted) if b'"New"' in r.body)
    assert delete_at < re_enrolled_at  # the delete keeps its place before the newer fact
    # MoEngage applies an update sent within Delete User's 24-hour buffer to the user being
    # deleted, so the profile carries the newer fact until the buffer ends.
    assert moengage.profiles["5301"]["first_name"] == "New"


def test_one_invocation_fits_function_timeout_whatever_the_wave_budget():
    from pathlib import Path

    from bridge.config.settings import Settings

    root = Path(__file__).parent.parent.parent
    hours, minutes, seconds = json.loads((root / "host.json").read_text())["functionTimeout"].split(
        ":"
    )
    timeout = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    largest = Settings.model_fields["moengage_queue_time_budget_seconds"].metadata
    assert timeout == queue_processor.FUNCTION_TIMEOUT_SECONDS
    settle = settlement.SETTLE_ATTEMPTS * settlement.SETTLE_TIMEOUT_SECONDS
    assert queue_processor.DELIVERY_SECONDS + settle + 30 < timeout
    assert any(getattr(bound, "le", None) == 240 for bound in largest)  # a wave may ask for more
    readme = documentation_text()
    assert f"ends within {queue_processor.DELIVERY_SECONDS:g} s" in readme
