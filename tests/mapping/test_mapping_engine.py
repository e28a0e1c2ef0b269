"""mapping.engine: the default rules applied to the Kognitiv fixtures, and event selection.

The Mapper is built from mapping/default_mappings.json exactly as the app builds it, with a fixed
clock so time checks are deterministic.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import mapping
from mapping import (
    DEFAULT_MAPPINGS_FILE,
    PASSTHROUGH,
    ConversionContext,
    Mapper,
    MappingError,
    MappingResult,
    compile_rules,
)
from tests.expected import MEMBER_ATTRIBUTES, REWARD_ELEMENT

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kognitiv"
DEFAULT_MAPPINGS = Path(mapping.__file__).parent / DEFAULT_MAPPINGS_FILE
UTC_CTX = ConversionContext(ZoneInfo("UTC"), "MDY")
CHICAGO_CTX = ConversionContext(ZoneInfo("America/Chicago"), "MDY")
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC).timestamp()


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def default_document() -> dict:
    return json.loads(DEFAULT_MAPPINGS.read_text())


def build(context: ConversionContext = UTC_CTX, now: float = NOW) -> Mapper:
    return Mapper(compile_rules(default_document(), context), context, lambda: now)


@pytest.fixture
def mapper() -> Mapper:
    return build()


def error_code(m: Mapper, body: dict, event: str | None = None) -> str:
    with pytest.raises(MappingError) as caught:
        m.map(body, event)
    return caught.value.code


# --- the default rule set ------------------------------------------------------------------


def test_default_rules_compile(mapper: Mapper) -> None:
    assert mapper.event_names == [
        "member_consent_changed",
        "member_enrolled",
        "member_updated",
        "rewards_issued",
        "rewards_redeemed",
    ]
    assert PASSTHROUGH == "passthrough"


# --- fixtures: exact outputs ---------------------------------------------------------------


def test_rewards_issued_fixture(mapper: Mapper) -> None:
    result = mapper.map(fixture("rewards_issued"), "rewards_issued")
    assert result == MappingResult(
        event="rewards_issued",
        rule="rewards_issued",
        elements=[REWARD_ELEMENT],
        warnings=[],
        idempotency_key="100245|Choice|10% Off Voucher|2026-03-14T09:30:00Z",
    )
    attributes = result.elements[0]["actions"][0]["attributes"]
    assert type(attributes["reward_value"]) is float
    assert type(attributes["reward_point_cost"]) is int


def test_rewards_redeemed_fixture_takes_event_from_body(mapper: Mapper) -> None:
    result = mapper.map(fixture("rewards_redeemed"))
    assert result == MappingResult(
        event="rewards_redeemed",
        rule="rewards_redeemed",
        elements=[
            {
                "type": "event",
                "customer_id": "100245",
                "actions": [
                    {
                        "action": "rewards_redeemed",
                        "current_time": "2026-03-20T18:45:10Z",
                        "attributes": {
                            "redeemed_date": "2026-03-20T18:45:10Z",
                            "redeemed_location_name": "Airport Kiosk",
                            "reward_type": "Choice",
                            "reward_name": "10% Off Voucher",
                        },
                    }
                ],
            }
        ],
        warnings=[],
        idempotency_key="100245|Choice|10% Off Voucher|2026-03-20T18:45:10Z",
    )


def test_member_enrolled_fixture(mapper: Mapper) -> None:
    result = mapper.map(fixture("member_enrolled"), "member_enrolled")
    assert result == MappingResult(
        event="member_enrolled",
        rule="member_enrolled",
        elements=[
            {
                "type": "customer",
                "customer_id": "100246",
                "attributes": {**MEMBER_ATTRIBUTES, "enrolled_at": "2026-03-01T15:04:05Z"},
            },
            {
                "type": "event",
                "customer_id": "100246",
                "actions": [{"action": "member_enrolled", "current_time": "2026-03-01T15:04:05Z"}],
            },
        ],
        warnings=[],
        idempotency_key="100246|2026-03-01T15:04:05Z",
    )
    attributes = result.elements[0]["attributes"]
    assert type(attributes["points_balance"]) is int
    assert attributes["email_contact_allowed"] is True
    assert attributes["sms_contact_allowed"] is False


def test_member_enrolled_falls_back_to_issued_date(mapper: Mapper) -> None:
    body = fixture("member_enrolled")
    del body["issuedTimestamp"]
    result = mapper.map(body, "member_enrolled")
    assert result.elements[0]["attributes"]["enrolled_at"] == "2026-03-01T00:00:00Z"
    assert result.elements[1]["actions"][0]["current_time"] == "2026-03-01T00:00:00Z"


def test_member_updated_fixture(mapper: Mapper) -> None:
    result = mapper.map(fixture("member_enrolled"), "member_updated")
    assert result == MappingResult(
        event="member_updated",
        rule="member_updated",
        elements=[{"type": "customer", "customer_id": "100246", "attributes": MEMBER_ATTRIBUTES}],
        warnings=[],
        idempotency_key=None,
    )


def test_guide_rendered_passthrough(mapper: Mapper) -> None:
    result = mapper.map(fixture("guide-rendered"))
    assert result == MappingResult(
        event="rewards_issued",
        rule=PASSTHROUGH,
        elements=[
            {
                "type": "event",
                "customer_id": "100245",
                "actions": [
                    {
                        "action": "rewards_issued",
                        "attributes": {
                            "time": "2026-03-14T09:30:00Z",
                            "issued_date": "2026-03-14T09:30:00Z",
                            "issued_location_name": "Downtown Flagship",
                            "reward_type": "Choice",
                        },
                    }
                ],
            }
        ],
        warnings=[],
        idempotency_key=None,
    )


def test_passthrough_leaves_numbers_and_numeric_strings_alone(mapper: Mapper) -> None:
    body = fixture("guide-rendered")
    attributes = body["actions"][0]["attributes"]
    attributes.update(
        {
            "points_epoch_like": "1773480600",
            "points": "1000",
            "ms_like": "1773480600000",
            "epoch_number": 1773480600,
            "count": 3,
            "flag": True,
            "ratio": 0.5,
            "nested": {"when": "3/20/2026 6:45:10 PM", "code": "1773480600"},
            "dates": ["03/14/2026", "2026-03-14T09:30:00.1234567+02:00", "1000"],
            "day": "03/14/2026",
            "text": "Tuesday",
            "template_text": "{{issuedDate}}",
        }
    )
    original = copy.deepcopy(body)
    result = mapper.map(body)
    assert body == original  # the input is not mutated
    out = result.elements[0]["actions"][0]["attributes"]
    assert out == {
        "time": "2026-03-14T09:30:00Z",
        "issued_date": "2026-03-14T09:30:00Z",
        "issued_location_name": "Downtown Flagship",
        "reward_type": "Choice",
        "points_epoch_like": "1773480600",
        "points": "1000",
        "ms_like": "1773480600000",
        "epoch_number": 1773480600,
        "count": 3,
        "flag": True,
        "ratio": 0.5,
        "nested": {"when": "2026-03-20T18:45:10Z", "code": "1773480600"},
        "dates": ["2026-03-14", "2026-03-14T07:30:00Z", "1000"],
        "day": "2026-03-14",
        "text": "Tuesday",
    }


def test_passthrough_customer_and_transition(mapper: Mapper) -> None:
    customer = {
        "type": "Customer",
        "customer_id": 100245,
        "attributes": {"birthday": "04/05/1990", "joined": "03/14/2026 09:30:00", "n": "12"},
    }
    result = mapper.map(customer)
    assert result.event == "customer"
    assert result.rule == PASSTHROUGH
    assert result.elements == [
        {
            "type": "customer",
            "customer_id": "100245",
            "attributes": {"birthday": "1990-04-05", "joined": "2026-03-14T09:30:00Z", "n": "12"},
        }
    ]
    transition = {
        "type": "transition",
        "elements": [
            {"type": "CUSTOMER", "customer_id": "M-1", "attributes": {"first_name": "Ana"}},
            {
                "type": "event",
                "customer_id": "M-1",
                "actions": [{"action": "member_enrolled", "current_time": "03/01/2026 15:04:05"}],
            },
        ],
    }
    result = mapper.map(transition)
    assert result.event == "transition"
    assert result.elements == [
        {"type": "customer", "customer_id": "M-1", "attributes": {"first_name": "Ana"}},
        {
            "type": "event",
            "customer_id": "M-1",
            "actions": [{"action": "member_enrolled", "current_time": "2026-03-01T15:04:05Z"}],
        },
    ]


def test_passthrough_current_time_normalised_in_program_zone() -> None:
    body = {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "a", "current_time": "03/14/2026 09:30:00", "user_time": "x"}],
    }
    result = build(CHICAGO_CTX).map(body)
    assert result.elements[0]["actions"][0] == {
        "action": "a",
        "current_time": "2026-03-14T14:30:00Z",
    }
    assert result.warnings == ["element 0.actions[0].user_time is not a date-time; left out"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "transition"},
        {"type": "transition", "elements": []},
        {"type": "transition", "elements": ["x"]},
        {"type": "event", "customer_id": "M-1"},
        {"type": "event", "customer_id": "M-1", "actions": []},
        {"type": "event", "customer_id": "M-1", "actions": [{"attributes": {}}]},
        {"type": "event", "customer_id": "M-1", "actions": [{"action": "  "}]},
        {"type": "event", "customer_id": "M-1", "actions": [{"action": "a" * 201}]},
        {"type": "event", "customer_id": "M-1", "actions": ["a"]},
        {"type": "customer", "customer_id": "M-1", "attributes": ["a"]},
    ],
)
def test_malformed_passthrough_bodies_are_mapping_errors(mapper: Mapper, body: dict) -> None:
    with pytest.raises(MappingError):
        mapper.map(body)


def test_guide_template_unrendered_customer_id(mapper: Mapper) -> None:
    assert error_code(mapper, fixture("guide-template")) == "invalid_customer_id"


def test_unrendered_member_id_through_a_rule(mapper: Mapper) -> None:
    # Kognitiv sends the placeholder's text for a field it does not know: the id is missing
    body = {**fixture("rewards_issued"), "memberId": "{{memberId}}"}
    assert error_code(mapper, body, "rewards_issued") == "missing_field"


# --- event selection -----------------------------------------------------------------------


def test_explicit_event_beats_body_event_field(mapper: Mapper) -> None:
    body = fixture("rewards_redeemed")  # carries "event": "rewards_redeemed"
    body["issuedDate"] = "03/14/2026 09:30:00"
    result = mapper.map(body, "rewards_issued")
    assert result.event == "rewards_issued"
    assert result.rule == "rewards_issued"
    assert result.elements[0]["actions"][0]["action"] == "rewards_issued"


def test_body_event_field_beats_passthrough(mapper: Mapper) -> None:
    body = {**fixture("guide-rendered"), "event": "rewards_issued", "memberId": "M-9"}
    result = mapper.map(body)
    assert result.rule == "rewards_issued"
    assert result.elements == [
        {"type": "event", "customer_id": "M-9", "actions": [{"action": "rewards_issued"}]}
    ]


def test_explicit_event_beats_passthrough(mapper: Mapper) -> None:
    # a MoEngage-shaped body sent to a named event is mapped by that rule (and lacks memberId)
    assert error_code(mapper, fixture("guide-rendered"), "rewards_issued") == "missing_field"


def test_empty_explicit_event_falls_back_to_body(mapper: Mapper) -> None:
    assert mapper.map(fixture("rewards_redeemed"), "").rule == "rewards_redeemed"
    assert mapper.map(fixture("guide-rendered"), None).rule == PASSTHROUGH


@pytest.mark.parametrize(
    "name", ["rewards_issued", "REWARDS_ISSUED", "Rewards_Issued", "  rewards_issued  "]
)
def test_rule_lookup_is_case_insensitive(mapper: Mapper, name: str) -> None:
    result = mapper.map(fixture("rewards_issued"), name)
    assert result.rule == "rewards_issued"
    assert result.event == "rewards_issued"
    assert result.elements[0]["actions"][0]["current_time"] == "2026-03-14T09:30:00Z"


@pytest.mark.parametrize("name", ["REWARDS_REDEEMED", "Rewards_Redeemed", " rewards_redeemed "])
def test_body_event_field_lookup_is_case_insensitive(mapper: Mapper, name: str) -> None:
    body = {**fixture("rewards_redeemed"), "event": name}
    result = mapper.map(body)
    assert result.rule == "rewards_redeemed"
    assert result.event == "rewards_redeemed"


def test_unknown_event(mapper: Mapper) -> None:
    with pytest.raises(MappingError) as caught:
        mapper.map(fixture("rewards_issued"), "points_transferred")
    assert caught.value.code == "unknown_event"
    assert "points_transferred" in caught.value.message
    assert "member_enrolled, member_updated, rewards_issued, rewards_redeemed" in (
        caught.value.message
    )
    body = {**fixture("rewards_issued"), "event": "nope"}
    assert error_code(mapper, body) == "unknown_event"


def test_unknown_event_name_is_truncated_in_message(mapper: Mapper) -> None:
    with pytest.raises(MappingError) as caught:
        mapper.map({}, "x" * 1000)
    assert caught.value.code == "unknown_event"
    assert "x" * 200 in caught.value.message
    assert "x" * 201 not in caught.value.message


@pytest.mark.parametrize(
    "body", [fixture("rewards_issued"), {}, {"type": "profile"}, {"type": 5}, {"type": ""}]
)
def test_no_event(mapper: Mapper, body: dict) -> None:
    with pytest.raises(MappingError) as caught:
        mapper.map(body)
    assert caught.value.code == "missing_event"
    assert "rewards_issued" in caught.value.message


@pytest.mark.parametrize("value", ["", "   ", 5, True, ["rewards_issued"], {"name": "x"}])
def test_invalid_body_event_field(mapper: Mapper, value: object) -> None:
    body = {**fixture("rewards_issued"), "event": value}
    assert error_code(mapper, body) == "invalid_event"


def test_null_body_event_field_is_ignored(mapper: Mapper) -> None:
    body = {**fixture("guide-rendered"), "event": None}
    assert mapper.map(body).rule == PASSTHROUGH


# --- customer ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member_id",
    ["null", "NULL", " NULL ", "0", 0, "unknown", "Unknown", "guest", "none", "n/a", "-1", "2",
     "true", "false", "user_id", "customer_id"],
)  # fmt: skip
def test_forbidden_customer_ids_through_rules(mapper: Mapper, member_id: object) -> None:
    body = {**fixture("rewards_issued"), "memberId": member_id}
    assert error_code(mapper, body, "rewards_issued") == "invalid_customer_id"


@pytest.mark.parametrize("customer_id", ["null", " NULL ", "0", 0, 1, "unknown", "", "   "])
def test_forbidden_customer_ids_in_passthrough(mapper: Mapper, customer_id: object) -> None:
    body = {**fixture("guide-rendered"), "customer_id": customer_id}
    assert error_code(mapper, body) == "invalid_customer_id"


@pytest.mark.parametrize("customer_id", [None, True, 1.5, ["M-1"], {"id": "M-1"}])
def test_missing_or_non_text_customer_id_in_passthrough(mapper: Mapper, customer_id) -> None:
    body = {**fixture("guide-rendered"), "customer_id": customer_id}
    assert error_code(mapper, body) == "missing_customer_id"


def test_passthrough_without_customer_id(mapper: Mapper) -> None:
    body = fixture("guide-rendered")
    del body["customer_id"]
    assert error_code(mapper, body) == "missing_customer_id"


@pytest.mark.parametrize("member_id", [True, 100245.0, ["100245"], {"id": "100245"}])
def test_non_text_member_id_through_rules(mapper: Mapper, member_id: object) -> None:
    body = {**fixture("rewards_issued"), "memberId": member_id}
    assert error_code(mapper, body, "rewards_issued") == "missing_customer_id"


def test_long_customer_id_is_refused(mapper: Mapper) -> None:
    body = {**fixture("rewards_issued"), "memberId": "M" * 513}
    assert error_code(mapper, body, "rewards_issued") == "invalid_customer_id"
    body = {**fixture("rewards_issued"), "memberId": "M" * 512}
    assert mapper.map(body, "rewards_issued").elements[0]["customer_id"] == "M" * 512


def test_customer_id_is_stripped_and_ints_become_text(mapper: Mapper) -> None:
    body = {**fixture("rewards_issued"), "memberId": " 100245 "}
    assert mapper.map(body, "rewards_issued").elements[0]["customer_id"] == "100245"
    body = {**fixture("rewards_issued"), "memberId": 100245}
    assert mapper.map(body, "rewards_issued").elements[0]["customer_id"] == "100245"


@pytest.mark.parametrize("event", ["rewards_issued", "rewards_redeemed", "member_enrolled"])
@pytest.mark.parametrize("member_id", [None, "", "  "])
def test_missing_member_id(mapper: Mapper, event: str, member_id) -> None:
    body = fixture("member_enrolled")
    if member_id is None:
        del body["memberId"]
    else:
        body["memberId"] = member_id
    with pytest.raises(MappingError) as caught:
        mapper.map(body, event)
    assert caught.value.code == "missing_field"
    assert "memberId" in caught.value.message


def test_null_member_id_is_missing(mapper: Mapper) -> None:
    body = {**fixture("rewards_issued"), "memberId": None}
    assert error_code(mapper, body, "rewards_issued") == "missing_field"


# --- KOGNITIV_TIMEZONE ---------------------------------------------------------------------


def test_chicago_program_zone_shifts_naive_dates() -> None:
    m = build(CHICAGO_CTX)
    issued = m.map(fixture("rewards_issued"), "rewards_issued")
    action = issued.elements[0]["actions"][0]
    # March 14 2026 is after the DST switch (March 8): CDT, UTC-5
    assert action["current_time"] == "2026-03-14T14:30:00Z"
    assert action["attributes"]["issued_date"] == "2026-03-14T14:30:00Z"
    redeemed = m.map(fixture("rewards_redeemed"))
    assert redeemed.elements[0]["actions"][0]["current_time"] == "2026-03-20T23:45:10Z"
    # an explicit Z is not shifted
    enrolled = m.map(fixture("member_enrolled"), "member_enrolled")
    assert enrolled.elements[0]["attributes"]["enrolled_at"] == "2026-03-01T15:04:05Z"
    # before the DST switch: CST, UTC-6
    winter = {**fixture("rewards_issued"), "issuedDate": "01/15/2026 09:30:00"}
    assert m.map(winter, "rewards_issued").elements[0]["actions"][0]["current_time"] == (
        "2026-01-15T15:30:00Z"
    )
    passthrough = m.map(fixture("guide-rendered"))
    assert passthrough.elements[0]["actions"][0]["attributes"]["time"] == "2026-03-14T14:30:00Z"


def test_dmy_context() -> None:
    ctx = ConversionContext(ZoneInfo("UTC"), "DMY")
    body = {**fixture("rewards_issued"), "issuedDate": "14/03/2026 09:30:00"}
    result = build(ctx).map(body, "rewards_issued")
    assert result.elements[0]["actions"][0]["current_time"] == "2026-03-14T09:30:00Z"
    # the US fixture date is not a valid DMY date: optional, so dropped with warnings
    result = build(ctx).map(fixture("rewards_issued"), "rewards_issued")
    assert "current_time" not in result.elements[0]["actions"][0]
    assert "issued_date" not in result.elements[0]["actions"][0]["attributes"]
    assert len(result.warnings) == 2


# --- optional failures and warnings --------------------------------------------------------


def test_optional_bad_values_are_dropped_with_warnings(mapper: Mapper) -> None:
    body = {
        **fixture("rewards_issued"),
        "rewardValue": "ten dollars",
        "rewardPointCost": "NaN",
        "issuedDate": "tomorrow",
    }
    result = mapper.map(body, "rewards_issued")
    assert result.elements == [
        {
            "type": "event",
            "customer_id": "100245",
            "actions": [
                {
                    "action": "rewards_issued",
                    "attributes": {
                        "issued_location_name": "Downtown Flagship",
                        "reward_type": "Choice",
                        "reward_name": "10% Off Voucher",
                    },
                }
            ],
        }
    ]
    assert len(result.warnings) == 4  # current_time, issued_date, reward_value, reward_point_cost
    assert all("the value was left out" in warning for warning in result.warnings)
    assert not any("ten dollars" in warning for warning in result.warnings)


def test_minimal_body_gives_minimal_event(mapper: Mapper) -> None:
    result = mapper.map({"memberId": "M-1"}, "rewards_issued")
    assert result.elements == [
        {"type": "event", "customer_id": "M-1", "actions": [{"action": "rewards_issued"}]}
    ]
    result = mapper.map({"memberId": "M-1"}, "member_updated")
    assert result.elements == [{"type": "customer", "customer_id": "M-1", "attributes": {}}]


def test_mapping_does_not_mutate_the_body(mapper: Mapper) -> None:
    body = fixture("member_enrolled")
    original = copy.deepcopy(body)
    mapper.map(body, "member_enrolled")
    assert body == original


# --- bugs: only MappingError may escape Mapper.map ----------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "context"),
    [
        ("issuedDate", "01/01/0001 00:30:00 +01:00", UTC_CTX),
        ("issuedDate", "0001-01-01T00:30:00+01:00", UTC_CTX),
        ("issuedDate", "12/31/9999 23:00:00", CHICAGO_CTX),
        ("rewardPointCost", "1" * 4301, UTC_CTX),
        ("rewardValue", "9" * 5000, UTC_CTX),
    ],
)
def test_unconvertible_optional_values_never_escape_as_other_errors(field, value, context) -> None:
    """BUG: these optional values make Mapper.map raise OverflowError (dates whose UTC instant
    falls outside year 1..9999: dates.format_datetime) or a plain ValueError (digit strings over
    Python's 4300-digit int limit: converters.to_number). The value should be dropped with a
    warning, as for any other optional value that cannot be converted."""
    body = {**fixture("rewards_issued"), field: value}
    try:
        result = build(context).map(body, "rewards_issued")
    except MappingError:
        return
    assert result.warnings


def test_short_year_datetime_reaches_moengage_as_plain_text(mapper: Mapper) -> None:
    """BUG: a year before 1000 is rendered "999-01-01T10:00:00Z" (strftime %Y is not
    zero-padded), so issued_date is sent in a shape MoEngage stores as text, while the same
    value as current_time is dropped by policy as "not a date-time"."""
    body = {**fixture("rewards_issued"), "issuedDate": "01/01/0999 10:00:00"}
    result = mapper.map(body, "rewards_issued")
    issued = result.elements[0]["actions"][0]["attributes"].get("issued_date")
    assert issued in (None, "0999-01-01T10:00:00Z")


@pytest.mark.parametrize("value", ["0001-01-01T00:30:00+01:00", "01/01/0001 00:30:00 +01:00"])
def test_out_of_range_passthrough_dates_never_escape_as_other_errors(value: str) -> None:
    """BUG: passthrough._normalise_value calls format_datetime, which raises OverflowError when
    the UTC instant is before year 1; Mapper.map must answer with a MappingError or leave the
    value as it is (it is not a date MoEngage could segment on anyway)."""
    body = fixture("guide-rendered")
    body["actions"][0]["attributes"]["old"] = value
    try:
        result = build().map(body)
    except MappingError:
        return
    assert result.elements[0]["actions"][0]["attributes"]["old"] == value


def test_a_result_made_by_its_own_constructor_holds_every_field() -> None:
    """`MappingResult` writes its fields itself (cheaper than the frozen dataclass's setattr per
    field): a field added to the class but not to that constructor fails here."""
    values = {field.name: object() for field in dataclasses.fields(MappingResult)}
    result = MappingResult(**values)

    assert {name: getattr(result, name) for name in values} == values
    assert dataclasses.replace(result) == result
    assert MappingResult("e", "r", []).warnings == []
    assert MappingResult("e", "r", []).warnings is not MappingResult("e", "r", []).warnings
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.event = "changed"  # type: ignore[misc]
