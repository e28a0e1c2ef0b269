"""Each rule is compiled at load into one specialised function (mapping/compiled.py). These tests
hold it to the interpreted path (render the template, then check every element): the same
elements, in the same key order, the same warnings in the same order, the same event identity,
or the same error, for any body."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC as UTC_FIXED
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapping import ConversionContext, Mapper, MappingError, compile_rules
from mapping.dates import format_datetime, parse_moment, plain_datetime_text
from tests.mapping.test_mapping_properties import FIELDS, field_values, json_values, kognitiv_bodies

DEFAULTS = json.loads(
    (
        Path(__file__).resolve().parent.parent.parent / "mapping" / "default_mappings.json"
    ).read_text()
)
# Shapes beyond the default rules: literals, interpolation, defaults, nested paths, MoEngage's
# standard attributes with the wrong type, user_time, several actions, fields the compiler leaves
# to the interpreter (platform, update_existing_only, delete, merge, nested objects).
EXTRA_RULES = {
    "shapes": {
        "id": "{{memberId}}-{{issuedTimestamp | datetime}}",
        "elements": [
            {
                "type": "customer",
                "attributes": {
                    "tier": "gold",
                    "points": 10,
                    "big": 9007199254740993,
                    "nothing": None,
                    "moe_sms_subscription": "{{memberSmsContactAllowed | boolean}}",
                    "moe_unsubscribe": "{{memberEmailContactAllowed}}",
                    "moe_spam": "{{issuedDate | datetime}}",
                    "greeting": "Hi {{memberFirstName}}!",
                    "city": "{{member.address.city or memberAddressCity}}",
                    "raw": "{{rewardName}}",
                    "channel": '{{channel | default: "  web "}}',
                    "cost": "{{rewardPointCost | integer | default: 0}}",
                    "when": "{{redeemedDate | date}}",
                },
                "customer_id": "{{memberId | string | required}}",
            },
            {
                "type": "event",
                "customer_id": "{{cardId or memberId}}",
                "actions": [
                    {
                        "user_time": "{{redeemedTimestamp | local_datetime}}",
                        "action": "first",
                        "current_time": "{{redeemedDate}}",
                        "attributes": {"a": "{{rewardValue | number}}", "b": "{{rewardId}}"},
                    },
                    {"action": "second", "current_time": "{{issuedTimestamp | number}}"},
                    {
                        "action": "third",
                        "current_time": '{{issuedDate | datetime | default: "2020-01-01"}}',
                        "attributes": {},
                    },
                ],
            },
            {"type": "customer", "customer_id": "{{memberId}}"},
        ],
    },
    "interpreted_shapes": [
        {
            "type": "event",
            "customer_id": "{{memberId | required}}",
            "actions": [
                {
                    "action": "{{rewardType}}",
                    "platform": "{{issuingDevice}}",
                    "attributes": {"nested": {"x": "{{rewardName}}", "list": ["{{rewardId}}"]}},
                }
            ],
        },
        {
            "type": "customer",
            "customer_id": "{{memberId}}",
            "update_existing_only": "{{memberSmsContactAllowed}}",
        },
        {
            "type": "customer",
            "customer_id": "{{memberId}}",
            "attributes": {"email": "{{memberEmail | unset_if_empty}}", "raw": "{{rewardName}}"},
        },
        {
            "type": "event",
            "customer_id": "{{memberId}}",
            "actions": [{"action": "later", "user_time": "{{issuedDate}}"}],
        },
        {
            "type": "merge",
            "merged_customer_id": "{{cardId}}",
            "retained_customer_id": "{{memberId}}",
        },
    ],
    "erase": {"type": "delete", "customer_id": "{{memberId | required}}"},
}
CONTEXTS = [
    ConversionContext(ZoneInfo("UTC"), "MDY"),
    ConversionContext(ZoneInfo("America/Chicago"), "DMY", "1.234,56"),
]
NOW = 1_780_000_000.0


def _mappers(context: ConversionContext) -> tuple[Mapper, Mapper]:
    rules = compile_rules({**DEFAULTS, **EXTRA_RULES}, context)
    assert all(rule.compiled is not None for rule in rules.values())
    interpreted = {name: replace(rule, compiled=None) for name, rule in rules.items()}
    return Mapper(rules, context, lambda: NOW), Mapper(interpreted, context, lambda: NOW)


MAPPERS = [_mappers(context) for context in CONTEXTS]
RULES = sorted({*DEFAULTS, *EXTRA_RULES} - {"$comment"})


def _outcome(mapper: Mapper, body: dict, rule: str) -> object:
    try:
        result = mapper.map(body, rule, identify=True)
    except MappingError as error:
        return ("error", error.code, str(error))
    # json.dumps keeps key order: the bytes MoEngage would receive
    return json.dumps(result.elements), result.warnings, result.idempotency_key


def _same(body: dict, rule: str) -> None:
    for compiled, interpreted in MAPPERS:
        assert _outcome(compiled, body, rule) == _outcome(interpreted, body, rule)


extra_fields = st.fixed_dictionaries(
    {},
    optional={
        "channel": json_values,
        "member": st.fixed_dictionaries({}, optional={"address": json_values}),
        "cardId": st.one_of(st.text(max_size=8), st.integers(), st.none()),
        "issuingDevice": st.sampled_from(["web", "iOS", "fridge", " ANDROID "]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=kognitiv_bodies(), extra=extra_fields, rule=st.sampled_from(RULES))
def test_compiled_rules_match_the_interpreter(body: dict, extra: dict, rule: str) -> None:
    _same({**body, **extra}, rule)


TRICKY = [
    "  padded  ",
    "",
    "   ",
    "{{memberEmail}}",
    "x" * 600,
    "03/14/2026 09:30:00",
    "2099-01-01T00:00:00Z",
    "1/1/0001 12:00:00 AM",
    "/Date(0)/",
    "03/08/2026 02:30:00",
    "11/01/2026 01:30:00",
    "5,000",
    "1.250,50",
    "1 250,50",
    "1773480600",
    "/Date(1709820309000+0100)/",
    "10/25/2026 01:30:00",
    "True",
    9007199254740993,
    1.5,
    True,
    None,
    {"a": "{{b}}"},
    ["x"] * 60,
]


@pytest.mark.parametrize("value", TRICKY, ids=repr)
@pytest.mark.parametrize("rule", RULES)
def test_compiled_rules_match_the_interpreter_on_tricky_values(value: object, rule: str) -> None:
    for field in FIELDS:
        body = {name: "M-1001" if name == "memberId" else "03/14/2026 09:30:00" for name in FIELDS}
        body[field] = value
        _same(body, rule)


def test_the_compiled_function_leaves_rule_only_checks_out() -> None:
    """rewards_issued: no attribute-name, element-type or number/date re-checks per body."""
    rules = compile_rules(DEFAULTS, CONTEXTS[0])
    source = rules["rewards_issued"].compiled.source  # type: ignore[union-attr]
    assert "_check_element" not in source
    assert "_name_problem" not in source
    assert "_needs_cleaning(" not in source
    assert "'reward_value'] = v" in source


_ = field_values


PLUS_TWO = timezone(timedelta(hours=2))
ZONES = [ZoneInfo("UTC"), ZoneInfo("Etc/UTC"), ZoneInfo("America/Chicago"), UTC_FIXED, PLUS_TWO]


def _full_reading(text: str, zone, order: str) -> str | None:
    moment = parse_moment(text, zone, order)  # type: ignore[arg-type]
    if moment is None or moment.empty:
        return None
    return format_datetime(moment)


@settings(max_examples=400, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    zone=st.sampled_from(ZONES),
    order=st.sampled_from(["MDY", "DMY"]),
    shape=st.sampled_from(["%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]),
)
def test_the_common_date_shapes_read_as_the_full_parser_reads_them(
    moment: datetime, zone, order: str, shape: str
) -> None:
    text = moment.strftime(shape.replace("%Y", f"{moment.year:04d}"))
    plain = plain_datetime_text(text, zone, order)  # type: ignore[arg-type]
    assert plain is None or plain == _full_reading(text, zone, order)
    utc = zone is UTC_FIXED or getattr(zone, "key", "") in ("UTC", "Etc/UTC")
    if (utc and shape[1] == ("m" if order == "MDY" else "d")) or shape.endswith("Z"):
        assert plain is not None or _full_reading(text, zone, order) is None  # the short path


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet="0123456789/:- TZ", min_size=19, max_size=20),
    zone=st.sampled_from(ZONES),
    order=st.sampled_from(["MDY", "DMY"]),
)
def test_near_misses_of_the_common_shapes_read_as_the_full_parser_reads_them(
    text: str, zone, order: str
) -> None:
    plain = plain_datetime_text(text, zone, order)  # type: ignore[arg-type]
    assert plain is None or plain == _full_reading(text, zone, order)


def _twelve_hour(moment: datetime, order: str, padded: bool) -> str:
    """.NET's general format: `3/20/2026 6:45:10 PM` (`20/3/2026` day first)."""
    hour = moment.hour % 12 or 12
    first, second = (moment.month, moment.day) if order == "MDY" else (moment.day, moment.month)
    width = "02d" if padded else "d"
    return (
        f"{first:{width}}/{second:{width}}/{moment.year:04d} {hour:{width}}:{moment.minute:02d}:"
        f"{moment.second:02d} {'PM' if moment.hour >= 12 else 'AM'}"
    )


@settings(max_examples=400, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    zone=st.sampled_from(ZONES),
    order=st.sampled_from(["MDY", "DMY"]),
    written=st.sampled_from(["MDY", "DMY"]),
    padded=st.booleans(),
)
def test_twelve_hour_dates_read_as_the_full_parser_reads_them(
    moment: datetime, zone, order: str, written: str, padded: bool
) -> None:
    text = _twelve_hour(moment, written, padded)
    plain = plain_datetime_text(text, zone, order)  # type: ignore[arg-type]
    assert plain is None or plain == _full_reading(text, zone, order)
    utc = zone is UTC_FIXED or getattr(zone, "key", "") in ("UTC", "Etc/UTC")
    if utc:
        assert plain is not None or _full_reading(text, zone, order) is None  # the short path


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet="0123456789/: APMapm", min_size=17, max_size=23),
    zone=st.sampled_from(ZONES),
    order=st.sampled_from(["MDY", "DMY"]),
)
def test_near_misses_of_twelve_hour_dates_read_as_the_full_parser_reads_them(
    text: str, zone, order: str
) -> None:
    plain = plain_datetime_text(text, zone, order)  # type: ignore[arg-type]
    assert plain is None or plain == _full_reading(text, zone, order)


def test_twelve_hour_edges_read_as_the_full_parser_reads_them() -> None:
    """Midnight and noon, hour 0 and 13 (refused with AM/PM), the first and a missing day."""
    texts = [
        "3/20/2026 12:00:00 AM", "3/20/2026 12:59:59 PM", "3/20/2026 6:45:10 PM",
        "03/20/2026 06:45:10 AM", "3/20/2026 0:45:10 PM", "3/20/2026 13:45:10 PM",
        "2/29/2025 1:00:00 AM", "2/29/2024 1:00:00 AM", "1/1/0001 12:00:00 AM",
        "12/31/9999 11:59:59 PM", "3/20/2026 6:45:10 pm", "3/20/2026 6:45:10  PM",
    ]  # fmt: skip
    for zone in ZONES:
        for order in ("MDY", "DMY"):
            for text in texts:
                plain = plain_datetime_text(text, zone, order)  # type: ignore[arg-type]
                full = _full_reading(text, zone, order)
                assert plain is None or plain == full, (text, zone, order)
    assert plain_datetime_text("3/20/2026 6:45:10 PM", UTC_FIXED, "MDY") == "2026-03-20T18:45:10Z"
    assert plain_datetime_text("3/20/2026 12:05:10 AM", UTC_FIXED, "MDY") == "2026-03-20T00:05:10Z"


def test_a_rule_whose_function_cannot_be_generated_is_interpreted(monkeypatch, caplog) -> None:
    """A shape the generator gets wrong costs speed, never a delivery: the rule falls back to the
    interpreter, with the same output, and says so in the log."""
    from mapping import codegen

    def broken(*_: object) -> None:
        raise RuntimeError("generator bug")

    monkeypatch.setattr(codegen, "compile_rule_function", broken)
    context = CONTEXTS[0]
    rules = compile_rules({**DEFAULTS, **EXTRA_RULES}, context)
    interpreted = {name: replace(rule, compiled=None) for name, rule in rules.items()}
    fallback = Mapper(rules, context, lambda: NOW)
    reference = Mapper(interpreted, context, lambda: NOW)
    body = {"memberId": "M-1001", "issuedDate": "03/14/2026 09:30:00", "rewardValue": "5,000"}
    for rule in RULES:
        assert _outcome(fallback, dict(body), rule) == _outcome(reference, dict(body), rule)
    assert "generating its function failed" in caplog.text
