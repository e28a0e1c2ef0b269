"""Mapping rules: one per Kognitiv event name, written as the MoEngage elements they produce.

A mapping document is a JSON object keyed by event name (keys starting with `$` or `_` are
comments). A rule is `{"description": ..., "id": "{{...}}", "elements": [ ... ]}`; a bare list of
elements or a single element is accepted as shorthand. Rules are checked and compiled once at
start-up, so a bad rule is a configuration error reported before any webhook arrives (each rule's
specialised function, `mapping.compiled`, is generated when the rule first maps a body)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from mapping.compiled import CompiledRule
from mapping.converters import ConversionContext
from mapping.errors import RuleError
from mapping.keys import compile_key
from mapping.policy import (
    ELEMENT_TYPES,
    MERGE_ID_KEYS,
    RESERVED_PREFIX,
    check_rule_attribute_names,
)
from mapping.template import Node, Placeholder, compile_template
from mapping.unset import UNSET_FILTER

RULE_KEYS = frozenset({"description", "id", "elements"})
ELEMENT_KEYS = {
    "event": frozenset({"type", "customer_id", "actions"}),
    "customer": frozenset({"type", "customer_id", "attributes", "update_existing_only"}),
    "delete": frozenset({"type", "customer_id"}),
    "merge": frozenset({"type", *MERGE_ID_KEYS}),
}
ID_EXAMPLE = "{{memberId | required}}"
ACTION_KEYS = frozenset(
    {"action", "attributes", "platform", "app_version", "current_time", "user_time",
     "user_timezone_offset"}
)  # fmt: skip


_PLACEHOLDER_TEXT = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_WHOLE_TEXT = re.compile(r"\s*\{\{(.*?)\}\}\s*", re.DOTALL)
# Which conversions a time field may ask for, and what to write instead (data, not branches).
TIME_FIELD_REFUSED = {
    "current_time": {
        "date": "current_time is an instant (UTC): write | datetime, not | date",
        "local_datetime": "current_time is an instant (UTC): write | datetime, "
        "not | local_datetime",
    },
    "user_time": {
        "datetime": 'user_time is the local time in MoEngage ("Local time at which the event '
        'happened", used as is): write | local_datetime, not | datetime',
        "date": 'user_time is the local time in MoEngage ("Local time at which the event '
        'happened"): write | local_datetime, not | date',
    },
}
LOCAL_ONLY = "local_datetime"


@dataclass(frozen=True)
class Rule:
    """A compiled rule: render functions plus the placeholders it reads."""

    name: str
    description: str
    elements: Node
    idempotency_key: Node | None
    placeholders: tuple[Placeholder, ...]
    compiled: CompiledRule | None = None  # the same rule as one specialised function


def is_comment_key(key: str) -> bool:
    return key.startswith(("$", "_"))


def merge_documents(*documents: Mapping[str, object]) -> dict[str, object]:
    """Later documents add rules or replace whole rules of the same event name."""
    merged: dict[str, object] = {}
    for document in documents:
        if not isinstance(document, Mapping):
            raise RuleError("a mapping document must be a JSON object keyed by event name")
        merged.update({k: v for k, v in document.items() if not is_comment_key(k)})
    return merged


def _rule_body(name: str, raw: object) -> dict[str, object]:
    if isinstance(raw, list):
        return {"elements": raw}
    if isinstance(raw, dict) and "type" in raw:
        return {"elements": [raw]}
    if isinstance(raw, dict):
        unknown = set(raw) - RULE_KEYS
        if unknown:
            raise RuleError(
                f'rule "{name}": unknown key(s) {sorted(unknown)}; use {sorted(RULE_KEYS)}'
            )
        return raw
    raise RuleError(f'rule "{name}" must be an object with "elements", or a list of elements')


def _filters(text: str) -> set[str]:
    """The filter names used by the placeholders of one template string."""
    names = set()
    for inner in _PLACEHOLDER_TEXT.findall(text):
        for part in inner.split("|")[1:]:
            names.add(re.split(r"[:=]", part, maxsplit=1)[0].strip())
    return names


def _strings(template: object, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Every template string of an element, with its path (keys and list indexes)."""
    if isinstance(template, str):
        yield path, template
    elif isinstance(template, dict):
        for key, value in template.items():
            yield from _strings(value, (*path, key))
    elif isinstance(template, list):
        for index, value in enumerate(template):
            yield from _strings(value, (*path, index))


def _check_filter_places(element: dict, where: str) -> None:
    """Time conversions where MoEngage's meaning of the field needs them (current_time is UTC,
    user_time local), and `unset_if_empty` only as the whole value of a user attribute."""
    kind = element.get("type")
    for path, text in _strings(element):
        filters = _filters(text)
        if not filters:
            continue
        spot = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        field = path[-1] if len(path) == 3 and path[0] == "actions" else None
        for name, problem in TIME_FIELD_REFUSED.get(field, {}).items():
            if name in filters:
                raise RuleError(f"{spot}: {problem}")
        if LOCAL_ONLY in filters and field != "user_time":
            raise RuleError(
                f"{spot}: | local_datetime is for user_time (MoEngage's local time) only; "
                "write | datetime"
            )
        if UNSET_FILTER in filters:
            attribute = kind == "customer" and len(path) == 2 and path[0] == "attributes"
            if not attribute or not _WHOLE_TEXT.fullmatch(text) or text.count("{{") != 1:
                raise RuleError(
                    f"{spot}: | {UNSET_FILTER} is for the whole value of a user attribute "
                    '(a "customer" element\'s attributes)'
                )
            if str(path[1]).lower().startswith(RESERVED_PREFIX):
                raise RuleError(
                    f"{spot}: MoEngage protects its own attributes from unset; "
                    f"| {UNSET_FILTER} cannot clear {path[1]}"
                )


def _check_element_template(element: object, where: str) -> None:
    if not isinstance(element, dict):
        raise RuleError(f"{where} must be a JSON object")
    kind = element.get("type")
    if kind not in ELEMENT_TYPES:
        names = ", ".join(f'"{name}"' for name in ELEMENT_TYPES)
        raise RuleError(f'{where}: "type" must be one of {names} (lower case)')
    unknown = set(element) - ELEMENT_KEYS[kind]
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {sorted(unknown)} for a {kind} element")
    for key in MERGE_ID_KEYS if kind == "merge" else ("customer_id",):
        if not isinstance(element.get(key), str):
            raise RuleError(f'{where}: "{key}" is required, e.g. "{ID_EXAMPLE}"')
    _check_filter_places(element, where)
    if kind in ("delete", "merge"):
        return
    if kind == "customer":
        check_rule_attribute_names(element.get("attributes"), f"{where}.attributes", user=True)
        return
    actions = element.get("actions")
    if not isinstance(actions, list) or not actions:
        raise RuleError(f'{where}: an event element needs a non-empty "actions" list')
    for position, action in enumerate(actions):
        spot = f"{where}.actions[{position}]"
        if not isinstance(action, dict) or not isinstance(action.get("action"), str):
            raise RuleError(f'{spot}: each action needs an "action" name')
        unknown = set(action) - ACTION_KEYS
        if unknown:
            raise RuleError(f"{spot}: unknown key(s) {sorted(unknown)} for an action")
        check_rule_attribute_names(action.get("attributes"), f"{spot}.attributes")


def _user_time_read_locally(element: dict) -> dict:
    """A bare `"user_time": "{{field}}"` reads like `{{field | local_datetime}}`: without it a
    value already shaped `YYYY-MM-DDTHH:MM:SSZ` (a UTC instant from Kognitiv) would be sent as
    is, a UTC clock where MoEngage expects the local one."""
    actions = element.get("actions") if element.get("type") == "event" else None
    if not isinstance(actions, list):
        return element
    rewritten = []
    for action in actions:
        text = action.get("user_time") if isinstance(action, dict) else None
        whole = _WHOLE_TEXT.fullmatch(text) if isinstance(text, str) else None
        if whole and text.count("{{") == 1 and "|" not in whole.group(1):
            action = {**action, "user_time": "{{" + whole.group(1).strip() + " | local_datetime}}"}
        rewritten.append(action)
    return {**element, "actions": rewritten}


def compile_rule(name: str, raw: object, context: ConversionContext) -> Rule:
    body = _rule_body(name, raw)
    elements = body.get("elements")
    if not isinstance(elements, list) or not elements:
        raise RuleError(f'rule "{name}": "elements" must be a non-empty list')
    for index, element in enumerate(elements):
        _check_element_template(element, f'rule "{name}" element {index}')
    elements = [_user_time_read_locally(element) for element in elements]
    placeholders: list[Placeholder] = []
    try:
        render = compile_template(elements, context, "elements", placeholders)
        key_template = body.get("id")
        key = None if key_template is None else compile_key(key_template, context, placeholders)
    except RuleError as error:
        raise RuleError(f'rule "{name}": {error}') from None
    description = body.get("description", "")
    compiled = CompiledRule(name, elements, context)
    return Rule(name, str(description), render, key, tuple(placeholders), compiled)


def compile_rules_collecting(
    document: Mapping[str, object], context: ConversionContext
) -> tuple[dict[str, Rule], list[str]]:
    """Compile what can be compiled and collect every problem, so all are reported at once."""
    rules: dict[str, Rule] = {}
    problems: list[str] = []
    for name, raw in merge_documents(document).items():
        try:
            if not name.strip() or name != name.strip():
                raise RuleError(f"event name {name!r} must be non-empty, without outer spaces")
            rules[name] = compile_rule(name, raw, context)
        except RuleError as error:
            problems.append(str(error))
        except RecursionError:
            problems.append(f'rule "{name}" is nested too deeply')
    return rules, problems


def compile_rules(document: Mapping[str, object], context: ConversionContext) -> dict[str, Rule]:
    """Compile every rule or raise one RuleError that lists every problem."""
    rules, problems = compile_rules_collecting(document, context)
    if problems:
        raise RuleError("; ".join(problems))
    return rules
