"""Counterexamples the durable-path simulation found (`./scripts/soak`), each reduced to the
mechanism it exposed and pinned on the real parts (the Service Bus model, Azurite, the emulator)."""

from __future__ import annotations

from datetime import timedelta

from bridge.durable.delivery_record import TableDeliveryRecord
from bridge.durable.member_ledger import MemberLedger
from bridge.durable.member_order import LEASE_SECONDS
from bridge.durable.messages import FIRST_RECEIVED_UTC, RECORD_UNAVAILABLE_SINCE_UTC, utc_text
from moengage_emulator.contract import fail_body
from tests.conftest import DEAD
from tests.queue.test_delivery_record import azurite  # noqa: F401 - the Azurite fixture
from tests.queue.test_durable_faults import (  # noqa: F401 - fixtures
    host,
    older_update_retried_later,
    profile,
    storage,
)
from tests.queue.test_durable_path import publish


def first_call_fails(monkeypatch, owner: type, name: str, failed: list, label: object = None):
    """`owner.name` (a table write) fails once with a reset connection: `failed` records it,
    as `label` or the sorted members the write carried."""
    real = getattr(owner, name)

    async def fails_once(self, first, *rest):
        if not failed and (label is None or first):
            failed.append(sorted(first) if label is None else label)
            raise ConnectionResetError("the table did not answer")
        return await real(self, first, *rest)

    monkeypatch.setattr(owner, name, fails_once)


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


# Seed 5 (once the simulation ran in virtual time): two updates of one member accepted within the
# same instant carry one source time; the older one, retried, landed after the newer one. Of two
# facts with one source time the later-enqueued one is the newer (`source_sequence`, the first
# message's sequence number, carried by every retry copy).
async def test_of_two_updates_with_one_source_time_the_later_enqueued_wins_across_retries(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
):
    same_time = {FIRST_RECEIVED_UTC: "2026-03-14T09:00:00.000000Z"}
    older = profile("5204", memberPointsAvailable="100")
    publish(bus, older, event="member_updated", message_id="tie-older", **same_time)
    moengage.inject(status=503, times=3)
    await host.run_once()  # MoEngage down: the earlier-enqueued update is retried
    moengage.clear_faults()
    clock.advance(5)
    newer = profile("5204", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="tie-newer", **same_time)
    await host.run_once()  # the later-enqueued update lands first
    assert moengage.profiles["5204"]["points_balance"] == 200

    await host.drain()  # the earlier one's retry comes back

    assert moengage.profiles["5204"]["points_balance"] == 200  # the later-enqueued value stays
    assert [e["attributes"]["points_balance"] for e in moengage.accepted] == [200]
    assert bus.queue(DEAD).all() == []


# Found by reading while diagnosing seed 208289176: a message held for the delivered-keys record
# carried that outage's start, and the first time its member's row could not be read it counted
# as a member-row outage already past its bound: sent unordered at once. Each store has its own
# outage clock.
async def test_a_hold_for_the_delivered_keys_record_never_counts_towards_the_member_row_bound(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
    monkeypatch,
):
    newer = profile("5205", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="c-newer")
    await host.run_once()
    assert moengage.profiles["5205"]["points_balance"] == 200
    long_ago = utc_text(clock.now - timedelta(minutes=40))
    older = profile("5205", memberPointsAvailable="100")
    publish(
        bus,
        older,
        event="member_updated",
        message_id="c-older",
        **{FIRST_RECEIVED_UTC: long_ago, RECORD_UNAVAILABLE_SINCE_UTC: long_ago},
    )  # an older fact, held 40 minutes ago while the delivered-keys record did not answer
    real = MemberLedger._lease
    unreadable = []

    def first_read_fails(self, member, owner, now, *claim):
        if not unreadable:
            unreadable.append(member)
            raise ConnectionResetError("the table did not answer")
        return real(self, member, owner, now, *claim)

    monkeypatch.setattr(MemberLedger, "_lease", first_read_fails)

    await host.run_once()  # its member's row cannot be read, once: held, not sent unordered
    await host.drain()

    assert unreadable == ["5205"]
    assert moengage.profiles["5205"]["points_balance"] == 200
    assert [e["attributes"]["points_balance"] for e in moengage.accepted] == [200]


# Seeds 208289193 and 617910605: a batch sent a member's newest update, which failed, and could
# not write the member's state; its claim was then taken as applied, so older updates were left
# out for it, and the newest one ended as a letter (moengage_rejected): the older values never
# landed anywhere. An older fact now waits until the claimed one's fate is known.
async def test_an_older_update_waits_for_an_unsettled_newer_one_that_then_ends_as_a_letter(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
    monkeypatch,
):
    await older_update_retried_later(bus, host, moengage, "5206", "h-older")
    clock.advance(5)
    failed: list = []
    first_call_fails(monkeypatch, MemberLedger, "release", failed)
    newer = profile("5206", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="h-newer")
    moengage.inject(status=503, times=3)
    await host.run_once()  # the newer update fails (retried); its member's state is not written
    clock.advance(LEASE_SECONDS + 1)  # its claim outlives the lease: it may have landed
    rejected = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    moengage.inject(status=400, times=1, body=rejected)  # the newer update's next try is refused

    await host.drain()

    assert failed == [["5206"]]
    assert [letter.message_id for letter in bus.queue(DEAD).all()] == ["h-newer#r1"]
    assert moengage.profiles["5206"]["points_balance"] == 100  # the newest that landed
    assert [e["attributes"]["points_balance"] for e in moengage.accepted] == [100]
    assert host.errors == []


# Seed 617910605: a batch sent a member's newest update, MoEngage refused it (400: a letter), and
# the member's state could not be written; the claim outlived the batch as if applied, and two
# older updates were left out for a value that only a letter holds. An unsettled claim is now
# settled by its key in the delivered-keys record: not delivered, it no longer stands in the way.
async def test_an_older_update_is_sent_when_the_unsettled_newer_one_was_dead_lettered(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
    monkeypatch,
):
    await older_update_retried_later(bus, host, moengage, "5207", "l-older")
    clock.advance(5)
    failed: list = []
    first_call_fails(monkeypatch, MemberLedger, "release", failed)
    newer = profile("5207", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="l-newer")
    rejected = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
    moengage.inject(status=400, times=1, body=rejected)
    await (
        host.run_once()
    )  # the newer update is refused: a letter; its member's state is not written
    assert [letter.message_id for letter in bus.queue(DEAD).all()] == ["l-newer"]
    clock.advance(LEASE_SECONDS + 1)  # its claim outlives the lease
    began = clock.now

    await host.drain()

    assert failed == [["5207"]]
    assert moengage.profiles["5207"]["points_balance"] == 100  # the newest that landed
    assert [e["attributes"]["points_balance"] for e in moengage.accepted] == [100]
    assert clock.now - began < timedelta(hours=1)  # not after a day of waiting
    assert host.errors == []


# Seed 445276388 (found while the claim above was settled by "not recorded delivered"): MoEngage
# accepted the newest update, and both its delivered mark and its member's state could not be
# written (one storage account: their faults come together). Its key was still claimed, not
# released, so it may have landed: an older update retried later must not overwrite it.
async def test_an_unsettled_newer_update_whose_delivered_mark_failed_is_never_overwritten(
    storage,  # noqa: F811
    bus,
    host,  # noqa: F811
    moengage,
    clock,
    monkeypatch,
):
    await older_update_retried_later(bus, host, moengage, "5208", "m-older")
    moengage.clear_faults()
    clock.advance(5)
    member_write: list = []
    mark: list = []
    first_call_fails(monkeypatch, MemberLedger, "release", member_write, "member")
    first_call_fails(monkeypatch, TableDeliveryRecord, "settle", mark, "mark")  # a delivered mark
    newer = profile("5208", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="m-newer")
    await host.run_once()  # the newer update lands; neither its mark nor its member's state is kept
    assert moengage.profiles["5208"]["points_balance"] == 200
    clock.advance(LEASE_SECONDS + 1)

    await host.drain()

    assert member_write + mark == ["member", "mark"]
    assert moengage.profiles["5208"]["points_balance"] == 200  # the newer value stays
    assert [e["attributes"]["points_balance"] for e in moengage.accepted] == [200]
    assert bus.queue(DEAD).all() == []
    assert host.errors == []
