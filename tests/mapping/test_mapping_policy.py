"""mapping.policy: MoEngage's data rules, enforced before anything is sent.

Bulk requests answer 200 even for bad elements, so what MoEngage would truncate or drop is trimmed
here with a warning, and ids that would merge strangers are refused.
"""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import mapping
from mapping import ConversionContext, Mapper, MappingError, compile_rules
from mapping.errors import RuleError
from mapping.policy import (
    FORBIDDEN_CUSTOMER_IDS,
    FUTURE_TOLERANCE_SECONDS,
    MAX_ARRAY_ITEMS,
    MAX_ATTRIBUTES_PER_EVENT,
    MAX_STRING_LENGTH,
    attribute_name_problem,
    check_element,
    check_rule_attribute_names,
    clean_attributes,
    customer_id,
)

CTX = ConversionContext(ZoneInfo("UTC"), "MDY")
FIXTURES = Path(__file__).parent.parent / "fixtures" / "kognitiv"
ISSUED = datetime(2026, 3, 14, 9, 30, tzinfo=UTC).timestamp()  # the fixture's issuedDate
NOW = datetime(2026, 4, 1, tzinfo=UTC).timestamp()


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def build(now: float = NOW) -> Mapper:
    document = json.loads((Path(mapping.__file__).parent / "default_mappings.json").read_text())
    return Mapper(compile_rules(document, CTX), CTX, lambda: now)


def event(attributes: dict | None = None, **action) -> dict:
    body = {"type": "event", "customer_id": "M-1", "actions": [{"action": "custom", **action}]}
    if attributes is not None:
        body["actions"][0]["attributes"] = attributes
    return body


def test_documented_limits() -> None:
    assert MAX_STRING_LENGTH == 512
    assert MAX_ARRAY_ITEMS == 50
    assert MAX_ATTRIBUTES_PER_EVENT == 100
    assert FUTURE_TOLERANCE_SECONDS == 30
    # MoEngage's Data API overview ("Request Body"), word for word
    documented = (
        "['unknown', 'guest', 'null', '0', '1', 'true', 'false', 'user_attribute_unique_id', "
        "'(empty)', 'na', 'n/a', '', 'dummy_seller_code', 'user_id', 'id', 'customer_id', 'uid', "
        "'userid', 'none', '-2', '-1', '2']"
    )
    assert set(ast.literal_eval(documented)) == FORBIDDEN_CUSTOMER_IDS


# --- strings and arrays ------------------------------------------------------------------


def test_long_strings_are_truncated_with_a_warning() -> None:
    warnings: list[str] = []
    out = check_element(
        event({"long": "x" * 600, "edge": "y" * 512, "short": "z"}), 0, NOW, warnings
    )
    attributes = out["actions"][0]["attributes"]
    assert attributes == {"long": "x" * 512, "edge": "y" * 512, "short": "z"}
    assert warnings == [
        "element 0.actions[0].attributes.long: text longer than 512 characters was truncated"
    ]


def test_long_strings_truncated_through_rules() -> None:
    body = {**fixture("rewards_issued"), "rewardName": "R" * 513}
    result = build().map(body, "rewards_issued")
    assert result.elements[0]["actions"][0]["attributes"]["reward_name"] == "R" * 512
    assert len(result.warnings) == 1
    assert "reward_name" in result.warnings[0]
    assert "truncated" in result.warnings[0]
    enrolled = {**fixture("member_enrolled"), "memberEmail": "e" * 1000}
    result = build().map(enrolled, "member_updated")
    assert result.elements[0]["attributes"]["email"] == "e" * 512
    assert result.warnings == [
        "element 0.attributes.email: text longer than 512 characters was truncated"
    ]


def test_long_arrays_are_truncated_with_a_warning() -> None:
    warnings: list[str] = []
    items = list(range(60))
    out = check_element(event({"items": items, "fifty": list(range(50))}), 0, NOW, warnings)
    assert out["actions"][0]["attributes"] == {"items": list(range(50)), "fifty": list(range(50))}
    assert warnings == [
        "element 0.actions[0].attributes.items: list longer than 50 items was truncated"
    ]
    assert items == list(range(60))  # the input list is not cut in place


def test_customer_attributes_are_cleaned_too() -> None:
    warnings: list[str] = []
    element = {
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"bio": "b" * 513, "tags": ["t"] * 51, "id": "x", "gone": None, "ok": 1},
    }
    out = check_element(element, 3, NOW, warnings)
    assert out == {
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"bio": "b" * 512, "tags": ["t"] * 50, "ok": 1},
    }
    assert len(warnings) == 3
    assert all(warning.startswith("element 3.attributes") for warning in warnings)


def test_customer_without_attributes_gets_an_empty_object() -> None:
    out = check_element({"type": "customer", "customer_id": "M-1"}, 0, NOW, [])
    assert out == {"type": "customer", "customer_id": "M-1", "attributes": {}}


# --- attribute counts ----------------------------------------------------------------------


def test_more_than_100_event_attributes_are_trimmed_to_100() -> None:
    attributes = {f"a{i:03d}": i for i in range(130)}
    warnings: list[str] = []
    out = check_element(event(attributes), 0, NOW, warnings)
    kept = out["actions"][0]["attributes"]
    assert len(kept) == 100
    assert list(kept) == [f"a{i:03d}" for i in range(100)]  # the first 100, in order
    assert warnings == [
        "element 0.actions[0].attributes: more than 100 attributes; the rest were left out"
    ]


def test_exactly_100_event_attributes_are_kept_without_warning() -> None:
    warnings: list[str] = []
    out = check_element(event({f"a{i}": i for i in range(100)}), 0, NOW, warnings)
    assert len(out["actions"][0]["attributes"]) == 100
    assert warnings == []


def test_dropped_names_and_nulls_do_not_count_towards_the_limit() -> None:
    attributes = {"id": 1, "moe_x": 2, "n0": None, **{f"a{i}": i for i in range(100)}}
    warnings: list[str] = []
    out = check_element(event(attributes), 0, NOW, warnings)
    assert out["actions"][0]["attributes"] == {f"a{i}": i for i in range(100)}
    assert len(warnings) == 2


def test_customer_attributes_have_no_100_limit() -> None:
    attributes = {f"a{i}": i for i in range(150)}
    out = check_element(
        {"type": "customer", "customer_id": "M-1", "attributes": attributes}, 0, NOW, []
    )
    assert len(out["attributes"]) == 150


def test_more_than_100_attributes_through_passthrough() -> None:
    body = event({f"k{i}": "v" for i in range(101)})
    result = build().map(body)
    assert len(result.elements[0]["actions"][0]["attributes"]) == 100
    assert "k100" not in result.elements[0]["actions"][0]["attributes"]
    assert len(result.warnings) == 1


# --- attribute names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("id", "blocked"),
        ("_id", "blocked"),
        ("", "blocked"),
        (" id ", "blocked"),
        ("   ", "blocked"),
        ("moe_x", "reserved prefix"),
        ("MOE_segment", "reserved prefix"),
        ("Moe_", "reserved prefix"),
        ("n" * 201, "longer than 200"),
    ],
)
def test_attribute_name_problems(name: str, fragment: str) -> None:
    problem = attribute_name_problem(name)
    assert problem is not None
    assert fragment in problem


@pytest.mark.parametrize("name", ["ID", "Id", "uid", "ids", "my_id", "moe", "moex", "n" * 200, "é"])
def test_allowed_attribute_names(name: str) -> None:
    assert attribute_name_problem(name) is None


def test_blocked_names_dropped_from_passthrough_bodies_with_a_warning() -> None:
    body = fixture("guide-rendered")
    body["actions"][0]["attributes"].update({"id": "1", "_id": "2", "moe_flag": True, "": "e"})
    result = build().map(body)
    assert result.elements[0]["actions"][0]["attributes"] == {
        "time": "2026-03-14T09:30:00Z",
        "issued_date": "2026-03-14T09:30:00Z",
        "issued_location_name": "Downtown Flagship",
        "reward_type": "Choice",
    }
    assert len(result.warnings) == 4
    assert all(warning.endswith("it was left out") for warning in result.warnings)
    assert any("'id' is blocked" in warning for warning in result.warnings)
    assert any("'_id' is blocked" in warning for warning in result.warnings)
    assert any("'moe_flag'" in warning for warning in result.warnings)


def test_blocked_names_dropped_from_passthrough_customer() -> None:
    body = {"type": "customer", "customer_id": "M-1", "attributes": {"id": 5, "name": "Ana"}}
    result = build().map(body)
    assert result.elements[0]["attributes"] == {"name": "Ana"}
    assert result.warnings == [
        "element 0.attributes: attribute name 'id' is blocked by MoEngage; it was left out"
    ]


def test_null_attribute_values_are_dropped_silently() -> None:
    result = build().map(event({"a": None, "b": 0, "c": False, "d": ""}))
    # None is dropped; 0 and False are data; "" is left to the rules (passthrough keeps text)
    assert result.elements[0]["actions"][0]["attributes"] == {"b": 0, "c": False, "d": ""}
    assert result.warnings == []


def test_check_rule_attribute_names() -> None:
    check_rule_attribute_names({"ok": 1, "fine_id": 2}, "here")
    check_rule_attribute_names("{{attributes}}", "here")  # templates are checked when rendered
    check_rule_attribute_names(None, "here")
    with pytest.raises(RuleError) as caught:
        check_rule_attribute_names({"ok": 1, "moe_x": 2}, "rule r")
    assert str(caught.value).startswith("rule r: ")


def test_clean_attributes_requires_an_object() -> None:
    with pytest.raises(MappingError) as caught:
        clean_attributes(["a"], "where", [])
    assert caught.value.code == "invalid_attributes"


def test_attributes_object_from_a_body_is_cleaned() -> None:
    document = {
        "custom": {
            "type": "event",
            "customer_id": "{{memberId | required}}",
            "actions": [{"action": "custom", "attributes": "{{extra}}"}],
        }
    }
    m = Mapper(compile_rules(document, CTX), CTX, lambda: NOW)
    result = m.map({"memberId": "M-1", "extra": {"id": 1, "ok": "x" * 600}}, "custom")
    assert result.elements[0]["actions"][0]["attributes"] == {"ok": "x" * 512}
    assert len(result.warnings) == 2
    with pytest.raises(MappingError) as caught:
        m.map({"memberId": "M-1", "extra": "not an object"}, "custom")
    assert caught.value.code == "invalid_attributes"


# --- current_time --------------------------------------------------------------------------


def test_future_current_time_is_dropped_with_a_warning() -> None:
    result = build(now=ISSUED - 3600).map(fixture("rewards_issued"), "rewards_issued")
    action = result.elements[0]["actions"][0]
    assert "current_time" not in action
    # the attribute with the same date is data and stays
    assert action["attributes"]["issued_date"] == "2026-03-14T09:30:00Z"
    assert result.warnings == [
        "element 0.actions[0].current_time is in the future (check KOGNITIV_TIMEZONE); "
        "MoEngage rejects future events, so the time of receipt is used"
    ]


def test_past_current_time_is_kept() -> None:
    result = build(now=ISSUED + 1).map(fixture("rewards_issued"), "rewards_issued")
    assert result.elements[0]["actions"][0]["current_time"] == "2026-03-14T09:30:00Z"
    assert result.warnings == []


@pytest.mark.parametrize(
    ("now", "kept"),
    [
        (ISSUED - FUTURE_TOLERANCE_SECONDS, True),  # exactly at the tolerance: kept
        (ISSUED - FUTURE_TOLERANCE_SECONDS + 1, True),
        (ISSUED - FUTURE_TOLERANCE_SECONDS - 1, False),
        (ISSUED, True),
    ],
)
def test_future_tolerance_boundary(now: float, kept: bool) -> None:
    warnings: list[str] = []
    out = check_element(event(current_time="2026-03-14T09:30:00Z"), 0, now, warnings)
    assert ("current_time" in out["actions"][0]) is kept
    assert len(warnings) == (0 if kept else 1)


@pytest.mark.parametrize(
    "value",
    [1773480600, 1773480600000, "1773480600", "2026-03-14T09:30:00Z", "2026-03-14T04:30:00-05:00"],
)
def test_current_time_in_other_accepted_shapes_is_sent_as_utc_iso(value: object) -> None:
    warnings: list[str] = []
    out = check_element(event(current_time=value), 0, NOW, warnings)
    assert out["actions"][0]["current_time"] == "2026-03-14T09:30:00Z"
    digits = "element 0.actions[0].current_time: the digits were read as epoch seconds (UTC)"
    assert warnings == ([digits] if value == "1773480600" else [])


@pytest.mark.parametrize("value", ["tomorrow", "", "13/45/2026", True, {"t": 1}])
def test_unreadable_current_time_is_dropped_with_a_warning(value: object) -> None:
    warnings: list[str] = []
    out = check_element(event(current_time=value), 0, NOW, warnings)
    assert "current_time" not in out["actions"][0]
    assert warnings == [
        "element 0.actions[0].current_time is not a date-time; MoEngage's time is used"
    ]


def test_future_time_in_chicago_context_is_a_timezone_hint() -> None:
    # read as UTC the fixture is 09:30Z; read as Chicago it is 14:30Z: a clock at 12:00Z makes
    # the Chicago reading a future event
    now = datetime(2026, 3, 14, 12, 0, tzinfo=UTC).timestamp()
    chicago = ConversionContext(ZoneInfo("America/Chicago"), "MDY")
    document = json.loads((Path(mapping.__file__).parent / "default_mappings.json").read_text())
    m = Mapper(compile_rules(document, chicago), chicago, lambda: now)
    result = m.map(fixture("rewards_issued"), "rewards_issued")
    assert "current_time" not in result.elements[0]["actions"][0]
    assert "KOGNITIV_TIMEZONE" in result.warnings[0]
    assert (
        "current_time"
        in build(now=now).map(fixture("rewards_issued"), "rewards_issued").elements[0]["actions"][0]
    )


# --- customer ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        *sorted(FORBIDDEN_CUSTOMER_IDS),
        *["NULL", " null ", "Unknown", "N/A", "NONE", "True", " 0 ", 0, 1, 2, -1, -2],
    ],
)
def test_forbidden_customer_ids(value: object) -> None:
    with pytest.raises(MappingError) as caught:
        customer_id({"customer_id": value}, 0)
    assert caught.value.code == "invalid_customer_id"


@pytest.mark.parametrize("value", [None, True, False, 1.0, [], {}])
def test_missing_customer_ids(value: object) -> None:
    with pytest.raises(MappingError) as caught:
        customer_id({"customer_id": value}, 0)
    assert caught.value.code == "missing_customer_id"
    with pytest.raises(MappingError):
        customer_id({}, 0)


@pytest.mark.parametrize("value", ["{{memberId}}", " {{ memberId }} ", "{{a}}{{b}}"])
def test_unrendered_customer_ids(value: str) -> None:
    with pytest.raises(MappingError) as caught:
        customer_id({"customer_id": value}, 0)
    assert caught.value.code == "invalid_customer_id"
    assert "unrendered" in caught.value.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("M-1001", "M-1001"),
        (" 100245 ", "100245"),
        (100245, "100245"),
        (31, "31"),
        ("x{{y", "x{{y"),
    ],
)
def test_valid_customer_ids(value: object, expected: str) -> None:
    assert customer_id({"customer_id": value}, 0) == expected


# --- element shape -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "element",
    [
        "text",
        {"type": "device", "customer_id": "M-1"},
        {"type": "Event", "customer_id": "M-1", "actions": [{"action": "a"}]},
        {"customer_id": "M-1"},
        {"type": "event", "customer_id": "M-1"},
        {"type": "event", "customer_id": "M-1", "actions": []},
        {"type": "event", "customer_id": "M-1", "actions": "a"},
    ],
)
def test_invalid_elements(element: object) -> None:
    with pytest.raises(MappingError) as caught:
        check_element(element, 0, NOW, [])
    assert caught.value.code == "invalid_element"


@pytest.mark.parametrize(
    "action",
    [
        "a",
        {"attributes": {}},
        {"action": ""},
        {"action": " "},
        {"action": 5},
        {"action": "a" * 201},
    ],
)
def test_invalid_actions(action: object) -> None:
    with pytest.raises(MappingError) as caught:
        check_element({"type": "event", "customer_id": "M-1", "actions": [action]}, 0, NOW, [])
    assert caught.value.code == "invalid_action"


def test_check_element_returns_a_copy() -> None:
    element = event({"long": "x" * 600}, current_time="tomorrow", platform="web")
    snapshot = json.dumps(element)
    out = check_element(element, 0, NOW, [])
    assert json.dumps(element) == snapshot
    assert out == {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "custom", "attributes": {"long": "x" * 512}, "platform": "web"}],
    }


@pytest.mark.parametrize("value", ["A", 7, " x "])
def test_single_character_customer_ids_are_refused(value: object) -> None:
    """MoEngage's data overview: a customer_id is "any string of more than one characters"."""
    with pytest.raises(MappingError) as caught:
        customer_id({"customer_id": value}, 0)
    assert caught.value.code == "invalid_customer_id"
    assert caught.value.message == (
        f"element 0: customer_id {str(value).strip()!r} is a single character (MoEngage needs "
        "more than one)"
    )
