"""The order rule for a member's facts (`bridge.durable.member_order`), without storage: whatever
order updates arrive in, MoEngage ends with each attribute's newest value; erasures keep their
place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.durable.member_ledger import _columns, _state_of
from bridge.durable.member_order import (
    UNSETTLED_SECONDS,
    Claim,
    MemberState,
    Order,
    claims_of,
    clear_barriers,
    facts_of,
    plan,
    record,
)
from bridge.durable.tables import key_digest

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


def unsettled_claim(update_element: dict, time: datetime) -> MemberState:
    """A member's state after a batch claimed `update_element` and never wrote back."""
    sent = facts_of(update_element, (0, 0), time)
    state = MemberState(claimed=claims_of(sent)["m"].claimed)
    state.settle_claim(NOW)
    return state


def test_an_older_update_waits_for_an_unsettled_claim_instead_of_being_dropped():
    state = unsettled_claim(update("m", a=2), T0 + timedelta(seconds=2))
    older = facts_of(update("m", a=1), (1, 0), T0 + timedelta(seconds=1))
    unrelated = facts_of(update("m", b=1), (2, 0), T0 + timedelta(seconds=1))

    assert plan(older, {"m": state}, NOW).hold == {(1, 0)}  # the claimed one may have landed
    assert plan(older, {"m": state}, NOW).skip == set()  # ... or may end as a letter
    assert plan(unrelated, {"m": state}, NOW).hold == set()
    assert state.claimed == {}


def test_an_unsettled_claim_that_lands_supersedes_the_older_update():
    state = unsettled_claim(update("m", a=2), T0 + timedelta(seconds=2))
    claimed = facts_of(update("m", a=2), (0, 0), T0 + timedelta(seconds=2))
    older = facts_of(update("m", a=1), (1, 0), T0 + timedelta(seconds=1))

    assert plan(claimed, {"m": state}, NOW).hold == set()  # the claimed fact itself goes
    record(claimed, {"m": state}, {(0, 0)}, set(), {}, NOW)

    assert plan(older, {"m": state}, NOW).skip == {(1, 0)}
    assert state.unsettled == {}
    assert state.unsettled_since is None


def test_an_unsettled_claim_that_ends_as_a_letter_lets_the_older_update_go():
    state = unsettled_claim(update("m", a=2), T0 + timedelta(seconds=2))
    claimed = facts_of(update("m", a=2), (0, 0), T0 + timedelta(seconds=2))
    older = facts_of(update("m", a=1), (1, 0), T0 + timedelta(seconds=1))

    clear_barriers(claimed, {"m": state})  # its message was dead-lettered

    decided = plan(older, {"m": state}, NOW)
    assert (decided.hold, decided.skip) == (set(), set())
    assert state.unsettled == {}
    assert state.unsettled_since is None


def test_an_unsettled_erasure_holds_older_facts_and_lets_newer_ones_go():
    state = unsettled_claim({"type": "delete", "customer_id": "m"}, T0 + timedelta(seconds=2))
    older = facts_of(update("m", a=1), (1, 0), T0 + timedelta(seconds=1))
    older_delete = facts_of({"type": "delete", "customer_id": "m"}, (2, 0), T0)
    newer = facts_of(update("m", a=1), (3, 0), T0 + timedelta(seconds=3))

    assert plan(older + older_delete + newer, {"m": state}, NOW).hold == {(1, 0), (2, 0)}


def test_an_unsettled_claim_no_outcome_settles_is_taken_as_applied_after_its_bound():
    state = unsettled_claim(update("m", a=2), T0 + timedelta(seconds=2))
    older = facts_of(update("m", a=1), (1, 0), T0 + timedelta(seconds=1))

    state.settle_claim(NOW + timedelta(seconds=UNSETTLED_SECONDS - 1))
    assert plan(older, {"m": state}, NOW).hold == {(1, 0)}
    state.settle_claim(NOW + timedelta(seconds=UNSETTLED_SECONDS + 1))
    assert plan(older, {"m": state}, NOW).skip == {(1, 0)}
    assert state.attributes == {"a": T0 + timedelta(seconds=2)}


def test_unsettled_claims_survive_the_members_row():
    sent = facts_of(update("m", a=2), (0, 0), Order(T0 + timedelta(seconds=2), 7), "key-a")
    claim = claims_of(sent)["m"]
    state = MemberState(claimed=claim.claimed, claimed_keys=claim.claimed_keys)
    assert _state_of(_columns(state)) == state  # the claim, with its key
    state.settle_claim(NOW)
    state.unsettled_erased = [Claim(Order(T0, 3), None)]

    digest = key_digest("key-a")  # never the key itself: a producer's MessageId is any text
    assert state.unsettled == {"a": [Claim(Order(T0 + timedelta(seconds=2), 7), digest)]}
    assert _state_of(_columns(state)) == state


def test_unsettled_claims_are_settled_by_their_keys():
    older = facts_of(update("m", a=1, b=1), (9, 0), T0)
    landed = facts_of(update("m", a=2), (0, 0), T0 + timedelta(seconds=2), "landed")
    lettered = facts_of(update("m", b=2), (1, 0), T0 + timedelta(seconds=3), "lettered")
    unread = facts_of(update("m", c=2), (2, 0), T0 + timedelta(seconds=4), "unread")
    claim = claims_of(landed + lettered + unread)["m"]
    state = MemberState(claimed=claim.claimed, claimed_keys=claim.claimed_keys)
    state.settle_claim(NOW)
    assert state.unsettled_keys() == {key_digest(k) for k in ("landed", "lettered", "unread")}

    # "unread": the record did not answer for it
    state.resolve({key_digest("landed")}, {key_digest("lettered")})

    assert state.attributes == {"a": T0 + timedelta(seconds=2)}
    assert state.unsettled == {"c": [Claim(T0 + timedelta(seconds=4), key_digest("unread"))]}
    assert plan(older, {"m": state}, NOW).drop_attributes == {(9, 0): {"a"}}  # b goes
    assert plan(older, {"m": state}, NOW).hold == set()
