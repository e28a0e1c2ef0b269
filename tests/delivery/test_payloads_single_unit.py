"""One webhook's elements are planned by a short path (`delivery.payloads._single_request`); it
must plan exactly the requests the general planner plans."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.payloads import EncodedUnits, plan_requests

element = st.one_of(
    st.builds(
        lambda member, text: {
            "type": "event",
            "customer_id": member,
            "actions": [{"action": text}],
        },
        st.text(min_size=1, max_size=8),
        st.text(max_size=300),
    ),
    st.builds(
        lambda member, text: {"type": "customer", "customer_id": member, "attributes": {"a": text}},
        st.text(min_size=1, max_size=8),
        st.text(max_size=300),
    ),
    st.builds(lambda member: {"type": "delete", "customer_id": member}, st.text(min_size=1)),
    st.builds(
        lambda a, b: {"type": "merge", "merged_customer_id": a, "retained_customer_id": b},
        st.text(min_size=1, max_size=8),
        st.text(min_size=1, max_size=8),
    ),
)


def _general(units: list[list[dict]], max_bytes: int) -> list:
    encoded = EncodedUnits(units)
    return [encoded.request(chunk) for phase in encoded.phases(max_bytes) for chunk in phase]


@settings(max_examples=300, deadline=None)
@given(
    unit=st.lists(element, min_size=1, max_size=6), max_bytes=st.sampled_from([200, 600, 100_000])
)
def test_one_unit_is_planned_as_the_general_planner_plans_it(
    unit: list[dict], max_bytes: int
) -> None:
    assert plan_requests([unit], max_bytes) == _general([unit], max_bytes)


track_element = element.filter(lambda item: item["type"] in ("event", "customer"))


@settings(max_examples=300, deadline=None)
@given(
    units=st.one_of(
        st.lists(st.lists(track_element, max_size=4), max_size=12),
        st.lists(st.lists(element, max_size=4), max_size=12),
    ),
    max_bytes=st.sampled_from([200, 600, 100_000]),
)
def test_a_wave_of_track_elements_is_planned_as_the_general_planner_plans_it(
    units: list[list[dict]], max_bytes: int
) -> None:
    """A wave without a delete, merge or erasure takes a short path (one phase, packed unit by
    unit): the same phases and requests as the run-by-run planner."""
    encoded = EncodedUnits(units)
    general = EncodedUnits(units)
    general.track_only = False  # the run-by-run planner, for every wave
    operations = {"delete", "merge", "erasure"}
    assert encoded.track_only == all(e["type"] not in operations for u in units for e in u)
    assert encoded.phases(max_bytes) == general.phases(max_bytes)
    assert [encoded.request(c) for p in encoded.phases(max_bytes) for c in p] == _general(
        units, max_bytes
    )
