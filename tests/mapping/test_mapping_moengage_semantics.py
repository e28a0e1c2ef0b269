"""Values land in MoEngage as the fact MoEngage's documentation says they are.

The sentences relied on are quoted with their source in
tests/fixtures/moengage/documented-semantics.json: `current_time` is UTC, `user_time` is "Local
time at which the event happened" (used as is), the reserved user attribute names, the standard
`moe_` names Track User may create, and `unset_attributes`. Pure mapping tests first, then the
same outcomes through the HTTP trigger to the emulator over real sockets.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import mapping
from mapping import DEFAULT_MAPPINGS_FILE, ConversionContext, Mapper, MappingError, compile_rules
from mapping.converters import ConversionError, to_date, to_datetime, to_number, to_string
from mapping.errors import RuleError
from mapping.policy import RESERVED_USER_ATTRIBUTES
from moengage_emulator import contract
from tests.conftest import call_webhook, http_request

DOCUMENTED = {
    entry["id"]: entry
    for entry in json.loads(
        (
            Path(__file__).parent.parent / "fixtures" / "moengage" / "documented-semantics.json"
        ).read_text()
    )
}
DEFAULTS = json.loads((Path(mapping.__file__).parent / DEFAULT_MAPPINGS_FILE).read_text())
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC).timestamp()
UTC_CTX = ConversionContext(ZoneInfo("UTC"), "MDY")
NEW_YORK = ConversionContext(ZoneInfo("America/New_York"), "MDY")
LONDON = ConversionContext(ZoneInfo("Europe/London"), "DMY")
DUBLIN = ConversionContext(ZoneInfo("Europe/Dublin"), "DMY")
SYDNEY = ConversionContext(ZoneInfo("Australia/Sydney"), "DMY")
FRENCH = ConversionContext(ZoneInfo("Europe/Paris"), "DMY", "1.234,56")


def mapper(document: dict, context: ConversionContext = UTC_CTX) -> Mapper:
    return Mapper(compile_rules(document, context), context, lambda: NOW)


def event_rule(**action: object) -> dict:
    """A rule `purchase` whose one action carries `action`'s keys."""
    element = {
        "type": "event",
        "customer_id": "{{memberId | required}}",
        "actions": [{"action": "purchase", **action}],
    }
    return {"purchase": {"elements": [element]}}


def customer_rule(attributes: dict) -> dict:
    element = {"type": "customer", "customer_id": "{{memberId}}", "attributes": attributes}
    return {"profile": {"elements": [element]}}


def refusal(document: dict, context: ConversionContext = UTC_CTX) -> str:
    with pytest.raises(RuleError) as caught:
        compile_rules(document, context)
    return str(caught.value)


# --- 1. current_time / user_time are read with the program's zone and order ------------------


def test_current_time_without_datetime_is_read_in_the_programs_zone() -> None:
    result = mapper(event_rule(current_time="{{issuedDate}}"), NEW_YORK).map(
        {"memberId": "M-1", "issuedDate": "11/14/2023 10:13:20 PM"}, "purchase"
    )
    assert result.elements[0]["actions"][0]["current_time"] == "2023-11-15T03:13:20Z"
    assert result.warnings == []


def test_current_time_and_user_time_without_datetime_follow_the_programs_date_order() -> None:
    rule = event_rule(current_time="{{issuedDate}}", user_time="{{issuedDate}}")
    result = mapper(rule, LONDON).map(
        {"memberId": "M-1", "issuedDate": "04/03/2024 10:00:00"}, "purchase"
    )
    action = result.elements[0]["actions"][0]
    assert action["current_time"] == "2024-03-04T10:00:00Z"  # 4 March, GMT
    assert action["user_time"] == "2024-03-04T10:00:00Z"


def test_a_moengage_shaped_body_has_its_times_read_in_the_programs_zone_and_order() -> None:
    body = {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "a", "current_time": "04/03/2024 10:00:00"}],
    }
    [element] = mapper({}, LONDON).map(body).elements
    assert element["actions"][0]["current_time"] == "2024-03-04T10:00:00Z"
    body["actions"][0]["current_time"] = "11/14/2023 10:13:20 PM"
    [element] = mapper({}, NEW_YORK).map(body).elements
    assert element["actions"][0]["current_time"] == "2023-11-15T03:13:20Z"


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (
            {"user_time": "{{issuedDate | datetime}}"},
            'rule "purchase" element 0.actions[0].user_time: user_time is the local time in '
            'MoEngage ("Local time at which the event happened", used as is): write '
            "| local_datetime, not | datetime",
        ),
        (
            {"user_time": "{{issuedDate | date}}"},
            'rule "purchase" element 0.actions[0].user_time: user_time is the local time in '
            'MoEngage ("Local time at which the event happened"): write | local_datetime, '
            "not | date",
        ),
        (
            {"current_time": "{{issuedDate | date}}"},
            'rule "purchase" element 0.actions[0].current_time: current_time is an instant '
            "(UTC): write | datetime, not | date",
        ),
        (
            {"current_time": "{{issuedDate | local_datetime}}"},
            'rule "purchase" element 0.actions[0].current_time: current_time is an instant '
            "(UTC): write | datetime, not | local_datetime",
        ),
        (
            {"attributes": {"at": "{{issuedDate | local_datetime}}"}},
            'rule "purchase" element 0.actions[0].attributes.at: | local_datetime is for '
            "user_time (MoEngage's local time) only; write | datetime",
        ),
    ],
)
def test_a_time_conversion_that_contradicts_moengages_meaning_is_refused_at_load(
    action: dict, problem: str
) -> None:
    assert refusal(event_rule(**action)) == problem


# --- 2. user_time is the local wall-clock time ------------------------------------------------


def test_documented_user_time_and_current_time_definitions() -> None:
    user_time = DOCUMENTED["DOC-user-time"]["quote"]
    assert user_time.startswith("Local time at which the event happened.")
    assert DOCUMENTED["DOC-current-time"]["quote"].startswith("UTC time at which the event")
    assert DOCUMENTED["DOC-times-used-as-is"]["quote"] == (
        "If you send the current_time and user_time, MoEngage uses them as is."
    )


def test_a_new_york_purchase_at_2213_has_user_time_2213_and_current_time_0313() -> None:
    rule = event_rule(
        current_time="{{issuedDate | datetime}}", user_time="{{issuedDate | local_datetime}}"
    )
    result = mapper(rule, NEW_YORK).map(
        {"memberId": "M-1", "issuedDate": "11/14/2023 10:13:20 PM"}, "purchase"
    )
    assert result.elements[0]["actions"][0] == {
        "action": "purchase",
        "current_time": "2023-11-15T03:13:20Z",
        "user_time": "2023-11-14T22:13:20Z",
    }
    assert result.warnings == []


@pytest.mark.parametrize(
    ("value", "user_time"),
    [
        ("11/14/2023 10:13:20 PM", "2023-11-14T22:13:20Z"),  # as written
        ("2023-11-14T22:13:20-05:00", "2023-11-14T22:13:20Z"),  # at its own offset
        ("2023-11-14T22:13:20+01:00", "2023-11-14T22:13:20Z"),  # Paris time stays Paris time
        ("/Date(1700018000000)/", "2023-11-14T22:13:20Z"),  # an instant: in the program's zone
        ("/Date(1700018000000+0100)/", "2023-11-15T04:13:20Z"),  # local at +01:00
        (1700018000, "2023-11-14T22:13:20Z"),  # epoch seconds: in the program's zone
        ("3/10/2024 2:30:00 AM", "2024-03-10T03:30:00Z"),  # in the gap: as the clock showed
        ("2023-11-15T03:13:20Z", "2023-11-14T22:13:20Z"),  # Z: a UTC instant, like /Date(ms)/
        ("11/15/2023 03:13:20 Z", "2023-11-14T22:13:20Z"),
        ("2023-11-15T03:13:20+00:00", "2023-11-15T03:13:20Z"),  # an explicit offset is kept
    ],
)
def test_local_datetime_is_the_wall_clock_where_the_value_was_local(
    value: object, user_time: str
) -> None:
    rule = event_rule(user_time="{{t | local_datetime}}")
    result = mapper(rule, NEW_YORK).map({"memberId": "M-1", "t": value}, "purchase")
    assert result.elements[0]["actions"][0]["user_time"] == user_time


@pytest.mark.parametrize("written", ["{{t}}", "{{t | local_datetime}}"])
def test_a_utc_timestamp_gives_the_programs_wall_clock_however_user_time_is_written(
    written: str,
) -> None:
    """Kognitiv's UTC timestamps already have MoEngage's shape; sent as they are they would put
    a New York purchase at 03:13 local time."""
    rule = event_rule(current_time="{{t}}", user_time=written)
    result = mapper(rule, NEW_YORK).map(
        {"memberId": "M-1", "t": "2023-11-15T03:13:20Z"}, "purchase"
    )
    assert result.elements[0]["actions"][0] == {
        "action": "purchase",
        "current_time": "2023-11-15T03:13:20Z",
        "user_time": "2023-11-14T22:13:20Z",
    }


def test_moengages_own_user_time_example_passes_through_unchanged() -> None:
    example = DOCUMENTED["DOC-user-time"]["example"]
    body = {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "a", "user_time": example, "current_time": example}],
    }
    [element] = mapper({}, NEW_YORK).map(body).elements
    assert element["actions"][0]["user_time"] == "2020-05-31T16:33:35Z"
    assert element["actions"][0]["current_time"] == "2020-05-31T16:33:35Z"


def test_a_moengage_shaped_body_with_a_kognitiv_user_time_gets_the_wall_clock() -> None:
    body = {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "a", "user_time": "11/14/2023 10:13:20 PM"}],
    }
    [element] = mapper({}, NEW_YORK).map(body).elements
    assert element["actions"][0]["user_time"] == "2023-11-14T22:13:20Z"


# --- 3. | date of /Date(ms)/ is the program's day ---------------------------------------------


def test_the_same_instant_gives_the_same_day_as_dotnet_json_and_as_epoch() -> None:
    assert to_date("/Date(1700006400000)/", NEW_YORK) == "2023-11-14"
    assert to_date(1700006400, NEW_YORK) == "2023-11-14"
    assert to_date("1700006400", NEW_YORK) == "2023-11-14"
    assert to_date("/Date(1700006400000)/", UTC_CTX) == "2023-11-15"
    assert to_date("/Date(1700006400000-0500)/", SYDNEY) == "2023-11-14"  # its own offset
    assert to_date("2023-11-15T00:00:00Z", NEW_YORK) == "2023-11-14"  # Z: the same instant
    assert to_date("11/15/2023 00:00:00Z", NEW_YORK) == "2023-11-14"
    assert to_date("2023-11-15T00:00:00+00:00", NEW_YORK) == "2023-11-15"  # its own offset


def test_a_sydney_birthday_sent_as_dotnet_json_stays_on_its_day() -> None:
    midnight = datetime(1990, 3, 7, tzinfo=ZoneInfo("Australia/Sydney"))
    milliseconds = int(midnight.timestamp() * 1000)
    assert milliseconds == 636732000000
    assert to_date(f"/Date({milliseconds})/", SYDNEY) == "1990-03-07"
    assert to_datetime(f"/Date({milliseconds})/", SYDNEY) == "1990-03-06T14:00:00Z"


# --- 4. .NET and epoch-text times give idempotency keys ---------------------------------------

REWARD = {"memberId": "100245", "rewardType": "Choice", "rewardName": "10% Off"}


@pytest.mark.parametrize(
    "issued",
    [
        "/Date(1700000000000)/",
        "\\/Date(1700000000000)\\/",
        "/Date(1700000000000-0500)/",
        "1700000000",
        "1700000000000",
        1700000000,
    ],
)
def test_dotnet_and_epoch_text_times_are_precise_to_the_second_and_keyed(issued: object) -> None:
    result = mapper(DEFAULTS).map({**REWARD, "issuedDate": issued}, "rewards_issued")
    assert result.idempotency_key == "100245|Choice|10% Off|2023-11-14T22:13:20Z"


def test_twelve_digit_text_is_no_time_and_gives_no_key() -> None:
    result = mapper(DEFAULTS).map({**REWARD, "issuedDate": "202311142213"}, "rewards_issued")
    assert result.idempotency_key is None


# --- 5. Europe/Dublin's repeated hour is standard time (GMT) -----------------------------------


def test_dublins_repeated_hour_is_read_as_standard_time_like_london() -> None:
    notes: list[str] = []
    assert to_datetime("27/10/2024 01:30:00", DUBLIN, notes) == "2024-10-27T01:30:00Z"
    assert notes == [
        "the local time occurs twice in Europe/Dublin (clocks went back); it was read as "
        "standard time (the later reading, UTC+00:00), as Kognitiv's platform reads it"
    ]
    assert to_datetime("27/10/2024 01:30:00", LONDON) == "2024-10-27T01:30:00Z"
    # the hour before and after is not ambiguous: summer time, then GMT
    assert to_datetime("27/10/2024 00:30:00", DUBLIN) == "2024-10-26T23:30:00Z"
    assert to_datetime("27/10/2024 02:30:00", DUBLIN) == "2024-10-27T02:30:00Z"


# --- 6. epoch text only where it is a plausible instant, saying which form ---------------------


def test_twelve_digit_text_is_not_taken_as_an_epoch() -> None:
    with pytest.raises(ConversionError):
        to_datetime("202311142213", UTC_CTX)
    result = mapper(event_rule(attributes={"at": "{{t | datetime}}"})).map(
        {"memberId": "M-1", "t": "202311142213"}, "purchase"
    )
    assert "attributes" not in result.elements[0]["actions"][0]
    assert result.warnings == [
        'field t is not a valid datetime (rule "purchase", output "at"): expected a date-time '
        "such as MM/DD/YYYY HH:MM:SS, M/D/YYYY h:mm:ss PM, ISO 8601, /Date(ms)/ or epoch seconds; "
        "the value was left out"
    ]


def test_a_required_twelve_digit_time_refuses_the_webhook() -> None:
    rule = event_rule(current_time="{{t | datetime | required}}")
    with pytest.raises(MappingError) as caught:
        mapper(rule).map({"memberId": "M-1", "t": "202311142213"}, "purchase")
    assert caught.value.code == "invalid_field"


@pytest.mark.parametrize(
    ("text", "sent", "form"),
    [
        ("1700000000", "2023-11-14T22:13:20Z", "seconds"),
        ("1700000000000", "2023-11-14T22:13:20Z", "milliseconds"),
        ("946684800", "2000-01-01T00:00:00Z", "seconds"),
    ],
)
def test_plausible_epoch_text_is_converted_with_a_note_saying_which_form(
    text: str, sent: str, form: str
) -> None:
    result = mapper(event_rule(attributes={"at": "{{t | datetime}}"})).map(
        {"memberId": "M-1", "t": text}, "purchase"
    )
    assert result.elements[0]["actions"][0]["attributes"] == {"at": sent}
    assert result.warnings == [
        f'field t (rule "purchase", output "at"): the digits were read as epoch {form} (UTC)'
    ]


@pytest.mark.parametrize("text", ["946684799", "202311142213", "99999999999", "4102444800000"])
def test_epoch_text_outside_2000_to_2099_is_no_date(text: str) -> None:
    with pytest.raises(ConversionError):
        to_datetime(text, UTC_CTX)


# --- 7. reserved attribute names ---------------------------------------------------------------


def test_the_reserved_lists_are_moengages_word_for_word() -> None:
    documented = {name.lower() for name in DOCUMENTED["DOC-reserved-user-attribute-names"]["names"]}
    assert len(documented) == 21
    assert set(RESERVED_USER_ATTRIBUTES) == documented
    assert documented == contract.RESERVED_USER_ATTRIBUTES


@pytest.mark.parametrize(
    ("name", "instead"),
    [
        ("status", "a name of your own, e.g. member_status or tier_status"),
        ("Status", "a name of your own, e.g. member_status or tier_status"),
        ("SOURCE", "a name of your own, e.g. signup_source"),
        ("user_id", "the element's customer_id"),
        ("USER_ATTRIBUTE_USER_EMAIL", "email"),
        ("user_attribute_user_first_name", "first_name"),
        ("MOE_GAID", "moe_gaid (lower case: MoEngage's Google Advertising ID)"),
    ],
)
def test_a_reserved_user_attribute_name_is_refused_at_load_with_the_name_to_use(
    name: str, instead: str
) -> None:
    assert refusal(customer_rule({name: "{{tier}}"})) == (
        f'rule "profile" element 0.attributes: attribute name {name!r} is reserved by MoEngage: '
        f"use {instead}"
    )


def test_moe_gaid_and_moe_mweb_may_be_created() -> None:
    assert DOCUMENTED["DOC-created-through-track-user"]["names"] == ["moe_gaid", "moe_mweb"]
    rule = customer_rule({"moe_gaid": "{{gaid}}", "moe_mweb": "{{mweb | boolean}}"})
    body = {"memberId": "M-1", "gaid": "38400000-8cf0", "mweb": "True"}
    result = mapper(rule).map(body, "profile")
    assert result.elements[0]["attributes"] == {"moe_gaid": "38400000-8cf0", "moe_mweb": True}
    assert result.warnings == []


def test_event_attributes_may_be_called_status() -> None:
    """MoEngage's list is "for user attributes": an order's status is an event fact."""
    result = mapper(event_rule(attributes={"status": "{{s}}"})).map(
        {"memberId": "M-1", "s": "shipped"}, "purchase"
    )
    assert result.elements[0]["actions"][0]["attributes"] == {"status": "shipped"}


def test_a_reserved_name_in_a_moengage_shaped_body_is_left_out_with_a_warning() -> None:
    body = {"type": "customer", "customer_id": "M-1", "attributes": {"Source": "web", "tier": "G"}}
    result = mapper({}).map(body)
    assert result.elements[0]["attributes"] == {"tier": "G"}
    assert result.warnings == [
        "element 0.attributes: attribute name 'Source' is reserved by MoEngage: use a name of "
        "your own, e.g. signup_source; it was left out"
    ]


def test_the_emulator_flags_reserved_user_attribute_names() -> None:
    element = {
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"status": "Gold", "USER_ID": "x", "moe_gaid": "g", "moe_mweb": True},
    }
    assert contract.policy_violations(element) == [
        "customer 'M-1': attribute 'status': name is reserved by MoEngage for user attributes",
        "customer 'M-1': attribute 'USER_ID': name is reserved by MoEngage for user attributes",
    ]
    event = {"type": "event", "customer_id": "M-1", "actions": [{"action": "a"}]}
    event["actions"][0]["attributes"] = {"status": "shipped"}
    assert contract.policy_violations(event) == []


# --- 8. space-grouped numbers; floats as .NET writes them --------------------------------------


@pytest.mark.parametrize("text", ["1 234,50", "1\u202f234,50", "1\u00a0234,50", " 1 234,50 "])
def test_space_grouped_numbers_are_read_under_the_comma_decimal_format(text: str) -> None:
    assert to_number(text, FRENCH) == 1234.5
    assert to_number(text.replace(",50", ""), FRENCH) == 1234
    assert to_number("12\u202f345\u202f678,9", FRENCH) == 12345678.9


@pytest.mark.parametrize("text", ["1 234.50", "1 23,5", "1  234,50", "12 34"])
def test_space_groups_must_be_groups_of_three(text: str) -> None:
    with pytest.raises(ConversionError):
        to_number(text, FRENCH)


def test_space_groups_are_not_read_under_the_decimal_point_format() -> None:
    with pytest.raises(ConversionError):
        to_number("1 234,50", UTC_CTX)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e16, "1E+16"),
        (1e15, "1E+15"),
        (123456789012345.0, "123456789012345"),
        (1234567890123456.0, "1.234567890123456E+15"),
        (10.0, "10"),
        (1234.5, "1234.5"),
        (-2.5, "-2.5"),
        (0.0001, "0.0001"),
        (0.00001, "1E-05"),
        (1.5e-7, "1.5E-07"),
        (1e100, "1E+100"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.0, "0"),
    ],
)
def test_string_of_a_float_is_what_dotnet_writes(value: float, text: str) -> None:
    assert to_string(value, UTC_CTX) == text


def test_a_french_amount_renders_in_text_as_dotnet_would() -> None:
    rule = event_rule(attributes={"summary": "{{v | number}} points"})
    result = mapper(rule, FRENCH).map({"memberId": "M-1", "v": "1\u202f250,00"}, "purchase")
    assert result.elements[0]["actions"][0]["attributes"] == {"summary": "1250 points"}


# --- 9. empty means "clear" where a rule says so -------------------------------------------------

CLEARING = customer_rule(
    {"email": "{{memberEmail | string | unset_if_empty}}", "city": "{{memberAddressCity}}"}
)


@pytest.mark.parametrize("emptied", ["", "   ", None])
def test_an_emptied_email_is_unset_in_moengage(emptied: object) -> None:
    result = mapper(CLEARING).map({"memberId": "M-1", "memberEmail": emptied}, "profile")
    assert result.elements == [
        {
            "type": "customer",
            "customer_id": "M-1",
            "attributes": {},
            "unset_attributes": [{"type": "equals", "attr": "email"}],
        }
    ]
    assert result.elements[0]["unset_attributes"][0] == {
        key: value
        for key, value in DOCUMENTED["DOC-unset-attributes"]["rule"].items()
        if key != "attr"
    } | {"attr": "email"}


def test_an_absent_email_is_missing_and_a_present_one_is_sent() -> None:
    absent = mapper(CLEARING).map({"memberId": "M-1", "memberAddressCity": "Oslo"}, "profile")
    assert absent.elements[0] == {
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"city": "Oslo"},
    }
    present = mapper(CLEARING).map({"memberId": "M-1", "memberEmail": " a@b.example "}, "profile")
    assert present.elements[0]["attributes"] == {"email": "a@b.example"}
    assert "unset_attributes" not in present.elements[0]


def test_an_empty_dotnet_date_clears_a_date_attribute() -> None:
    rule = customer_rule({"birthday_at": "{{birthday | date | unset_if_empty}}"})
    result = mapper(rule).map({"memberId": "M-1", "birthday": "1/1/0001 12:00:00 AM"}, "profile")
    assert result.elements[0]["unset_attributes"] == [{"type": "equals", "attr": "birthday_at"}]


def test_without_the_opt_in_an_emptied_email_stays_missing() -> None:
    result = mapper(DEFAULTS).map({"memberId": "M-1", "memberEmail": ""}, "member_updated")
    assert "email" not in result.elements[0]["attributes"]
    assert "unset_attributes" not in result.elements[0]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (
            event_rule(attributes={"email": "{{e | unset_if_empty}}"}),
            'rule "purchase" element 0.actions[0].attributes.email: | unset_if_empty is for the '
            'whole value of a user attribute (a "customer" element\'s attributes)',
        ),
        (
            customer_rule({"label": "mail {{e | unset_if_empty}}"}),
            'rule "profile" element 0.attributes.label: | unset_if_empty is for the whole value '
            'of a user attribute (a "customer" element\'s attributes)',
        ),
        (
            customer_rule({"moe_unsubscribe": "{{u | boolean | unset_if_empty}}"}),
            'rule "profile" element 0.attributes.moe_unsubscribe: MoEngage protects its own '
            "attributes from unset; | unset_if_empty cannot clear moe_unsubscribe",
        ),
        (
            customer_rule({"email": "{{e | required | unset_if_empty}}"}),
            'rule "profile": placeholder {{e | required | unset_if_empty}}: unset_if_empty '
            "clears the attribute when the field is sent empty: it cannot be combined with "
            "required or default",
        ),
    ],
)
def test_unset_if_empty_where_it_cannot_mean_clear_is_refused_at_load(
    document: dict, problem: str
) -> None:
    assert refusal(document) == problem


# --- through the HTTP trigger, to the emulator over real sockets -------------------------------


@pytest.fixture
def new_york(settings_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    settings_env.setenv("KOGNITIV_TIMEZONE", "America/New_York")
    return settings_env


async def test_a_purchase_reaches_moengage_with_utc_and_local_times(new_york, moengage) -> None:
    rule = event_rule(current_time="{{issuedDate}}", user_time="{{issuedDate | local_datetime}}")
    new_york.setenv("KOGNITIV_MAPPINGS", json.dumps(rule))
    body = {"memberId": "M-1", "issuedDate": "11/14/2023 10:13:20 PM"}

    status, _, _ = await call_webhook(http_request(body, "purchase"))

    assert status == 200
    assert moengage.accepted == [
        {
            "type": "event",
            "customer_id": "M-1",
            "actions": [
                {
                    "action": "purchase",
                    "current_time": "2023-11-15T03:13:20Z",
                    "user_time": "2023-11-14T22:13:20Z",
                }
            ],
        }
    ]
    assert moengage.violations == []


async def test_an_emptied_email_reaches_moengage_as_an_unset(settings_env, moengage) -> None:
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(CLEARING))

    status, _, _ = await call_webhook(
        http_request({"memberId": "M-1", "memberEmail": ""}, "profile")
    )

    assert status == 200
    assert moengage.accepted == [
        {
            "type": "customer",
            "customer_id": "M-1",
            "attributes": {},
            "unset_attributes": [{"type": "equals", "attr": "email"}],
        }
    ]
    assert moengage.violations == []


async def test_an_emptied_email_is_gone_from_the_moengage_profile(settings_env, moengage) -> None:
    """The admin's point: MoEngage stops holding (and mailing) the old address."""
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(CLEARING))
    set_it = http_request({"memberId": "M-1", "memberEmail": "old@example.com"}, "profile")
    assert (await call_webhook(set_it))[0] == 200
    assert moengage.profiles["M-1"]["email"] == "old@example.com"

    status, _, _ = await call_webhook(
        http_request({"memberId": "M-1", "memberEmail": " "}, "profile")
    )

    assert status == 200
    assert "email" not in moengage.profiles["M-1"]


async def test_a_reserved_name_in_a_mapping_file_is_a_configuration_error_naming_it(
    settings_env, moengage
) -> None:
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(customer_rule({"status": "{{tier}}"})))

    status, body, _ = await call_webhook(
        http_request({"memberId": "M-1", "tier": "Gold"}, "profile")
    )

    assert status == 503
    assert body == {
        "error": {
            "code": "configuration_error",
            "message": "the function app is misconfigured: mapping rule problem: rule "
            "\"profile\" element 0.attributes: attribute name 'status' is reserved by MoEngage: "
            "use a name of your own, e.g. member_status or tier_status",
        }
    }
    assert moengage.requests == []
