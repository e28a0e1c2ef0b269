"""Properties of the mapping: whatever a KLS admin's template sends, the Mapper either refuses it
with a MappingError (answered 422) or produces elements MoEngage will accept as they are."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import mapping
from mapping import ConversionContext, Mapper, MappingError, compile_rules
from mapping.converters import ConversionError, to_boolean, to_number, to_string
from mapping.dates import format_date, format_datetime, parse_moment
from mapping.known_fields import KNOWN_KOGNITIV_FIELDS
from mapping.policy import FORBIDDEN_CUSTOMER_IDS, STANDARD_MOE_USER_ATTRIBUTES
from mapping.unrendered import is_unrendered

CTX = ConversionContext(ZoneInfo("UTC"), "MDY")
DECIMAL_COMMA = ConversionContext(ZoneInfo("UTC"), "DMY", "1.234,56")
CHICAGO = ZoneInfo("America/Chicago")
NOW = datetime(2026, 4, 1, tzinfo=UTC).timestamp()
DOCUMENT = json.loads((Path(mapping.__file__).parent / "default_mappings.json").read_text())
MAPPER = Mapper(compile_rules(DOCUMENT, CTX), CTX, lambda: NOW)
RULES = sorted(MAPPER.rules)
MOENGAGE_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE_ATTRIBUTES = frozenset({"issued_date", "redeemed_date", "enrolled_at"})
NUMBER_ATTRIBUTES = frozenset({"reward_value", "reward_point_cost", "points_balance"})
BOOLEAN_ATTRIBUTES = frozenset({"email_contact_allowed", "sms_contact_allowed"})
FIELDS = sorted(KNOWN_KOGNITIV_FIELDS)
PROPERTY = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

# --- strategies ----------------------------------------------------------------------------

# KLS can send any year; the edges of Python's range are where conversions break
edge_datetimes = st.sampled_from(
    [
        datetime(1, 1, 1),
        datetime(1, 1, 1, 0, 30),
        datetime(999, 12, 31, 12),
        datetime(1000, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59),
        datetime(9999, 12, 31, 12),
    ]
)
any_datetime = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
    edge_datetimes,
)
offsets = st.sampled_from(["", "Z", "+01:00", "-05:00", "+14:00", "-12:00", " +0200"])


def _twelve_hour(value: datetime) -> str:
    hour = value.hour % 12 or 12
    meridiem = "AM" if value.hour < 12 else "PM"
    return (
        f"{value.month}/{value.day}/{value.year:04d} "
        f"{hour}:{value.minute:02d}:{value.second:02d} {meridiem}"
    )


def _slash(value: datetime) -> str:
    return (
        f"{value.month:02d}/{value.day:02d}/{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )


date_texts = st.one_of(
    st.builds(_slash, any_datetime),
    st.builds(_twelve_hour, any_datetime),
    st.builds(lambda v: f"{v.month:02d}/{v.day:02d}/{v.year:04d}", any_datetime),
    st.builds(lambda v, o: _slash(v) + o, any_datetime, offsets),
    st.builds(lambda v, o: v.isoformat() + o.strip(), any_datetime, offsets),
    st.builds(lambda v: v.date().isoformat(), any_datetime),
    st.builds(lambda v: v.isoformat() + ".1234567Z", any_datetime),
    st.integers(min_value=-(10**13), max_value=10**13).map(str),
)
special_texts = st.sampled_from(
    [
        "",
        " ",
        "\t",
        "null",
        "NULL",
        " null ",
        "0",
        "1",
        "unknown",
        "n/a",
        "True",
        "False",
        "yes",
        "off",
        "1000",
        "10.00",
        "1,250.50",
        "NaN",
        "Infinity",
        "-Infinity",
        "1e400",
        "1773480600",
        "1773480600000",
        "13/45/2026",
        "tomorrow",
        "{{memberId}}",
        "{{memberEmail}}",
        " {{ x }} ",
        "{{",
        "x" * 600,
        "1" * 600,
        "9" * 4301,
    ]
)
texts = st.one_of(st.text(max_size=30), special_texts, date_texts)
scalars = st.one_of(
    texts,
    st.integers(),
    st.integers(min_value=-(10**13), max_value=10**13),
    st.floats(),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=5,
)
DATE_FIELDS = ("issuedDate", "issuedTimestamp", "redeemedDate", "redeemedTimestamp")
NUMBER_FIELDS = ("rewardValue", "rewardPointCost", "memberPointsAvailable")
BOOLEAN_FIELDS = ("memberEmailContactAllowed", "memberSmsContactAllowed")
number_texts = st.one_of(
    st.integers().map(str),
    st.floats().map(repr),
    st.integers(min_value=0, max_value=10**9).map(lambda n: f"{n:,}.50"),
)
boolean_texts = st.sampled_from(["True", "False", "true", "yes", "no", "1", "0", "on", "maybe"])


def field_values(name: str) -> st.SearchStrategy:
    if name in DATE_FIELDS:
        return st.one_of(date_texts, json_values)
    if name in NUMBER_FIELDS:
        return st.one_of(number_texts, json_values)
    if name in BOOLEAN_FIELDS:
        return st.one_of(boolean_texts, json_values)
    return json_values


# every known field may appear (with values shaped like what KLS renders, or anything at all),
# plus arbitrary extra keys
known_fields = st.fixed_dictionaries(
    {}, optional={name: field_values(name) for name in FIELDS if name != "memberId"}
)
bodies = st.builds(
    lambda extra, known: {**extra, **known},
    st.dictionaries(st.text(max_size=10), json_values, max_size=4),
    known_fields,
)
member_ids = st.one_of(
    st.none(), st.text(min_size=1, max_size=12), st.integers(), special_texts, st.just("M-1001")
)


@st.composite
def kognitiv_bodies(draw: st.DrawFn) -> dict:
    body = draw(bodies)
    member_id = draw(member_ids)
    if member_id is not None:
        body["memberId"] = member_id
    return body


# --- checks --------------------------------------------------------------------------------


def _strings(value: object):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _text_values(value: object):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _text_values(item)


def _check_customer_id(element: dict) -> None:
    cid = element["customer_id"]
    assert isinstance(cid, str)
    assert cid == cid.strip()
    assert cid
    assert cid.lower() not in FORBIDDEN_CUSTOMER_IDS
    assert len(cid) <= 512
    assert not re.fullmatch(r"\{\{.*\}\}", cid, re.DOTALL)


def _check_attributes(attributes: dict, *, from_rule: bool, user: bool = False) -> None:
    assert isinstance(attributes, dict)
    for name, value in attributes.items():
        assert name.strip() not in ("", "id", "_id")
        assert not name.lower().startswith("moe_") or (
            user and name in STANDARD_MOE_USER_ATTRIBUTES
        )
        assert value is not None
        if isinstance(value, str):
            assert len(value) <= 512
            if from_rule:
                assert value != ""
        if isinstance(value, list):
            assert len(value) <= 50
        if from_rule and name in DATE_ATTRIBUTES:
            assert isinstance(value, str)
            assert MOENGAGE_DATETIME.fullmatch(value), (name, value)
        if from_rule and name in NUMBER_ATTRIBUTES:
            assert type(value) in (int, float)
            assert math.isfinite(value)
        if from_rule and name in BOOLEAN_ATTRIBUTES:
            assert type(value) is bool


def check_elements(elements: list, body: dict, *, from_rule: bool) -> None:
    assert elements
    json.dumps(elements, allow_nan=False)  # valid JSON for MoEngage: no NaN or Infinity
    for text in _text_values(elements):
        assert not is_unrendered(text), text  # never a placeholder, from the rule or the body
    for element in elements:
        assert element["type"] in ("event", "customer")
        _check_customer_id(element)
        if element["type"] == "customer":
            _check_attributes(element["attributes"], from_rule=from_rule, user=True)
            continue
        assert element["actions"]
        for action in element["actions"]:
            assert isinstance(action["action"], str)
            assert action["action"].strip()
            if "attributes" in action:
                _check_attributes(action["attributes"], from_rule=from_rule)
                assert len(action["attributes"]) <= 100
            if "current_time" in action:
                current = action["current_time"]
                if from_rule:
                    assert MOENGAGE_DATETIME.fullmatch(current), current
                moment = parse_moment(current, UTC)
                assert moment is not None
                assert moment.instant.timestamp() <= NOW + 300


# --- mapper properties ---------------------------------------------------------------------


@PROPERTY
@given(body=kognitiv_bodies(), rule=st.sampled_from(RULES))
# pinned: dates whose UTC instant is outside years 1..9999, and digit strings over Python's
# 4300-digit int() limit (both raise from the converters instead of ConversionError)
@example(
    body={"memberId": "M-1", "issuedDate": "01/01/0001 00:00:00 +01:00"}, rule="rewards_issued"
)
@example(body={"memberId": "M-1", "rewardPointCost": "9" * 4301}, rule="rewards_issued")
def test_default_rules_give_valid_elements_or_a_mapping_error(body: dict, rule: str) -> None:
    try:
        result = MAPPER.map(body, rule)
    except MappingError:
        return
    assert result.rule == rule
    check_elements(result.elements, body, from_rule=True)
    assert all(isinstance(warning, str) for warning in result.warnings)


@PROPERTY
@given(body=kognitiv_bodies())
def test_body_event_field_selection_never_raises_anything_else(body: dict) -> None:
    try:
        result = MAPPER.map(body)
    except MappingError:
        return
    check_elements(result.elements, body, from_rule=result.rule != "passthrough")


# bridge/webhook/body.py refuses NaN and Infinity before mapping, so passthrough bodies carry finite
# floats only (a passthrough value is sent as it is, so a NaN would reach MoEngage)
json_scalars = st.one_of(
    texts, st.integers(min_value=-(10**15), max_value=10**15), st.floats(allow_nan=False,
    allow_infinity=False), st.booleans(), st.none()
)  # fmt: skip
passthrough_attributes = st.dictionaries(
    st.one_of(st.text(max_size=10), st.sampled_from(["id", "_id", "moe_x", "time", ""])),
    st.one_of(json_scalars, st.lists(json_scalars, max_size=60)),
    max_size=8,
)


@st.composite
def moengage_bodies(draw: st.DrawFn) -> dict:
    customer_id = draw(member_ids)
    kind = draw(st.sampled_from(["event", "customer", "Event", "CUSTOMER"]))
    body: dict = {"type": kind}
    if customer_id is not None:
        body["customer_id"] = customer_id
    attributes = draw(passthrough_attributes)
    if kind.lower() == "customer":
        body["attributes"] = attributes
    else:
        action = {"action": draw(st.one_of(st.just("rewards_issued"), st.text(max_size=10)))}
        action["attributes"] = attributes
        if draw(st.booleans()):
            action["current_time"] = draw(st.one_of(date_texts, texts))
        body["actions"] = [action]
    return body


@PROPERTY
@given(body=moengage_bodies())
@example(
    body={
        "type": "customer",
        "customer_id": "M-1",
        "attributes": {"d": "0001-01-01T00:00:00+01:00"},
    }
)
def test_passthrough_gives_valid_elements_or_a_mapping_error(body: dict) -> None:
    try:
        result = MAPPER.map(body)
    except MappingError:
        return
    assert result.rule == "passthrough"
    check_elements(result.elements, body, from_rule=False)


# --- date round trips ----------------------------------------------------------------------

modern = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 12, 31, 23, 59, 59))


@PROPERTY
@given(value=modern)
def test_us_date_time_round_trips_to_the_same_utc_instant(value: datetime) -> None:
    value = value.replace(microsecond=0)
    moment = parse_moment(value.strftime("%m/%d/%Y %H:%M:%S"), UTC)
    assert moment is not None
    assert moment.instant == value.replace(tzinfo=UTC)
    assert format_datetime(moment) == value.strftime("%Y-%m-%dT%H:%M:%SZ")


@PROPERTY
@given(value=modern)
def test_twelve_hour_format_round_trips(value: datetime) -> None:
    value = value.replace(microsecond=0)
    moment = parse_moment(_twelve_hour(value), UTC)
    assert moment is not None
    assert moment.instant == value.replace(tzinfo=UTC)


@PROPERTY
@given(value=modern)
def test_dmy_round_trips(value: datetime) -> None:
    value = value.replace(microsecond=0)
    moment = parse_moment(value.strftime("%d/%m/%Y %H:%M:%S"), UTC, "DMY")
    assert moment is not None
    assert moment.instant == value.replace(tzinfo=UTC)


@PROPERTY
@given(value=modern, minutes=st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_iso_with_offset_round_trips(value: datetime, minutes: int) -> None:
    aware = value.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    moment = parse_moment(aware.isoformat(), CHICAGO)
    assert moment is not None
    assert moment.instant == aware
    expected = aware.astimezone(UTC).replace(microsecond=0)
    assert format_datetime(moment) == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


@PROPERTY
@given(value=modern)
def test_naive_chicago_time_round_trips(value: datetime) -> None:
    value = value.replace(microsecond=0)
    local = value.replace(tzinfo=CHICAGO)
    # skip the hour that happens twice (fall back) and the hour that never happens (spring
    # forward): a naive value there has no single instant
    assume(local.utcoffset() == local.replace(fold=1).utcoffset())
    assume(local.astimezone(UTC).astimezone(CHICAGO).replace(tzinfo=None) == value)
    moment = parse_moment(value.strftime("%m/%d/%Y %H:%M:%S"), CHICAGO)
    assert moment is not None
    assert moment.instant == local


@PROPERTY
@given(seconds=st.integers(min_value=946_684_800, max_value=4_102_444_799))  # 2000-2099
def test_epoch_seconds_and_milliseconds_agree(seconds: int) -> None:
    expected = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for value in (seconds, str(seconds), seconds * 1000, str(seconds * 1000)):
        moment = parse_moment(value, UTC)
        assert moment is not None
        assert format_datetime(moment) == expected


@PROPERTY
@given(number=st.integers(min_value=100_000_000, max_value=9_999_999_999_999))
def test_epoch_text_is_read_only_as_a_plausible_instant(number: int) -> None:
    """Digits as text are an epoch only where seconds or milliseconds give 2000-2099."""
    moment = parse_moment(str(number), UTC)
    plausible = 946_684_800 <= number < 4_102_444_800 or (
        946_684_800_000 <= number < 4_102_444_800_000
    )
    assert (moment is not None) is plausible
    if moment is not None:
        assert 2000 <= moment.instant.year <= 2099


@PROPERTY
@given(value=st.dates(min_value=datetime(1000, 1, 1).date()))
def test_date_only_round_trips_in_any_zone(value) -> None:
    for zone in (UTC, CHICAGO):
        moment = parse_moment(value.strftime("%m/%d/") + f"{value.year:04d}", zone)
        assert moment is not None
        assert format_date(moment) == value.isoformat()
        iso = parse_moment(value.isoformat(), zone)
        assert iso is not None
        assert format_date(iso) == value.isoformat()


@PROPERTY
@given(value=st.one_of(st.text(max_size=40), date_texts, st.integers(), st.floats()))
@example(value="12/31/9999 23:00:00")
def test_parse_and_format_never_raise(value: object) -> None:
    for zone, order in ((UTC, "MDY"), (CHICAGO, "DMY")):
        moment = parse_moment(value, zone, order)
        if moment is not None:
            assert MOENGAGE_DATETIME.fullmatch(format_datetime(moment))
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", format_date(moment))


# --- converter properties ------------------------------------------------------------------


@PROPERTY
@given(value=st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1))
def test_integer_text_converts_back_exactly(value: int) -> None:
    assert to_number(str(value), CTX) == value
    assert type(to_number(str(value), CTX)) is int
    assert to_number(f"  {value}  ", CTX) == value
    assert to_number(f"{value:,}", CTX) == value
    assert to_number(f"{value:,}".replace(",", "."), DECIMAL_COMMA) == value


@PROPERTY
@given(value=st.integers(min_value=2**53, max_value=10**30), sign=st.sampled_from([1, -1]))
def test_integers_moengage_cannot_store_exactly_are_refused(value: int, sign: int) -> None:
    with pytest.raises(ConversionError, match="cannot be stored exactly"):
        to_number(str(sign * value), CTX)
    with pytest.raises(ConversionError, match="cannot be stored exactly"):
        to_number(sign * value, CTX)


@PROPERTY
@given(value=st.floats(allow_nan=False, allow_infinity=False))
def test_float_text_converts_back_exactly(value: float) -> None:
    assert to_number(repr(value), CTX) == value
    assert to_number(to_string(value, CTX), CTX) == value


@PROPERTY
@given(value=st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none()))
def test_converters_raise_only_conversion_errors(value: object) -> None:
    for converter in (to_number, to_boolean, to_string):
        try:
            result = converter(value, CTX)
        except ConversionError:
            continue
        if converter is to_number:
            assert type(result) in (int, float)
            assert math.isfinite(result)
        elif converter is to_boolean:
            assert type(result) is bool
        else:
            assert isinstance(result, str)
