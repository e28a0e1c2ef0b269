"""Data fidelity: every Kognitiv value lands in MoEngage as the right fact.

Values Kognitiv's .NET platform really produces (JSON dates, DateTime.MinValue, daylight-saving
edges, unrendered placeholders, European number formats) through the default rules and the
passthrough, with MoEngage's documented rules (standard attribute `moe_unsubscribe`, forbidden
ids). Pure mapping code: no server.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import mapping
from bridge.config.settings import ConfigurationError, load_settings
from mapping import DEFAULT_MAPPINGS_FILE, ConversionContext, Mapper, MappingError, compile_rules
from mapping.converters import ConversionError, to_date, to_datetime, to_number
from mapping.errors import RuleError
from mapping.policy import customer_id

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kognitiv"
DEFAULT_MAPPINGS = Path(mapping.__file__).parent / DEFAULT_MAPPINGS_FILE
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC).timestamp()
UTC_CTX = ConversionContext(ZoneInfo("UTC"), "MDY")
NEW_YORK = ConversionContext(ZoneInfo("America/New_York"), "MDY")
BERLIN = ConversionContext(ZoneInfo("Europe/Berlin"), "DMY")
SYDNEY = ConversionContext(ZoneInfo("Australia/Sydney"), "DMY")
EU_NUMBERS = ConversionContext(ZoneInfo("Europe/Berlin"), "DMY", "1.234,56")


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def build(context: ConversionContext = UTC_CTX, document: dict | None = None) -> Mapper:
    document = document or json.loads(DEFAULT_MAPPINGS.read_text())
    return Mapper(compile_rules(document, context), context, lambda: NOW)


def reward(context: ConversionContext = UTC_CTX, **fields: object) -> tuple[dict, list[str]]:
    """The rewards_issued action for the fixture with `fields` replaced (None removes one)."""
    body = {**fixture("rewards_issued"), **fields}
    body = {key: value for key, value in body.items() if value is not None}
    result = build(context).map(body, "rewards_issued")
    return result.elements[0]["actions"][0], result.warnings


def member(event: str = "member_updated", context=UTC_CTX, **fields: object):
    """The customer attributes of a member event for the fixture with `fields` replaced."""
    result = build(context).map({**fixture("member_enrolled"), **fields}, event)
    return result.elements[0]["attributes"], result.warnings


def passthrough(body: dict, context: ConversionContext = UTC_CTX):
    result = build(context).map(body)
    return result.elements, result.warnings


# --- 1. email consent reaches MoEngage's own unsubscribe flag --------------------------------


@pytest.mark.parametrize("event", ["member_enrolled", "member_updated", "member_consent_changed"])
@pytest.mark.parametrize("allowed", ["False", "no", "0"])
def test_contact_not_allowed_unsubscribes_on_every_member_event(event: str, allowed: str) -> None:
    attributes, warnings = member(event, memberEmailContactAllowed=allowed)
    assert attributes["moe_unsubscribe"] is True
    assert attributes["email_contact_allowed"] is False
    assert warnings == []


@pytest.mark.parametrize("event", ["member_enrolled", "member_updated"])
@pytest.mark.parametrize("allowed", ["True", "yes", "1"])
def test_contact_allowed_never_re_subscribes_outside_a_consent_change(
    event: str, allowed: str
) -> None:
    attributes, warnings = member(event, memberEmailContactAllowed=allowed)
    assert "moe_unsubscribe" not in attributes  # an unsubscribe made in MoEngage stands
    assert attributes["email_contact_allowed"] is True  # the Kognitiv fact, for segments
    assert warnings == []


@pytest.mark.parametrize(("allowed", "unsubscribed"), [("True", False), ("False", True)])
def test_a_consent_change_sets_moe_unsubscribe_either_way(allowed: str, unsubscribed: bool) -> None:
    attributes, warnings = member("member_consent_changed", memberEmailContactAllowed=allowed)
    assert attributes == {
        "email_contact_allowed": not unsubscribed,
        "moe_unsubscribe": unsubscribed,
        "sms_contact_allowed": False,
    }
    assert warnings == []


@pytest.mark.parametrize(
    ("template", "value", "sent"),
    [
        ("{{ok | boolean | not | only: true}}", "False", True),
        ("{{ok | boolean | not | only: true}}", "True", None),
        ("{{ok | boolean | only: false}}", "False", False),
        ("{{ok | number | only: 1}}", "1.0", None),  # 1.0 is not the integer 1
        ('{{ok | string | only: "gold"}}', "gold", "gold"),
        ("{{ok | boolean | not | only: true | default: true}}", "True", None),
    ],
)
def test_only_sends_one_value_and_leaves_every_other_out(
    template: str, value: str, sent: object
) -> None:
    rules = {"r": {"elements": [{"type": "customer", "customer_id": "{{id}}",
                                 "attributes": {"a": template}}]}}  # fmt: skip
    mapper = Mapper(compile_rules(rules, UTC_CTX), UTC_CTX)
    attributes = mapper.map({"id": "M-1", "ok": value}, "r").elements[0].get("attributes", {})
    assert attributes.get("a") == sent
    assert ("a" in attributes) is (sent is not None)


def test_only_cannot_be_required() -> None:
    template = "{{ok | boolean | only: true | required}}"
    rules = {"r": {"elements": [{"type": "customer", "customer_id": "{{id}}",
                                 "attributes": {"a": template}}]}}  # fmt: skip
    with pytest.raises(RuleError, match="'only' leaves other values out, so it cannot be"):
        compile_rules(rules, UTC_CTX)


def test_missing_email_consent_leaves_moe_unsubscribe_unset() -> None:
    body = {**fixture("member_enrolled")}
    del body["memberEmailContactAllowed"]
    result = build().map(body, "member_updated")
    assert "moe_unsubscribe" not in result.elements[0]["attributes"]
    assert "email_contact_allowed" not in result.elements[0]["attributes"]


def test_a_rule_may_set_moengage_standard_user_attributes() -> None:
    rule = {
        "type": "customer",
        "customer_id": "{{memberId}}",
        "attributes": {
            "moe_unsubscribe": "{{emailOk | boolean | not}}",
            "moe_sms_subscription": "{{sms | string}}",
        },
    }
    result = build(document={"consent": rule}).map(
        {"memberId": "M-1", "emailOk": "False", "sms": "Opted-Out"}, "consent"
    )
    assert result.elements[0]["attributes"] == {
        "moe_unsubscribe": True,
        "moe_sms_subscription": "Opted-Out",
    }


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("moe_unsubscribe", "event"),  # standard attributes are user attributes only
        ("moe_custom", "customer"),  # the prefix stays reserved for everything else
        ("MOE_UNSUBSCRIBE", "customer"),  # MoEngage's names are exact
    ],
)
def test_other_moe_names_stay_configuration_errors(name: str, where: str) -> None:
    if where == "event":
        rule = {"type": "event", "customer_id": "{{m}}", "actions": [{"action": "a"}]}
        rule["actions"][0]["attributes"] = {name: "{{x | boolean}}"}
    else:
        rule = {"type": "customer", "customer_id": "{{m}}", "attributes": {name: "{{x}}"}}
    with pytest.raises(RuleError, match="reserved prefix 'moe_'"):
        compile_rules({"r": rule}, UTC_CTX)


def test_not_needs_a_boolean() -> None:
    rule = {"type": "customer", "customer_id": "{{m}}", "attributes": {"a": "{{x | not}}"}}
    with pytest.raises(RuleError, match=re.escape("'not' negates booleans: add '| boolean'")):
        compile_rules({"r": rule}, UTC_CTX)


def test_passthrough_keeps_moe_unsubscribe_and_checks_its_type() -> None:
    body = {
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"moe_unsubscribe": True, "moe_spam": "yes", "moe_other": 1, "tier": "g"},
    }
    elements, warnings = passthrough(body)
    assert elements[0]["attributes"] == {"moe_unsubscribe": True, "tier": "g"}
    assert warnings == [
        "element 0.attributes: moe_spam is MoEngage's standard attribute and must be true or "
        "false; it was left out",
        "element 0.attributes: attribute name 'moe_other' uses MoEngage's reserved prefix "
        "'moe_'; it was left out",
    ]


# --- 2. .NET JSON dates --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "/Date(1709820309000)/",
        "/Date(1709820309000+0100)/",
        "/Date(1709820309000-0500)/",
        "\\/Date(1709820309000)\\/",  # the slashes as .NET's serializer escapes them
        " /Date(1709820309000)/ ",
    ],
)
def test_dotnet_json_dates(value: str) -> None:
    assert to_datetime(value, UTC_CTX) == "2024-03-07T14:05:09Z"
    assert to_datetime(value, NEW_YORK) == "2024-03-07T14:05:09Z"  # the milliseconds are UTC


def test_dotnet_json_date_through_the_default_rule_and_passthrough() -> None:
    action, warnings = reward(issuedTimestamp="/Date(1709820309000+0100)/", issuedDate=None)
    assert action["current_time"] == "2024-03-07T14:05:09Z"
    assert warnings == []
    body = {
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"joined": "\\/Date(1709820309000)\\/"},
    }
    elements, _ = passthrough(body)
    assert elements[0]["attributes"] == {"joined": "2024-03-07T14:05:09Z"}


def test_dotnet_json_date_as_a_date_is_the_date_at_its_offset() -> None:
    # 2024-03-07T23:30:00Z is March 8 at +0100 and March 7 without an offset (UTC program)
    assert to_date("/Date(1709854200000+0100)/", UTC_CTX) == "2024-03-08"
    assert to_date("/Date(1709854200000)/", UTC_CTX) == "2024-03-07"


@pytest.mark.parametrize(
    "value", ["/Date()/", "/Date(abc)/", "/Date(1709820309000+01)/", "Date(1)"]
)
def test_malformed_dotnet_json_dates_are_refused(value: str) -> None:
    with pytest.raises(ConversionError):
        to_datetime(value, UTC_CTX)


# --- 3. `a or b` is the first value that converts --------------------------------------------


def test_unparseable_timestamp_falls_back_to_a_valid_date() -> None:
    action, warnings = reward(issuedTimestamp="not a date", issuedDate="03/14/2026 09:30:00")
    assert action["current_time"] == "2026-03-14T09:30:00Z"
    assert warnings == []


def test_a_default_stands_for_a_missing_value_not_for_one_that_fails() -> None:
    rule = {"type": "customer", "customer_id": "{{m}}", "attributes": {}}
    rule["attributes"]["n"] = "{{a or b | number | default: 0}}"
    m = build(document={"r": rule})
    assert m.map({"m": "M-1"}, "r").elements[0]["attributes"] == {"n": 0}
    result = m.map({"m": "M-1", "a": "x", "b": "1/1/0001"}, "r")
    assert result.elements[0]["attributes"] == {}
    assert len(result.warnings) == 1


def test_when_no_value_converts_there_is_one_warning_and_no_time() -> None:
    action, warnings = reward(issuedTimestamp="soon", issuedDate="later")
    assert "current_time" not in action
    assert "issued_date" not in action["attributes"]
    assert len(warnings) == 2
    assert warnings[0].startswith("field issuedTimestamp or issuedDate is not a valid datetime")


# --- 4. .NET's empty date and epoch 0 are no value -------------------------------------------


@pytest.mark.parametrize("context", [UTC_CTX, NEW_YORK, BERLIN])
@pytest.mark.parametrize(
    "empty",
    [
        "1/1/0001 12:00:00 AM",
        "01/01/0001 00:00:00",
        "1/1/0001",
        "0001-01-01T00:00:00",
        "0001-01-01T00:00:00Z",
        "/Date(-62135596800000)/",
        "/Date(0)/",
        0,
    ],
)
def test_empty_dates_are_no_value(context: ConversionContext, empty: object) -> None:
    action, warnings = reward(context, issuedTimestamp=empty, issuedDate=empty)
    assert "current_time" not in action
    assert "issued_date" not in action["attributes"]
    assert warnings == []


def test_an_empty_timestamp_falls_back_to_the_date() -> None:
    action, _ = reward(NEW_YORK, issuedTimestamp="1/1/0001 12:00:00 AM", issuedDate="3/14/2026")
    assert action["current_time"] == "2026-03-14T04:00:00Z"


def test_a_required_empty_date_is_missing() -> None:
    rule = {"type": "customer", "customer_id": "{{m}}", "attributes": {"d": "{{d | required}}"}}
    rule["attributes"]["d"] = "{{d | datetime | required}}"
    with pytest.raises(MappingError) as caught:
        build(document={"r": rule}).map({"m": "M-1", "d": "1/1/0001 12:00:00 AM"}, "r")
    assert caught.value.code == "missing_field"


def test_passthrough_leaves_empty_dates_out() -> None:
    body = {
        "type": "event",
        "customer_id": "M-1",
        "actions": [
            {
                "action": "a",
                "current_time": "1/1/0001 12:00:00 AM",
                "attributes": {"expires": "/Date(0)/", "at": "0001-01-01T00:00:00", "n": 0},
            }
        ],
    }
    elements, warnings = passthrough(body, NEW_YORK)
    assert elements[0]["actions"][0] == {"action": "a", "attributes": {"n": 0}}
    assert warnings == []


# --- 5. `| date` keeps the local calendar date ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "context", "expected"),
    [
        ("3/7/1990 12:00:00 AM", ConversionContext(ZoneInfo("Europe/Berlin"), "MDY"), "1990-03-07"),
        ("07/03/1990 00:00:00", BERLIN, "1990-03-07"),
        ("3/7/1990 11:30:00 PM", NEW_YORK, "1990-03-07"),
        ("1990-03-07T00:00:00", SYDNEY, "1990-03-07"),
    ],
)
def test_date_filter_keeps_the_local_calendar_date(value, context, expected) -> None:
    assert to_date(value, context) == expected


def test_birthday_through_a_rule() -> None:
    rule = {"type": "customer", "customer_id": "{{m}}", "attributes": {"birthday": "{{b | date}}"}}
    context = ConversionContext(ZoneInfo("Europe/Berlin"), "MDY")
    result = build(context, {"r": rule}).map({"m": "M-1", "b": "3/7/1990 12:00:00 AM"}, "r")
    assert result.elements[0]["attributes"] == {"birthday": "1990-03-07"}


# --- 6. unrendered placeholders never reach a profile ---------------------------------------


def test_unrendered_values_are_dropped_with_a_warning_in_mapped_attributes() -> None:
    attributes, warnings = member(memberEmail="{{memberEmail}}", memberMobile="{{ memberMobile }}")
    assert "email" not in attributes
    assert "mobile" not in attributes
    assert attributes["first_name"] == "Jordan"
    assert warnings == [
        "field memberEmail holds an unrendered Kognitiv placeholder (a field unknown to "
        'Kognitiv) (rule "member_updated", output "email"); the value was left out',
        "field memberMobile holds an unrendered Kognitiv placeholder (a field unknown to "
        'Kognitiv) (rule "member_updated", output "mobile"); the value was left out',
    ]


def test_unrendered_values_are_dropped_wherever_they_appear_in_a_passthrough_body() -> None:
    body = {
        "type": "transition",
        "elements": [
            {
                "type": "customer",
                "customer_id": "M-1",
                "attributes": {
                    "email": "{{memberEmail}}",
                    "tags": ["gold", "{{tier}}"],
                    "address": {"city": "{{memberAddressCity}}", "zip": "60601"},
                    "note": "Hello {{memberFirstName}}",
                },
            },
            {
                "type": "event",
                "customer_id": "M-1",
                "actions": [
                    {
                        "action": "visit",
                        "platform": "{{platform}}",
                        "app_version": "{{appVersion}}",
                        "current_time": "{{issuedDate}}",
                        "attributes": {"where": "{{issuedLocationName}}", "n": 1},
                    }
                ],
            },
        ],
    }
    elements, warnings = passthrough(body)
    assert elements[0]["attributes"] == {"tags": ["gold"], "address": {"zip": "60601"}}
    assert elements[1]["actions"] == [{"action": "visit", "attributes": {"n": 1}}]
    unrendered = "holds an unrendered Kognitiv placeholder (a field unknown to Kognitiv)"
    assert warnings == [
        f"element 0.attributes.email {unrendered}; it was left out",
        f"element 0.attributes.tags {unrendered}; it was left out",
        f"element 0.attributes.address.city {unrendered}; it was left out",
        f"element 0.attributes.note {unrendered}; it was left out",
        f"element 1.actions[0].platform {unrendered}; it was left out",
        f"element 1.actions[0].app_version {unrendered}; it was left out",
        f"element 1.actions[0].attributes.where {unrendered}; it was left out",
        f"element 1.actions[0].current_time {unrendered}; MoEngage's time is used",
    ]


def test_an_unrendered_action_name_is_refused() -> None:
    body = {"type": "event", "customer_id": "M-1", "actions": [{"action": "{{eventName}}"}]}
    with pytest.raises(MappingError) as caught:
        build().map(body)
    assert caught.value.code == "invalid_action"


# --- 7. values are trimmed ------------------------------------------------------------------


def test_mapped_values_are_trimmed_and_not_otherwise_changed() -> None:
    attributes, _ = member(
        memberFirstName="  Mary  Ann\t", memberEmail=" ana@example.com\n", memberAddressCO=" US"
    )
    assert attributes["first_name"] == "Mary  Ann"
    assert attributes["email"] == "ana@example.com"
    assert attributes["country"] == "US"


def test_values_without_a_filter_are_trimmed_too() -> None:
    rule = {"type": "customer", "customer_id": "{{m}}", "attributes": {"tier": "{{tier}}"}}
    result = build(document={"r": rule}).map({"m": "M-1", "tier": "  Gold "}, "r")
    assert result.elements[0]["attributes"] == {"tier": "Gold"}


def test_values_are_trimmed_at_any_depth() -> None:
    rule = {"type": "customer", "customer_id": "{{m}}", "attributes": {"tags": "{{tags}}"}}
    body = {"m": "M-1", "tags": [" gold ", {"level": " 2 "}]}
    result = build(document={"r": rule}).map(body, "r")
    assert result.elements[0]["attributes"] == {"tags": ["gold", {"level": "2"}]}
    assert result.warnings == []


def test_passthrough_values_are_trimmed() -> None:
    body = {"type": "customer", "customer_id": " M-1 ", "attributes": {"tier": " Gold ", "n": 1}}
    elements, _ = passthrough(body)
    assert elements[0] == {
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"tier": "Gold", "n": 1},
    }


# --- 8. forbidden ids are MoEngage's full list ----------------------------------------------


@pytest.mark.parametrize("value", ["(empty)", "(EMPTY)", " (empty) "])
def test_empty_marker_is_a_forbidden_id(value: str) -> None:
    with pytest.raises(MappingError) as caught:
        customer_id({"customer_id": value}, 0)
    assert caught.value.code == "invalid_customer_id"


def test_empty_marker_member_id_is_refused_through_a_rule() -> None:
    with pytest.raises(MappingError) as caught:
        build().map({**fixture("rewards_issued"), "memberId": "(empty)"}, "rewards_issued")
    assert caught.value.code == "invalid_customer_id"


# --- 9. numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,50", 1234.5),
        ("1.234", 1234),
        ("1.234.567", 1234567),
        ("12,5", 12.5),
        ("-1.234,5", -1234.5),
        ("1234", 1234),
        (" 10,00 ", 10.0),
    ],
)
def test_decimal_comma_numbers(text: str, expected: float) -> None:
    value = to_number(text, EU_NUMBERS)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", ["10.50", "1,234.50", "1.23,5", "12.5"])
def test_decimal_point_text_is_refused_under_a_decimal_comma(text: str) -> None:
    with pytest.raises(ConversionError, match=re.escape("1.250,50")):
        to_number(text, EU_NUMBERS)


def test_the_default_number_format_is_not_inferred_from_the_date_order() -> None:
    day_first = ConversionContext(ZoneInfo("Europe/Berlin"), "DMY")
    assert to_number("1,234.50", day_first) == 1234.5
    with pytest.raises(ConversionError):
        to_number("1.234,50", day_first)


def test_decimal_comma_through_the_default_rule() -> None:
    action, warnings = reward(
        EU_NUMBERS,
        issuedDate="14/03/2026 09:30:00",
        rewardValue="1.234,50",
        rewardPointCost="1.000",
    )
    assert action["attributes"]["reward_value"] == 1234.5
    assert action["attributes"]["reward_point_cost"] == 1000
    assert warnings == []


def test_integers_beyond_exact_storage_are_not_sent_as_integers() -> None:
    action, warnings = reward(rewardPointCost="9007199254740993")
    assert "reward_point_cost" not in action["attributes"]
    assert warnings == [
        'field rewardPointCost is not a valid number (rule "rewards_issued", output '
        '"reward_point_cost"): a whole number beyond ±9007199254740991 cannot be stored exactly '
        "by MoEngage (send ids as text: | string); the value was left out"
    ]
    action, _ = reward(rewardPointCost="9007199254740991")
    assert action["attributes"]["reward_point_cost"] == 9007199254740991


def test_passthrough_integers_beyond_exact_storage_are_sent_as_text() -> None:
    body = {"type": "customer", "customer_id": "M-1", "attributes": {"card": 12345678901234567890}}
    elements, warnings = passthrough(body)
    assert elements[0]["attributes"] == {"card": "12345678901234567890"}
    assert warnings == [
        "element 0.attributes.card: an integer beyond ±9007199254740991 would not be stored "
        "exactly by MoEngage; it was sent as text"
    ]


def test_number_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MOENGAGE_API_BASE_URL", "KOGNITIV_NUMBER_FORMAT", "KOGNITIV_SERVICE_BUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOENGAGE_APP_ID", "app")
    monkeypatch.setenv("MOENGAGE_API_KEY", "key")
    monkeypatch.setenv("MOENGAGE_DATA_CENTER", "02")
    monkeypatch.setenv("KOGNITIV_DATE_ORDER", "DMY")
    assert load_settings().kognitiv_number_format == "1,234.56"  # today's behaviour
    monkeypatch.setenv("KOGNITIV_NUMBER_FORMAT", " 1.234,56 ")
    assert load_settings().kognitiv_number_format == "1.234,56"
    monkeypatch.setenv("KOGNITIV_NUMBER_FORMAT", "EU")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.problems == [
        "KOGNITIV_NUMBER_FORMAT must be 1,234.56 (decimal point, the default) or 1.234,56 "
        "(decimal comma)"
    ]


# --- 10. ambiguous and non-existent local times ---------------------------------------------

AMBIGUOUS = (
    "the local time occurs twice in {} (clocks went back); it was read as standard time "
    "(the later reading, UTC{}), as Kognitiv's platform reads it"
)
AMBIGUOUS_NY = AMBIGUOUS.replace("UTC{}", "UTC-05:00")
AMBIGUOUS_BERLIN = AMBIGUOUS.replace("UTC{}", "UTC+01:00")
AMBIGUOUS_SYDNEY = AMBIGUOUS.replace("UTC{}", "UTC+10:00")
GAP = "the local time does not exist in {} (clocks went forward); it was moved forward by the gap"


@pytest.mark.parametrize(
    ("value", "context", "expected", "note"),
    [
        ("11/3/2024 1:30:00 AM", NEW_YORK, "2024-11-03T06:30:00Z", AMBIGUOUS_NY),
        ("2024-11-03T01:30:00", NEW_YORK, "2024-11-03T06:30:00Z", AMBIGUOUS_NY),
        ("27/10/2024 02:30:00", BERLIN, "2024-10-27T01:30:00Z", AMBIGUOUS_BERLIN),
        ("07/04/2024 02:30:00", SYDNEY, "2024-04-06T16:30:00Z", AMBIGUOUS_SYDNEY),
        ("3/10/2024 2:30:00 AM", NEW_YORK, "2024-03-10T07:30:00Z", GAP),
        ("31/03/2024 02:30:00", BERLIN, "2024-03-31T01:30:00Z", GAP),
        ("06/10/2024 02:30:00", SYDNEY, "2024-10-05T16:30:00Z", GAP),
    ],
)
def test_daylight_saving_edges_resolve_as_dotnet_does(value, context, expected, note) -> None:
    notes: list[str] = []
    assert to_datetime(value, context, notes) == expected
    assert notes == [note.format(context.zone)]


def test_ordinary_local_times_carry_no_note() -> None:
    notes: list[str] = []
    assert to_datetime("11/3/2024 2:30:00 AM", NEW_YORK, notes) == "2024-11-03T07:30:00Z"
    assert to_datetime("3/10/2024 3:30:00 AM", NEW_YORK, notes) == "2024-03-10T07:30:00Z"
    assert notes == []


def test_daylight_saving_notes_become_warnings_in_rules_and_passthrough() -> None:
    action, warnings = reward(NEW_YORK, issuedTimestamp="11/3/2024 1:30:00 AM", issuedDate=None)
    assert action["current_time"] == "2024-11-03T06:30:00Z"
    assert warnings == [
        'field issuedTimestamp (rule "rewards_issued", output "current_time"): '
        + AMBIGUOUS_NY.format("America/New_York")
    ]
    body = {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "a", "current_time": "3/10/2024 2:30:00 AM"}],
    }
    elements, warnings = passthrough(body, NEW_YORK)
    assert elements[0]["actions"][0]["current_time"] == "2024-03-10T07:30:00Z"
    assert warnings == ["element 0.actions[0].current_time: " + GAP.format("America/New_York")]
    body = {"type": "customer", "customer_id": "M-1", "attributes": {"v": {"at": "11/3/2024 1:30"}}}
    elements, warnings = passthrough(body, NEW_YORK)
    assert elements[0]["attributes"] == {"v": {"at": "2024-11-03T06:30:00Z"}}
    assert warnings == ["element 0.attributes.v.at: " + AMBIGUOUS_NY.format("America/New_York")]
