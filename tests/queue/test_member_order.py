"""The order rule for a member's facts (`bridge.durable.member_order`), without storage: whatever
order updates arrive in, MoEngage ends with each attribute's newest value; erasures keep their
place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.durable.member_order import MemberState, claims_of, facts_of, plan, record

T0 = datetime(2026, 3, 14, tzinfo=UTC)
NOW = T0 + timedelta(days=1)


def update(member: str, **attributes: object) -> dict:
    return {"type": "customer", "customer_id": member, "attributes": attributes}


def deliver(elements: list[tuple[dict, datetime]], state: MemberState, profile: dict) -> None:
    """One wave per element, as MoEngage would apply what the plan lets through."""
    for position, (element, time) in enumerate(elements):
        facts = facts_of(element, (position, 0), time)
        states = {fact.member: state for fact in facts}
        decided = plan(facts, states, NOW)
        if (position, 0) in decided.skip or (position, 0) in decided.hold:
            continue
        dropped = decided.drop_attributes.get((position, 0), set())
        if element["type"] == "delete":
            profile.clear()
        else:
            profile.update({k: v for k, v in element["attributes"].items() if k not in dropped})
        record(facts, states, {(position, 0)}, set(), {(position, 0): dropped}, NOW)


facts = st.lists(
    st.dictionaries(st.sampled_from("abc"), st.integers(0, 9), min_size=1), min_size=1, max_size=8
)


@settings(max_examples=200, deadline=None)
@given(facts, st.randoms(use_true_random=False))
def test_any_arrival_order_ends_with_each_attributes_newest_value(updates, rng):
    timed = [(update("m", **fields), T0 + timedelta(seconds=i)) for i, fields in enumerate(updates)]
    arrival = list(timed)
    rng.shuffle(arrival)
    profile: dict = {}

    deliver(arrival, MemberState(), profile)

    newest: dict = {}
    for element, _ in timed:  # in time order: the last writer of each attribute wins
        newest.update(element["attributes"])
    assert profile == newest


def test_an_update_older_than_a_delivered_delete_is_skipped():
    state, profile = MemberState(), {}
    deliver(
        [({"type": "delete", "customer_id": "m"}, T0 + timedelta(seconds=2)),
         (update("m", a=1), T0 + timedelta(seconds=1))],
        state, profile,
    )  # fmt: skip
    assert profile == {}
    assert state.erased == T0 + timedelta(seconds=2)


def test_a_delete_older_than_an_applied_fact_is_skipped():
    state, profile = MemberState(), {}
    deliver(
        [(update("m", a=1), T0 + timedelta(seconds=2)),
         ({"type": "delete", "customer_id": "m"}, T0 + timedelta(seconds=1))],
        state, profile,
    )  # fmt: skip
    assert profile == {"a": 1}


def test_a_failed_delete_holds_newer_facts_until_it_is_delivered():
    state = MemberState()
    delete = {"type": "delete", "customer_id": "m"}
    [fact] = facts_of(delete, (0, 0), T0)
    record([fact], {"m": state}, set(), {(0, 0)}, {}, NOW)  # failed: a barrier
    [newer] = facts_of(update("m", a=1), (1, 0), T0 + timedelta(seconds=1))

    assert plan([newer], {"m": state}, NOW).hold == {(1, 0)}
    assert plan([fact], {"m": state}, NOW).hold == set()  # the delete itself goes
    record([fact], {"m": state}, {(0, 0)}, set(), {}, NOW)
    assert plan([newer], {"m": state}, NOW).hold == set()


def test_a_merge_erases_the_retired_member_and_orders_the_retained_one():
    merge = {"type": "merge", "merged_customer_id": "old", "retained_customer_id": "new"}
    kinds = [(f.member, f.kind) for f in facts_of(merge, (0, 0), T0)]
    assert kinds == [("old", "delete"), ("new", "merge")]


def test_an_update_superseded_within_its_wave_waits_for_the_newer_ones_fate():
    older = facts_of(update("m", a=1, b=1), (0, 0), T0)
    newer = facts_of(update("m", a=2), (1, 0), T0 + timedelta(seconds=1))
    other = facts_of(update("m", c=3), (2, 0), T0 - timedelta(seconds=1))

    decided = plan(older + newer + other, {"m": MemberState()}, NOW)

    assert decided.hold == {(0, 0)}  # neither dropped (the newer may fail) nor raced
    assert decided.skip == set()
    assert decided.drop_attributes == {}


def test_a_delete_waits_behind_a_newer_fact_sent_before_it_but_not_one_sent_after():
    delete = {"type": "delete", "customer_id": "m"}
    newer_first = facts_of(update("m", a=1), (0, 0), T0 + timedelta(seconds=1))
    erasure = facts_of(delete, (1, 0), T0)
    newer_after = facts_of(update("m", a=2), (2, 0), T0 + timedelta(seconds=2))

    assert plan(newer_first + erasure, {"m": MemberState()}, NOW).hold == {(1, 0)}
    assert plan(erasure + newer_after, {"m": MemberState()}, NOW).hold == set()


def test_a_claim_left_unsettled_counts_as_applied():
    sent = facts_of(update("m", a=2), (0, 0), T0 + timedelta(seconds=2))
    state = MemberState(claimed=claims_of(sent)["m"].claimed)  # its batch never wrote back
    state.settle_claim()
    older = facts_of(update("m", a=1), (1, 0), T0 + timedelta(seconds=1))

    assert plan(older, {"m": state}, NOW).skip == {(1, 0)}
    assert state.claimed == {}
