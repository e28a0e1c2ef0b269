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
from tests.conftest import fixture_body
from tests.mapping.test_mapping_properties import (
    FIELDS,
    date_texts,
    field_values,
    json_scalars,
    json_values,
    kognitiv_bodies,
    member_ids,
    moengage_bodies,
    special_texts,
    texts,
)

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
    # shapes the clean-body function serves: key orders, `or`, `only`, `not`, empty attributes
    "clean_shapes": [
        {
            "attributes": {
                "sub": "{{memberSmsContactAllowed | boolean | only: false}}",
                "unsub": "{{memberSmsContactAllowed | boolean | not}}",
                "either": "{{memberEmail or memberMobile}}",
                "points": "{{memberPointsAvailable or rewardPointCost | number}}",
            },
            "type": "customer",
            "customer_id": "{{memberId | string}}",
        },
        {
            "customer_id": "{{memberId}}",
            "type": "event",
            "actions": [
                {
                    "current_time": "{{redeemedDate or issuedTimestamp | datetime}}",
                    "attributes": {},
                    "action": "first",
                },
                {"action": "second", "attributes": {"d": "{{issuedTimestamp | datetime}}"}},
            ],
        },
        {"type": "customer", "attributes": {}, "customer_id": "{{memberId}}"},
        {"type": "customer", "customer_id": "{{memberId}}"},
    ],
    "padded_default_id": {
        "type": "customer",
        "customer_id": '{{cardId | default: " M-1 "}}',
        "attributes": {"raw": "{{rewardName}}"},
    },
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
    reference = Mapper(interpreted, context, lambda: NOW)
    reference.passthrough = None  # MoEngage-shaped bodies: the interpreted path too
    return Mapper(rules, context, lambda: NOW), reference


MAPPERS = [_mappers(context) for context in CONTEXTS]
RULES = sorted({*DEFAULTS, *EXTRA_RULES} - {"$comment"})


def _outcome(mapper: Mapper, body: dict, rule: str | None) -> object:
    try:
        result = mapper.map(body, rule, identify=True)
    except MappingError as error:
        return ("error", error.code, str(error))
    # json.dumps keeps key order: the bytes MoEngage would receive
    return (
        result.event,
        result.rule,
        json.dumps(result.elements),
        result.warnings,
        result.idempotency_key,
    )


def _same(body: dict, rule: str | None) -> None:
    for compiled, interpreted in MAPPERS:
        before = json.dumps(body, default=repr)
        assert _outcome(compiled, body, rule) == _outcome(interpreted, body, rule)
        assert json.dumps(body, default=repr) == before  # the body is not changed in place


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


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("field", ["rewardType", "rewardName"])
def test_an_event_identity_read_from_a_value_with_no_text_is_no_identity(
    field: str, value: float
) -> None:
    """A body read by something other than the webhook's reader (which refuses NaN and
    Infinity) can hold them: the rule's "id" then has no value, as with a field missing, and
    the body maps as it does without the id (never a ConversionError)."""
    body = {**fixture_body("rewards_redeemed"), field: value}
    for compiled, interpreted in MAPPERS:
        for mapper in (compiled, interpreted):
            result = mapper.map(body, "rewards_redeemed", identify=True)
            assert result.idempotency_key is None
            assert result.elements == mapper.map(body, "rewards_redeemed").elements
        _same(body, "rewards_redeemed")


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_a_member_id_with_no_text_refuses_the_body_even_when_an_identity_is_asked(
    value: float,
) -> None:
    body = {**fixture_body("rewards_redeemed"), "memberId": value}
    for compiled, interpreted in MAPPERS:
        for mapper in (compiled, interpreted):
            with pytest.raises(MappingError) as refused:
                mapper.map(body, "rewards_redeemed", identify=True)
            assert refused.value.code == "missing_customer_id"


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
    " off ",
    "Y",
    "9007199254740993",
    "-9007199254740991",
    "12345678901234567890.5",
    ".5",
    "5.",
    "+5",
    "١٢",
    "1" * 101,
    "a1",
    " M-1 ",
    "NULL",
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


# ---------- the clean-body function (mapping/codegen_clean.py) ----------------------------

# Realistic bodies as KLS renders them (every field clean), then a few fields changed to values
# one test away from clean: each must reach the full function and give the interpreter's result.
NEAR_CLEAN = [
    " padded ", "\tTrue", "", "   ", None, 7, 2.5, True, {"a": 1}, ["x"], "{{memberEmail}}",
    "x{{y}}", "a" * 50, "b" * 51, "c" * 600, "TRUE", "false", " yes ", "Y", "off", "maybe",
    "0", "1", "NULL", "Unknown", "x", "\u212aelvin", "1000", "10.00", "5,000", "1.250,50", "1e3",
    "+5", "-5", ".5", "5.", "0005", "١٢", "123456789012345", "1234567890123456",
    "9007199254740993", "1" * 20, "03/14/2026 09:30:00", "3/14/2026 9:30:00 PM",
    "12/31/2099 23:59:59", "05/28/2026 20:27:10", "05/28/2026 20:27:11",
    "2026-05-28T20:27:10Z", "2026-05-28T20:27:11Z", "02/30/2026 10:00:00", "03/14/2026",
    "2026-03-14T09:30:00+02:00", "1/1/0001 12:00:00 AM", "0001-01-01T00:00:00Z", "/Date(0)/",
    "1773480600", "03/08/2026 02:30:00", "not a date",
]  # fmt: skip
CLEAN_KINDS = ("rewards_issued", "rewards_redeemed", "member_updated", "member_enrolled")


def _clean_body(kind: str, seed: int) -> dict:
    from benchmarks.bodies import BodyFactory

    return json.loads(BodyFactory(seed=seed, now=NOW).make(kind).raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(CLEAN_KINDS),
    seed=st.integers(0, 50),
    changes=st.lists(
        st.tuples(st.sampled_from(FIELDS), st.one_of(st.sampled_from(NEAR_CLEAN), st.just(...))),
        max_size=3,
    ),
    rule=st.sampled_from(RULES),
)
def test_bodies_one_test_away_from_clean_match_the_interpreter(
    kind: str, seed: int, changes: list, rule: str
) -> None:
    body = _clean_body(kind, seed)
    for field, value in changes:
        if value is ...:
            body.pop(field, None)  # absent
        else:
            body[field] = value
    _same(body, rule)


@pytest.mark.parametrize("value", NEAR_CLEAN, ids=repr)
@pytest.mark.parametrize("kind", CLEAN_KINDS)
def test_each_near_clean_value_in_each_field_matches_the_interpreter(value: object, kind: str):
    for field in FIELDS:
        body = _clean_body(kind, 1)
        body[field] = value
        _same(body, kind)
        body[field] = f" {value} " if isinstance(value, str) else value
        _same(body, kind)


@pytest.mark.parametrize("kind", CLEAN_KINDS)
def test_clean_bodies_take_the_clean_body_function(kind: str, monkeypatch) -> None:
    """The benchmark's bodies never reach the full function; a member id MoEngage refuses
    does, once (its error is the full function's). The bodies are written for UTC, MDY and
    `1,234.56` (the first context)."""
    for compiled, interpreted in MAPPERS[:1]:
        rule = compiled.rules[kind].compiled
        assert rule is not None
        assert "def _full(" in rule.source  # generated, with both functions
        run = rule.run
        full = run.__globals__["_full"]
        calls = []

        def counted(*arguments: object, full=full, calls=calls) -> object:
            calls.append(1)
            return full(*arguments)

        monkeypatch.setitem(run.__globals__, "_full", counted)
        for seed in range(20):
            body = _clean_body(kind, seed)
            assert _outcome(compiled, body, kind) == _outcome(interpreted, body, kind)
        assert calls == []
        body["memberId"] = " x "
        assert _outcome(compiled, body, kind) == _outcome(interpreted, body, kind)
        assert calls == [1]


def test_the_future_limit_is_worked_out_again_for_an_earlier_clock() -> None:
    """The remembered limit serves later clocks only: an earlier clock (a test's, a host's clock
    set back) makes a time that was past a future one again."""
    context = CONTEXTS[0]
    rules = compile_rules(DEFAULTS, context)
    body = _clean_body("rewards_issued", 3)
    body["issuedDate"] = "05/28/2026 20:00:00"  # NOW is 2026-05-28T20:26:40Z
    late = Mapper(rules, context, lambda: NOW)
    assert late.map(body, "rewards_issued").warnings == []
    early = Mapper(rules, context, lambda: NOW - 3600)
    result = early.map(body, "rewards_issued")
    assert "current_time" not in result.elements[0]["actions"][0]
    assert result.warnings == [
        "element 0.actions[0].current_time is in the future (check KOGNITIV_TIMEZONE); "
        "MoEngage rejects future events, so the time of receipt is used"
    ]
    assert late.map(body, "rewards_issued").warnings == []


# ---------- the passthrough rule (MoEngage-shaped bodies, mapping/passthrough_compiled.py) ----

GUIDE_BODY = {
    "type": "event",
    "customer_id": "M-1001",
    "actions": [
        {
            "action": "rewards_issued",
            "attributes": {
                "time": "03/14/2026 09:30:00",
                "issued_date": "03/14/2026 09:30:00",
                "issued_location_name": "Downtown Flagship",
                "reward_type": "Choice",
            },
        }
    ],
}
action_names = st.one_of(
    st.just("rewards_issued"), st.sampled_from(["", "  ", "{{action}}", "x" * 201]), texts
)
attribute_names = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["id", "_id", "moe_x", "moe_unsubscribe", "email", "time", "", " id "]),
)
attribute_values = st.one_of(
    json_scalars,
    date_texts,
    special_texts,
    st.lists(st.one_of(json_scalars, date_texts), max_size=60),
    st.dictionaries(st.text(max_size=5), st.one_of(json_scalars, date_texts), max_size=3),
)
attribute_objects = st.dictionaries(attribute_names, attribute_values, max_size=8)


@st.composite
def passthrough_actions(draw: st.DrawFn) -> object:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.one_of(st.none(), st.text(max_size=3), st.lists(st.integers(), max_size=2)))
    action: dict = {"action": draw(action_names)}
    for key, values in (
        ("attributes", st.one_of(attribute_objects, st.none(), st.sampled_from([[], "x", 0]))),
        ("current_time", st.one_of(date_texts, texts, st.integers(), st.none())),
        ("user_time", st.one_of(date_texts, texts, st.none())),
        ("platform", st.sampled_from(["web", " iOS ", "fridge", "{{platform}}", None, 3])),
        ("app_version", st.one_of(st.sampled_from(["1.2", "{{v}}"]), st.floats(), st.none())),
        ("user_timezone_offset", st.one_of(st.integers(-60000, 60000), st.text(max_size=4))),
        ("extra", json_values),
    ):
        if draw(st.integers(0, 3)) == 0 or (key == "attributes" and draw(st.booleans())):
            action[key] = draw(values)
    return dict(draw(st.permutations(list(action.items()))))


@st.composite
def passthrough_elements(draw: st.DrawFn, top: bool) -> object:
    if not top and draw(st.integers(0, 20)) == 0:
        return draw(st.one_of(st.none(), st.text(max_size=3)))
    kinds = ["event", "customer", " Event ", "CUSTOMER", "device", "delete", "transition", 3, None]
    element: dict = {"type": draw(st.sampled_from(kinds))}
    element["customer_id"] = draw(st.one_of(member_ids, st.just("M-1001")))
    if draw(st.booleans()):
        element["actions"] = draw(
            st.one_of(st.lists(passthrough_actions(), max_size=3), st.none(), st.just("x"))
        )
    if draw(st.booleans()):
        element["attributes"] = draw(st.one_of(attribute_objects, st.none(), st.just([1])))
    if draw(st.integers(0, 3)) == 0:
        element["update_existing_only"] = draw(st.sampled_from([True, "true", " False ", "x"]))
    if draw(st.integers(0, 5)) == 0:
        element["device_id"] = draw(st.sampled_from(["dev-1", " ", None]))
    if draw(st.integers(0, 5)) == 0:
        element["extra"] = draw(json_values)
    element = dict(draw(st.permutations(list(element.items()))))
    if top and draw(st.integers(0, 4)) == 0:
        element["type"] = draw(st.sampled_from(["transition", " TRANSITION"]))
        element["elements"] = draw(
            st.one_of(st.lists(passthrough_elements(top=False), max_size=3), st.just("x"))
        )
    return element


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=passthrough_elements(top=True))
def test_the_compiled_passthrough_matches_the_interpreter(body: dict) -> None:
    _same(body, None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=moengage_bodies())
def test_the_compiled_passthrough_matches_the_interpreter_on_moengage_bodies(body: dict) -> None:
    _same(body, None)


PASSTHROUGH_TRICKY = [
    *TRICKY,
    "03/14/2026",
    "2026-03-14",
    "0001-01-01T00:00:00Z",
    " 03/14/2026 09:30:00",
    "2026-03-14T09:30:00Z",
    "3/20/2026 6:45:10 PM",
    "{{memberEmail}} and more",
    "08/03/2026 02:30:00",  # in Chicago, day first: inside the spring-forward gap (a note)
    "01/11/2026 01:30:00",  # ... and the hour that occurs twice
    "trailing ",
    "x" * 512,
    -(2**60),
    [" a ", "{{b}}", None, "03/14/2026 09:30:00"],
    {"deep": {"deeper": "03/14/2026 09:30:00", "gone": None}},
]


@pytest.mark.parametrize("value", PASSTHROUGH_TRICKY, ids=repr)
def test_the_compiled_passthrough_matches_the_interpreter_on_tricky_values(value: object) -> None:
    places = [
        ("customer_id",),
        ("actions", 0, "action"),
        ("actions", 0, "current_time"),
        ("actions", 0, "user_time"),
        ("actions", 0, "attributes", "time"),
        ("actions", 0, "attributes", "issued_location_name"),
        ("actions", 0, "attributes", "moe_unsubscribe"),
        ("actions", 0, "attributes", "id"),
    ]
    for place in places:
        for kind in ("event", "customer"):
            body = json.loads(json.dumps(GUIDE_BODY))
            if kind == "customer":
                body = {"type": "customer", "customer_id": "M-1001", "attributes": {"a": "b"}}
                if place[0] == "actions":
                    place = ("attributes", place[-1])
            target = body
            for key in place[:-1]:
                target = target[key]
            target[place[-1]] = value
            _same(body, None)
            _same({"type": "transition", "elements": [body, json.loads(json.dumps(body))]}, None)


GAP_DATES = ["03/08/2026 02:30:00", "08/03/2026 02:30:00"]  # a note in Chicago, either order


def _guide_with(attributes: dict, kind: str = "event") -> dict:
    if kind == "customer":
        return {"type": "customer", "customer_id": "M-1001", "attributes": attributes}
    action = {"action": "x", "attributes": attributes}
    return {"type": "event", "customer_id": "M-1001", "actions": [action]}


STRUCTURES = [
    # notes (dates) and the checks' warnings (padding, blocked names) in one body
    _guide_with({"a": GAP_DATES[0], "b": " padded", "id": "x", "c": GAP_DATES[1], "d": "{{e}}"}),
    _guide_with({"a": GAP_DATES[0], "id": "x", "c": GAP_DATES[1]}, "customer"),
    # one date twice: each occurrence gives its own note
    _guide_with({"a": GAP_DATES[0], "b": GAP_DATES[0], "c": GAP_DATES[1], "d": GAP_DATES[1]}),
    _guide_with({"a": "03/14/2026 09:30:00", "b": "03/14/2026 09:30:00", "c": " 03/14/2026"}),
    # a customer's actions: their dates are normalised too
    {
        "type": "customer",
        "customer_id": "M-1001",
        "actions": [{"action": "x", "attributes": {"t": "03/14/2026 09:30:00", "g": GAP_DATES}}],
        "attributes": {"t": GAP_DATES[1]},
    },
    # an event's own attributes (normalised, not cleaned) before its actions' notes
    {
        "attributes": {"a": GAP_DATES[1], "b": " x ", "id": 1},
        "type": "event",
        "customer_id": "M-1001",
        "actions": [{"action": "x", "attributes": {"a": GAP_DATES[0], "p": "y "}}],
    },
    # text fields whose warnings come before the attributes' ones
    {
        "type": "event",
        "customer_id": "M-1001",
        "actions": [
            {
                "attributes": {"a": GAP_DATES[0], "id": 2, "p": " y"},
                "action": "x",
                "platform": "{{platform}}",
                "app_version": "{{v}}",
                "current_time": GAP_DATES[1],
                "user_time": GAP_DATES[0],
            },
            {"action": "y", "platform": " web ", "attributes": {"q": "z "}},
        ],
    },
]


@pytest.mark.parametrize("body", STRUCTURES)
def test_the_compiled_passthrough_matches_the_interpreter_on_structures(body: dict) -> None:
    _same(body, None)
    _same({"type": "transition", "elements": [body, _guide_with({"a": GAP_DATES[1]})]}, None)


def test_the_compiled_passthrough_keeps_the_attribute_limit() -> None:
    """More than MoEngage's 100 attributes per event: the rest are left out (dates in them still
    give their notes), with one warning, as the interpreter does."""
    attributes = {f"a{i}": GAP_DATES[i % 2] if i % 7 else f"v{i} " for i in range(130)}
    attributes["id"] = "blocked"
    action = {"action": "x", "attributes": attributes}
    body = {"type": "event", "customer_id": "M-1001", "actions": [action]}
    _same(body, None)


def test_the_guide_body_takes_the_compiled_passthrough() -> None:
    """The common MoEngage-shaped bodies do not step aside to the interpreter."""
    customer = {"type": "customer", "customer_id": "M-1001", "attributes": {"city": "Oslo"}}
    for compiled, interpreted in MAPPERS:
        assert compiled.passthrough is not None
        for body in (GUIDE_BODY, customer):
            done = compiled.passthrough.run(json.loads(json.dumps(body)), NOW)
            assert done is not None
            expected = interpreted.map(json.loads(json.dumps(body)))
            assert (json.dumps(done[0]), done[1]) == (json.dumps(expected.elements), [])
    compiled, _ = MAPPERS[0]  # UTC, month first
    elements, _ = compiled.passthrough.run(json.loads(json.dumps(GUIDE_BODY)), NOW)  # type: ignore[union-attr,misc]
    assert elements[0]["actions"][0]["attributes"] == {
        "time": "2026-03-14T09:30:00Z",
        "issued_date": "2026-03-14T09:30:00Z",
        "issued_location_name": "Downtown Flagship",
        "reward_type": "Choice",
    }
