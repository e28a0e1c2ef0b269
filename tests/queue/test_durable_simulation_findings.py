"""Counterexamples the durable-path simulation found (`./scripts/soak`), each reduced to the
mechanism it exposed and pinned on the real parts (the Service Bus model, Azurite, the emulator)."""

from __future__ import annotations

from datetime import timedelta

from bridge.durable.member_order import LEASE_SECONDS, MemberLedger
from bridge.durable.messages import FIRST_RECEIVED_UTC
from moengage_emulator.contract import fail_body
from tests.conftest import DEAD
from tests.queue.test_delivery_record import azurite  # noqa: F401 - the Azurite fixture
from tests.queue.test_durable_faults import host, profile, storage  # noqa: F401 - fixtures
from tests.queue.test_durable_path import publish


# Seed 374323201: a newer update's first try, sent while its member's row could not be read, was
# not recorded in the member's state, so an older update retried later overwrote it.
async def test_a_first_update_whose_member_row_cannot_be_read_waits_instead_of_racing_older(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
    monkeypatch,
):
    older = profile("5201", memberPointsAvailable="100")
    publish(bus, older, event="member_updated", message_id="u-older")
    moengage.inject(status=503, times=3)
    await host.run_once()  # MoEngage down: the older update is retried in ~30 s
    clock.advance(5)
    real = MemberLedger._lease
    unreadable = []

    def first_read_fails(self, member, owner, now, *claim):
        if not unreadable:
            unreadable.append(member)
            raise ConnectionResetError("the table did not answer")
        return real(self, member, owner, now, *claim)

    monkeypatch.setattr(MemberLedger, "_lease", first_read_fails)
    newer = profile("5201", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="u-newer")
    await host.run_once()  # the newer update's first try: its member's row cannot be read

    await host.drain()

    assert unreadable == ["5201"]
    assert moengage.profiles["5201"]["points_balance"] == 200  # the newer value stays


# Seeds 374323250, 374323260: a batch sent a member's newest update, then could not write the
# member's state; once its lease expired, an older update retried later overwrote the newer value.
async def test_a_newest_update_whose_state_write_fails_is_never_overtaken_by_an_older_one(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
    monkeypatch,
):
    older = profile("5202", memberPointsAvailable="100")
    publish(bus, older, event="member_updated", message_id="w-older")
    moengage.inject(status=503, times=3)
    await host.run_once()  # MoEngage down: the older update is retried in ~30 s
    moengage.clear_faults()
    clock.advance(5)
    real = MemberLedger.release
    failed = []

    async def first_write_fails(self, states, owner):
        if not failed:
            failed.append(sorted(states))
            raise ConnectionResetError("the table did not answer")
        return await real(self, states, owner)

    monkeypatch.setattr(MemberLedger, "release", first_write_fails)
    newer = profile("5202", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="w-newer")
    await host.run_once()  # the newer update is sent; writing the member's state fails
    assert moengage.profiles["5202"]["points_balance"] == 200
    clock.advance(LEASE_SECONDS + 1)  # its lease expires before the older update comes back

    await host.drain()

    assert failed == [["5202"]]
    assert moengage.profiles["5202"]["points_balance"] == 200  # the newer value stays
    assert bus.queue(DEAD).all() == []


# Seed 702761377: in one wave, two older updates were completed as superseded by a newer one;
# the newer one was then refused (400) and dead-lettered, so neither older value ever landed.
async def test_older_updates_wait_for_the_newer_one_in_their_wave_instead_of_being_dropped(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
):
    start = clock.now
    for value, seconds in (("110", 1), ("120", 2), ("130", 3)):
        received = (start + timedelta(seconds=seconds)).isoformat()
        update = profile("5203", memberPointsAvailable=value)
        publish(
            bus, update, event="member_updated", message_id=f"v-{value}",
            **{FIRST_RECEIVED_UTC: received},
        )  # fmt: skip
    rejected = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    moengage.inject(status=400, times=1, body=rejected)  # the newest update is refused

    await host.drain()

    assert [letter.message_id for letter in bus.queue(DEAD).all()] == ["v-130"]
    assert moengage.profiles["5203"]["points_balance"] == 120  # the newest that landed
    assert host.errors == []
