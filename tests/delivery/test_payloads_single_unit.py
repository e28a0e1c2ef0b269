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
