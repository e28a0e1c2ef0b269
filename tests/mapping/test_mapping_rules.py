"""mapping.template and mapping.rules: the `{{placeholder}}` language and rule compilation.

Templates are rendered directly (no policy) unless a test is about what reaches MoEngage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from mapping import (
    ConversionContext,
    Mapper,
    MappingError,
    Rule,
    RuleError,
    compile_rules,
    compile_rules_collecting,
    merge_documents,
)
from mapping.rules import compile_rule, is_comment_key
from mapping.template import (
    MISSING,
    Placeholder,
    RenderState,
    compile_template,
    parse_placeholder,
)

CTX = ConversionContext(ZoneInfo("UTC"), "MDY")
CHICAGO = ConversionContext(ZoneInfo("America/Chicago"), "MDY")
NOW = datetime(2026, 4, 1, tzinfo=UTC).timestamp()


def render(template: object, body: dict, context: ConversionContext = CTX):
    """Compile and render one template; returns (value, warnings)."""
    placeholders: list[Placeholder] = []
    node = compile_template(template, context, "t", placeholders)
    state = RenderState(body=body, context=context, rule="test_rule")
    return node(state), state.warnings


def attrs(template: dict, body: dict, context: ConversionContext = CTX) -> dict:
    """Render an attributes object that always keeps a literal key, so drops are visible."""
    value, _ = render({"fixed": "x", **template}, body, context)
    assert value["fixed"] == "x"
    del value["fixed"]
    return value


def event_rule(attributes: dict, customer_id: str = "{{memberId | required}}") -> dict:
    return {
        "type": "event",
        "customer_id": customer_id,
        "actions": [{"action": "custom", "attributes": attributes}],
    }


def mapper(document: dict, context: ConversionContext = CTX) -> Mapper:
    return Mapper(compile_rules(document, context), context, lambda: NOW)


# --- whole placeholder vs interpolation ------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "body", "expected"),
    [
        ("{{v | number}}", {"v": "1000"}, 1000),
        ("{{v | number}}", {"v": "10.00"}, 10.0),
        ("{{v | integer}}", {"v": "10.0"}, 10),
        ("{{v | boolean}}", {"v": "True"}, True),
        ("{{v | boolean}}", {"v": "False"}, False),
        ("{{v | string}}", {"v": 1250}, "1250"),
        ("{{v | datetime}}", {"v": "03/14/2026 09:30:00"}, "2026-03-14T09:30:00Z"),
        ("{{v | date}}", {"v": "03/14/2026 09:30:00"}, "2026-03-14"),
        ("{{v}}", {"v": "1000"}, "1000"),  # no filter: the body value as it is
        ("{{v}}", {"v": 1000}, 1000),
        ("{{v}}", {"v": False}, False),
        ("{{v}}", {"v": [1, 2]}, [1, 2]),
        ("{{v}}", {"v": {"a": 1}}, {"a": 1}),
        ("  {{ v | number }}  ", {"v": "7"}, 7),
        ("{{v|number}}", {"v": "7"}, 7),
    ],
)
def test_whole_placeholder_keeps_converted_type(template: str, body: dict, expected) -> None:
    value, warnings = render(template, body)
    assert (type(value), value) == (type(expected), expected)
    assert warnings == []


@pytest.mark.parametrize(
    ("template", "body", "expected"),
    [
        ("Reward: {{name}}", {"name": "Voucher"}, "Reward: Voucher"),
        ("{{cost | number}} pts", {"cost": "1000"}, "1000 pts"),
        ("value {{v | number}}", {"v": "10.00"}, "value 10"),
        ("{{first}} {{last}}", {"first": "Jordan", "last": "Lee"}, "Jordan Lee"),
        ("{{a}}{{b}}", {"a": "x", "b": "y"}, "xy"),
        ("ok={{flag | boolean}}", {"flag": "True"}, "ok=true"),
        ("at {{d | datetime}}", {"d": "3/20/2026 6:45:10 PM"}, "at 2026-03-20T18:45:10Z"),
        ("n={{n}}", {"n": 5}, "n=5"),
        ("l={{l}}", {"l": [1, "a"]}, 'l=[1,"a"]'),
        ("}} literal", {}, "}} literal"),
        ("no placeholders", {}, "no placeholders"),
    ],
)
def test_interpolation_renders_text(template: str, body: dict, expected: str) -> None:
    value, _ = render(template, body)
    assert value == expected


def test_literal_non_string_template_values_pass_unchanged() -> None:
    value, _ = render({"n": 5, "f": 1.5, "b": True, "s": "text", "l": [1, "a"]}, {})
    assert value == {"n": 5, "f": 1.5, "b": True, "s": "text", "l": [1, "a"]}


def test_null_in_template_drops_the_key() -> None:
    assert attrs({"gone": None}, {}) == {}


# --- missing values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [{}, {"v": None}, {"v": ""}, {"v": "   "}, {"v": "\t\n"}, {"other": "1"}],
)
@pytest.mark.parametrize(
    "template", ["{{v}}", "{{v | string}}", "{{v | number}}", "{{v | datetime}}", "x {{v}} y"]
)
def test_missing_optional_placeholder_drops_the_key(template: str, body: dict) -> None:
    assert attrs({"k": template}, body) == {}


def test_missing_values_drop_whole_objects_and_list_items() -> None:
    value, _ = render({"a": {"b": "{{v}}"}, "keep": 1}, {})
    assert value == {"keep": 1}
    value, _ = render(["{{v}}", "lit", "{{w}}"], {"w": "W"})
    assert value == ["lit", "W"]
    value, _ = render({"only": "{{v}}"}, {})
    assert value is MISSING
    value, _ = render(["{{v}}"], {})
    assert value is MISSING
    # empty literal containers stay (they were written that way)
    value, _ = render({"e": {}, "l": []}, {})
    assert value == {"e": {}, "l": []}


def test_missing_optional_never_leaves_empty_null_or_literal_placeholder_through_mapper() -> None:
    m = mapper({"custom": event_rule({"a": "{{a}}", "b": "{{b | number}}", "c": "pre {{c}}"})})
    result = m.map({"memberId": "M-1", "a": "", "b": None, "c": "  "}, "custom")
    action = result.elements[0]["actions"][0]
    assert "attributes" not in action
    assert action == {"action": "custom"}
    assert result.warnings == []


# --- fallbacks and paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"a": "A", "b": "B", "c": "C"}, "A"),
        ({"b": "B", "c": "C"}, "B"),
        ({"a": "", "b": "B"}, "B"),
        ({"a": None, "b": " ", "c": "C"}, "C"),
        ({"a": 0, "b": "B"}, 0),  # 0 and False are present values
        ({"a": False, "b": "B"}, False),
    ],
)
def test_or_fallback_takes_first_present(body: dict, expected) -> None:
    value, _ = render("{{a or b or c}}", body)
    assert (type(value), value) == (type(expected), expected)


def test_or_fallback_all_missing_drops_the_key() -> None:
    assert attrs({"k": "{{a or b}}"}, {"a": "", "b": None}) == {}


def test_or_fallback_with_converter_converts_the_chosen_value() -> None:
    value, _ = render(
        "{{issuedTimestamp or issuedDate | datetime}}",
        {"issuedTimestamp": "", "issuedDate": "03/14/2026 09:30:00"},
    )
    assert value == "2026-03-14T09:30:00Z"


def test_or_takes_the_first_value_that_converts() -> None:
    value, warnings = render({"k": "{{a or b | number}}", "z": 1}, {"a": "abc", "b": "5"})
    assert value == {"k": 5, "z": 1}
    assert warnings == []


def test_or_with_no_value_that_converts_is_dropped_with_one_warning() -> None:
    value, warnings = render({"k": "{{a or b | number}}", "z": 1}, {"a": "abc", "b": "x"})
    assert value == {"z": 1}
    assert warnings == [
        'field a or b is not a valid number (rule "test_rule", output "k"): '
        "expected a number such as 1250 or 1,250.50; the value was left out"
    ]


BODY = {
    "member": {"id": "M-7", "address": {"city": "Chicago"}, "tags": ["gold", "vip"]},
    "items": [{"sku": "A1", "qty": "2"}, {"sku": "B2", "qty": "3"}],
    "matrix": [[1, 2], [3, 4]],
    "$meta": {"@type": "x"},
    "dash-key": "d",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{member.id}}", "M-7"),
        ("{{member.address.city}}", "Chicago"),
        ("{{member.tags.1}}", "vip"),
        ("{{items.0.sku}}", "A1"),
        ("{{items.1.qty | number}}", 3),
        ("{{matrix.1.0}}", 3),
        ("{{$meta.@type}}", "x"),
        ("{{dash-key}}", "d"),
        ("{{member.address}}", {"city": "Chicago"}),
        ("{{member.address | string}}", '{"city":"Chicago"}'),
        ("{{items.5.sku or member.id}}", "M-7"),
    ],
)
def test_dotted_paths_and_list_indexes(template: str, expected) -> None:
    value, _ = render(template, BODY)
    assert value == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{items.2.sku}}",
        "{{items.sku}}",
        "{{items.-1.sku}}",
        "{{member.id.x}}",
        "{{member.tags.5}}",
        "{{nothing.at.all}}",
        "{{dash-key.0}}",
    ],
)
def test_paths_that_lead_nowhere_are_missing(template: str) -> None:
    assert attrs({"k": template}, BODY) == {}


# --- default -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ('{{channel | default: "web"}}', "web"),
        ("{{channel | default: web}}", "web"),
        ("{{channel | default=web}}", "web"),
        ("{{n | default: 0}}", 0),
        ("{{n | default: 2.5}}", 2.5),
        ("{{n | default: true}}", True),
        ('{{n | number | default: "1,250"}}', 1250),
        ('{{n | default: "10" | number}}', 10),
        ("{{n | string | default: 5}}", "5"),
        ('{{n | boolean | default: "no"}}', False),
        ('{{d | datetime | default: "03/14/2026"}}', "2026-03-14T00:00:00Z"),
        ('{{d | date | default: "03/14/2026 09:30:00"}}', "2026-03-14"),
        ("{{n | required | default: 3}}", 3),
    ],
)
def test_default_is_typed_and_used_only_when_missing(template: str, expected) -> None:
    value, _ = render(template, {"n": ""})
    assert (type(value), value) == (type(expected), expected)


def test_default_not_used_when_value_present() -> None:
    value, _ = render("{{n | number | default: 0}}", {"n": "12"})
    assert value == 12


def test_default_date_uses_the_compile_context_zone() -> None:
    value, _ = render('{{d | datetime | default: "03/14/2026 09:30:00"}}', {}, CHICAGO)
    assert value == "2026-03-14T14:30:00Z"


# --- required ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"memberId": None}, {"memberId": ""}, {"memberId": "  "}])
def test_required_missing_raises_missing_field(body: dict) -> None:
    with pytest.raises(MappingError) as caught:
        render({"customer_id": "{{memberId | required}}"}, body)
    assert caught.value.code == "missing_field"
    assert "memberId" in caught.value.message
    assert "test_rule" in caught.value.message
    assert "customer_id" in caught.value.message
    assert isinstance(caught.value, ValueError)


def test_required_inside_interpolation_raises() -> None:
    with pytest.raises(MappingError) as caught:
        render("id-{{memberId | required}}", {})
    assert caught.value.code == "missing_field"


def test_required_with_fallbacks_names_all_sources() -> None:
    with pytest.raises(MappingError) as caught:
        render("{{a or b | required}}", {})
    assert caught.value.code == "missing_field"
    assert "a or b" in caught.value.message


def test_required_value_failing_conversion_raises_invalid_field() -> None:
    with pytest.raises(MappingError) as caught:
        render({"points": "{{p | number | required}}"}, {"p": "lots"})
    assert caught.value.code == "invalid_field"
    assert "lots" not in caught.value.message  # member data is never quoted
    assert "p" in caught.value.message


def test_optional_filter_overrides_required() -> None:
    assert attrs({"k": "{{v | required | optional}}"}, {}) == {}


def test_optional_failed_conversion_drops_key_with_warning() -> None:
    value, warnings = render(
        {"ok": "{{a | number}}", "bad": "{{b | number}}", "when": "{{c | datetime}}"},
        {"a": "1", "b": "ten", "c": "tomorrow"},
    )
    assert value == {"ok": 1}
    assert len(warnings) == 2
    assert "field b is not a valid number" in warnings[0]
    assert 'output "bad"' in warnings[0]
    assert warnings[0].endswith("the value was left out")
    assert "field c is not a valid datetime" in warnings[1]
    assert "ten" not in warnings[0]
    assert "tomorrow" not in warnings[1]


def test_optional_failed_conversion_in_interpolation_drops_key() -> None:
    value, warnings = render({"k": "cost {{b | number}}", "z": 0}, {"b": "ten"})
    assert value == {"z": 0}
    assert len(warnings) == 1


# --- body values are data ------------------------------------------------------------------


@pytest.mark.parametrize(
    "template", ["{{name}}", "{{name | string}}", "Hi {{name}}", "{{name or other}}"]
)
def test_body_values_with_placeholders_are_never_rendered_and_never_sent(template: str) -> None:
    body = {"name": "{{memberEmail}}", "memberEmail": "secret@example.com"}
    value, warnings = render({"k": template, "z": 0}, body)
    assert value == {"z": 0}
    assert len(warnings) == 1
    assert "unrendered Kognitiv placeholder" in warnings[0]
    assert "secret@example.com" not in warnings[0]


def test_or_skips_an_unrendered_value_for_the_next_field() -> None:
    value, warnings = render({"k": "{{name or other}}"}, {"name": "{{x}}", "other": "Ana"})
    assert value == {"k": "Ana"}
    assert warnings == [
        "field name holds an unrendered Kognitiv placeholder (a field unknown to Kognitiv) "
        '(rule "test_rule", output "k"); the value was left out'
    ]


def test_body_values_with_placeholders_are_dropped_through_mapper() -> None:
    m = mapper({"custom": event_rule({"note": "{{note | string}}", "keep": "{{k}}"})})
    result = m.map(
        {"memberId": "M-1", "note": "{{memberEmail}} {{memberId | required}}", "k": "x"},
        "custom",
    )
    assert result.elements[0]["actions"][0]["attributes"] == {"keep": "x"}
    assert len(result.warnings) == 1


# --- placeholder parsing errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("v | upper", "unknown filter 'upper'"),
        ("v | Number", "unknown filter 'Number'"),
        ("v | date-time", "cannot read filter"),
        ("v | ", "cannot read filter"),
        ("v | default", "default needs a value"),
        ("v | default:", "default needs a value"),
        ("v | default:   ", "default needs a value"),
        ('v | number | default: "abc"', "default"),
        ("v | boolean | default: maybe", "default"),
        ("member id", "not a field name or dotted path"),
        ("", "not a field name or dotted path"),
        ("a..b", "not a field name or dotted path"),
        (".a", "not a field name or dotted path"),
        ("a.", "not a field name or dotted path"),
        ("a or", "not a field name or dotted path"),
        ("a or or b", "not a field name or dotted path"),
        ("a[0]", "not a field name or dotted path"),
        ("a/b", "not a field name or dotted path"),
    ],
)
def test_parse_placeholder_errors(expression: str, fragment: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_placeholder(expression, CTX)
    assert fragment in str(caught.value)


def test_parse_placeholder_fields() -> None:
    placeholder = parse_placeholder(" a or b.c | number | required ", CTX)
    assert placeholder.sources == ("a", "b.c")
    assert placeholder.paths == (("a",), ("b", "c"))
    assert placeholder.converter_name == "number"
    assert placeholder.required is True
    assert placeholder.default is MISSING


@pytest.mark.parametrize(
    "template", ["{{a", "x {{a}} {{b", "{{a}} }} {{", "{{}}", "{{ }}", "pre {{}} post"]
)
def test_unbalanced_or_empty_templates_are_rule_errors(template: str) -> None:
    with pytest.raises(RuleError):
        compile_template(template, CTX, "t", [])


def test_compile_template_collects_placeholders() -> None:
    found: list[Placeholder] = []
    compile_template({"a": "{{x}}", "b": ["{{y | number}} and {{z}}"]}, CTX, "t", found)
    assert [p.sources for p in found] == [("x",), ("y",), ("z",)]


# --- rule shapes ---------------------------------------------------------------------------

ELEMENT = {
    "type": "event",
    "customer_id": "{{memberId | required}}",
    "actions": [{"action": "shape_test", "attributes": {"n": "{{n | number}}"}}],
}
EXPECTED = [
    {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "shape_test", "attributes": {"n": 5}}],
    }
]


@pytest.mark.parametrize(
    "raw",
    [
        {"description": "full form", "elements": [ELEMENT]},
        [ELEMENT],
        ELEMENT,
    ],
    ids=["object", "bare-list", "single-element"],
)
def test_three_rule_shapes_render_the_same(raw) -> None:
    rule = compile_rule("shape_test", raw, CTX)
    assert isinstance(rule, Rule)
    assert rule.name == "shape_test"
    state = RenderState(body={"memberId": "M-1", "n": "5"}, context=CTX, rule=rule.name)
    assert rule.elements(state) == EXPECTED
    assert [p.sources for p in rule.placeholders] == [("memberId",), ("n",)]
    m = Mapper({"shape_test": rule}, CTX, lambda: NOW)
    assert m.map({"memberId": "M-1", "n": "5"}, "shape_test").elements == EXPECTED


def test_description_and_idempotency_key() -> None:
    rule = compile_rule(
        "keyed", {"description": "d", "id": "{{rewardId}}-{{memberId}}", "elements": [ELEMENT]}, CTX
    )
    assert rule.description == "d"
    assert rule.idempotency_key is not None
    m = Mapper({"keyed": rule}, CTX, lambda: NOW)
    assert m.map({"memberId": "M-1", "rewardId": "R9"}, "keyed").idempotency_key == "R9-M-1"
    assert m.map({"memberId": "M-1"}, "keyed").idempotency_key is None
    typed = Mapper(
        {"k": compile_rule("k", {"id": "{{n | number}}", "elements": [ELEMENT]}, CTX)},
        CTX,
        lambda: NOW,
    )
    assert typed.map({"memberId": "M-1", "n": "42"}, "k").idempotency_key == "42"
    assert compile_rule("plain", [ELEMENT], CTX).idempotency_key is None


def test_customer_element_rule() -> None:
    rule = compile_rule(
        "c",
        {
            "type": "customer",
            "customer_id": "{{memberId | required}}",
            "update_existing_only": True,
            "attributes": {"points": "{{p | number}}"},
        },
        CTX,
    )
    state = RenderState(body={"memberId": "M-1", "p": "1,250"}, context=CTX, rule="c")
    assert rule.elements(state) == [
        {
            "type": "customer",
            "customer_id": "M-1",
            "update_existing_only": True,
            "attributes": {"points": 1250},
        }
    ]


# --- rule errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"elements": [event_rule({"a": "{{a | upper}}"})]}, "unknown filter 'upper'"),
        ({"elements": [event_rule({"a": "{{a b}}"})]}, "not a field name or dotted path"),
        ({"elements": [event_rule({"a": "{{a"})]}, "unbalanced"),
        (
            {"elements": [{**ELEMENT, "type": "Event"}]},
            '"type" must be one of "event", "customer", "delete", "merge"',
        ),
        (
            {"elements": [{**ELEMENT, "type": "device"}]},
            '"type" must be one of "event", "customer", "delete", "merge"',
        ),
        ({"elements": [{"customer_id": "x", "actions": []}]}, '"type" must be'),
        ({"elements": [{"type": "event", "actions": ELEMENT["actions"]}]}, '"customer_id"'),
        ({"elements": [{**ELEMENT, "customer_id": 5}]}, '"customer_id" is required'),
        ({"elements": [{"type": "customer", "attributes": {}}]}, '"customer_id" is required'),
        ({"elements": [event_rule({"id": "{{x}}"})]}, "'id' is blocked"),
        ({"elements": [event_rule({"_id": "{{x}}"})]}, "'_id' is blocked"),
        ({"elements": [event_rule({"": "{{x}}"})]}, "'' is blocked"),
        ({"elements": [event_rule({"moe_x": "{{x}}"})]}, "reserved prefix 'moe_'"),
        ({"elements": [event_rule({"MOE_X": "{{x}}"})]}, "reserved prefix 'moe_'"),
        ({"elements": [event_rule({"a" * 201: "{{x}}"})]}, "longer than 200"),
        (
            {"elements": [{"type": "customer", "customer_id": "x", "attributes": {"id": "1"}}]},
            "'id' is blocked",
        ),
        ({"elements": [ELEMENT], "extra": 1}, "unknown key(s) ['extra']"),
        ({"description": "no elements"}, '"elements" must be a non-empty list'),
        ({"elements": []}, '"elements" must be a non-empty list'),
        ({"elements": ELEMENT}, '"elements" must be a non-empty list'),
        ([], '"elements" must be a non-empty list'),
        ({"elements": [{**ELEMENT, "platform": "web"}]}, "unknown key(s) ['platform']"),
        (
            {"elements": [{"type": "customer", "customer_id": "x", "actions": []}]},
            "unknown key(s) ['actions'] for a customer element",
        ),
        ({"elements": [{**ELEMENT, "actions": []}]}, 'non-empty "actions" list'),
        ({"elements": [{**ELEMENT, "actions": {"action": "a"}}]}, 'non-empty "actions" list'),
        ({"elements": [{**ELEMENT, "actions": [{"attributes": {}}]}]}, 'needs an "action" name'),
        ({"elements": [{**ELEMENT, "actions": ["a"]}]}, 'needs an "action" name'),
        (
            {"elements": [{**ELEMENT, "actions": [{"action": "a", "time": "x"}]}]},
            "unknown key(s) ['time'] for an action",
        ),
        ({"elements": ["not an object"]}, "must be a JSON object"),
        ({"id": 5, "elements": [ELEMENT]}, '"id" must be a template string'),
        ({"id": "{{a | upper}}", "elements": [ELEMENT]}, "unknown filter"),
        ("just text", "must be an object"),
        (5, "must be an object"),
        (None, "must be an object"),
    ],
)
def test_rule_errors(raw, fragment: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule("bad", raw, CTX)
    assert fragment in str(caught.value)
    assert not isinstance(caught.value, MappingError)


def test_compile_rules_collecting_reports_every_bad_rule_at_once() -> None:
    document = {
        "$comment": "ignored",
        "_note": {"not": "a rule"},
        "good": [ELEMENT],
        "bad_filter": [event_rule({"a": "{{a | upper}}"})],
        "bad_type": [{**ELEMENT, "type": "device"}],
        "bad_name": [event_rule({"id": "{{x}}"})],
        "bad_shape": 7,
        " spaced ": [ELEMENT],
        "": [ELEMENT],
    }
    rules, problems = compile_rules_collecting(document, CTX)
    assert list(rules) == ["good"]
    assert len(problems) == 6
    joined = "\n".join(problems)
    for name in ("bad_filter", "bad_type", "bad_name", "bad_shape"):
        assert f'rule "{name}"' in joined
    assert "event name ' spaced ' must be non-empty" in joined
    assert "event name '' must be non-empty" in joined
    with pytest.raises(RuleError) as caught:
        compile_rules(document, CTX)
    assert str(caught.value) == "; ".join(problems)


def test_compile_rules_of_valid_document() -> None:
    rules = compile_rules({"$c": 1, "a": [ELEMENT], "b": ELEMENT}, CTX)
    assert sorted(rules) == ["a", "b"]
    assert compile_rules_collecting({}, CTX) == ({}, [])


def test_merge_documents() -> None:
    first = {"$comment": "x", "a": [1], "b": [2]}
    second = {"_c": "y", "b": [3], "c": [4]}
    assert merge_documents(first, second) == {"a": [1], "b": [3], "c": [4]}
    assert merge_documents() == {}
    with pytest.raises(RuleError):
        merge_documents(first, ["not", "a", "mapping"])  # type: ignore[arg-type]
    assert is_comment_key("$x")
    assert is_comment_key("_x")
    assert not is_comment_key("x_")


def test_rule_error_message_names_the_rule() -> None:
    with pytest.raises(RuleError) as caught:
        compile_rule("rewards_x", [event_rule({"a": "{{a | upper}}"})], CTX)
    assert str(caught.value).startswith('rule "rewards_x": ')


@pytest.mark.parametrize("segment", ["²", "³", "①"])
def test_non_ascii_digit_path_segments_never_raise_at_render_time(segment: str) -> None:
    """BUG: `_PATH` accepts any Unicode word character, and `_lookup` indexes a list when
    `segment.isdigit()`, which is true for "²"; `int("²")` then raises a bare ValueError while a
    webhook is being mapped. Such a path must be refused when the rule is compiled (RuleError)
    or read as missing when rendered."""
    try:
        rule = compile_rule("odd", [event_rule({"x": f"{{{{items.{segment}}}}}"})], CTX)
    except RuleError:
        return
    state = RenderState(body={"memberId": "M-1", "items": [1, 2, 3]}, context=CTX, rule="odd")
    rendered = rule.elements(state)
    assert rendered == [{"type": "event", "customer_id": "M-1", "actions": [{"action": "custom"}]}]
