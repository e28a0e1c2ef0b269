"""Counterexamples the durable-path simulation found (`./scripts/soak`), each reduced to the
mechanism it exposed and pinned on the real parts (the Service Bus model, Azurite, the emulator)."""

from __future__ import annotations

from bridge.durable.member_order import MemberLedger
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

    def first_read_fails(self, member, owner, now):
        if not unreadable:
            unreadable.append(member)
            raise ConnectionResetError("the table did not answer")
        return real(self, member, owner, now)

    monkeypatch.setattr(MemberLedger, "_lease", first_read_fails)
    newer = profile("5201", memberPointsAvailable="200")
    publish(bus, newer, event="member_updated", message_id="u-newer")
    await host.run_once()  # the newer update's first try: its member's row cannot be read

    await host.drain()

    assert unreadable == ["5201"]
    assert moengage.profiles["5201"]["points_balance"] == 200  # the newer value stays
