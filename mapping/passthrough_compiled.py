"""The passthrough rule as one function: a MoEngage-shaped body's dates normalised and its
elements checked against MoEngage's data rules in one walk.

The interpreted path (`mapping.passthrough`, then `policy.check_element`) copies the body and
sends every value through the date parser, then copies and walks it again for the checks. There
is no template to generate a function from (the body is its own template), so this function is
written once and specialised by what depends only on the program's configuration: its zone and
date order, which the plain date shapes (`dates.plain_datetime_text`) read without the format
ladder. Per value there is one cheap test (text that no date format can start with is kept as it
is) and one pass that normalises and checks.

Anything uncommon steps aside: a device, an element, action or customer id that the checks
refuse, a value the checks would clear. `run` then answers None and the interpreted path maps the
body from the start, so outputs, warnings and errors are always the interpreter's (warnings come
in its order: every date note first, then the checks' warnings). Nothing is changed in place.
`tests/mapping/test_mapping_compiled.py` compares both paths."""

from __future__ import annotations

from mapping.converters import ConversionContext
from mapping.dates import _FIRST_CHARACTERS, format_date, format_datetime, parse_moment
from mapping.dates import plain_datetime_text as _plain
from mapping.errors import MappingError
from mapping.passthrough import _normalise_value
from mapping.policy import (
    _DROP,
    _TRIM_ABOVE,
    MAX_ATTRIBUTES_PER_EVENT,
    MAX_NAME_LENGTH,
    _check_customer_flag,
    _clean_value,
    _cleared_names,
    _name_problem,
    _needs_cleaning,
    check_action_fields,
    clean_attributes,
    customer_id_of,
)
from mapping.unrendered import is_unrendered


class CompiledPassthrough:
    """`run(body, now)` -> (checked elements, warnings), or None: map it the interpreted way."""

    def __init__(self, context: ConversionContext) -> None:
        self._context = context
        self._zone, self._order = context.zone, context.date_order

    def run(self, body: dict, now: float) -> tuple[list[dict], list[str]] | None:
        notes: list[str] = []  # the date notes (the interpreted path's first walk)
        warnings: list[str] = []  # the checks' warnings (its second walk)
        try:
            kind = str(body.get("type")).strip().lower()
            if kind != "transition":
                element = self._element(body, 0, now, notes, warnings)
                if element is None:
                    return None
                checked = [element]
            else:
                elements = body.get("elements")
                if elements.__class__ is not list or not elements:
                    return None
                checked = []
                for index, item in enumerate(elements):
                    element = self._element(item, index, now, notes, warnings)
                    if element is None:
                        return None
                    checked.append(element)
        except MappingError:  # the interpreted path raises it (or its own) for this body
            return None
        notes += warnings
        return checked, notes

    def _element(
        self, element: object, index: int, now: float, notes: list[str], warnings: list[str]
    ) -> dict | None:
        if element.__class__ is not dict:
            return None
        assert isinstance(element, dict)
        kind = element.get("type")
        if kind.__class__ is str:
            kind = kind.strip().lower()  # type: ignore[union-attr]
        if kind != "event" and kind != "customer":  # a device, or refused: interpreted
            return None
        where = f"element {index}"
        attributes = element.get("attributes")
        if attributes.__class__ is dict:
            attributes = self._normalised(attributes, f"{where}.attributes", notes)  # type: ignore[arg-type]
        elif isinstance(attributes, dict):
            return None
        if kind == "event":
            return self._event(element, kind, attributes, index, where, now, notes, warnings)
        if isinstance(element.get("actions"), list):
            return None  # a customer with actions (their dates normalised): interpreted
        identity = customer_id_of(element.get("customer_id"), index)
        values = attributes or {}
        if values.__class__ is not dict or _cleared_names(values):
            return None  # refused, or attributes to clear: interpreted
        checked = {}
        for key, value in element.items():
            if key == "type":
                value = kind
            elif key == "attributes":
                value = attributes
            if value is not None:
                checked[key] = value
        checked["customer_id"] = identity
        checked["attributes"] = clean_attributes(values, f"{where}.attributes", warnings, user=True)
        _check_customer_flag(checked, index, warnings)
        return checked

    def _event(
        self,
        element: dict,
        kind: str,
        attributes: object,
        index: int,
        where: str,
        now: float,
        notes: list[str],
        warnings: list[str],
    ) -> dict | None:
        actions = element.get("actions")
        if actions.__class__ is not list or not actions:
            return None
        checked_actions = []
        for position, action in enumerate(actions):  # type: ignore[arg-type]
            checked_action = self._action(
                action, f"{where}.actions[{position}]", now, notes, warnings
            )
            if checked_action is None:
                return None
            checked_actions.append(checked_action)
        identity = customer_id_of(element.get("customer_id"), index)
        checked = {}
        for key, value in element.items():
            if key == "type":
                value = kind
            elif key == "attributes":
                value = attributes
            elif key == "actions":
                value = checked_actions
            elif key == "customer_id":
                value = identity
            if value is not None:
                checked[key] = value
        return checked

    def _action(
        self, action: object, where: str, now: float, notes: list[str], warnings: list[str]
    ) -> dict | None:
        if action.__class__ is not dict:
            return None
        assert isinstance(action, dict)
        name = action.get("action")
        if name.__class__ is not str or not name.strip() or len(name) > MAX_NAME_LENGTH:
            return None
        if "{{" in name and is_unrendered(name):
            return None
        fused = "platform" not in action and "app_version" not in action
        checked = {}
        for key, value in action.items():
            if key == "attributes":
                if value.__class__ is dict:
                    if fused:  # no text field's warning comes before the attributes' ones
                        value = self._cleaned(value, f"{where}.attributes", notes, warnings)
                    else:
                        value = self._normalised(value, f"{where}.attributes", notes)
                elif isinstance(value, dict):
                    return None
                elif value is not None:
                    return None  # refused by the checks: interpreted
            if value is not None:
                checked[key] = value
        return check_action_fields(checked, where, now, warnings, self._context, fused)

    def _normalised(self, attributes: dict, where: str, notes: list[str]) -> dict:
        """`passthrough._normalise_value` of an attributes object, with one test per value."""
        normalised = {}
        seen, seen_as = None, None  # a body often carries one date twice
        for name, value in attributes.items():
            kind = value.__class__
            if kind is str:
                first = value[:1]
                if value == seen:
                    value = seen_as
                elif first in _FIRST_CHARACTERS or first.isspace():
                    value, plain = self._date(value, where, name, notes)
                    if plain:
                        seen, seen_as = attributes[name], value
            elif kind is not int and kind is not float and kind is not bool and value is not None:
                value = _normalise_value(value, self._context, notes, f"{where}.{name}")
            normalised[name] = value
        return normalised

    def _cleaned(self, attributes: dict, where: str, notes: list[str], warnings: list[str]) -> dict:
        """An action's attributes normalised (`_normalised`) and cleaned as
        `policy.clean_attributes(..., MAX_ATTRIBUTES_PER_EVENT)` cleans them, in one loop."""
        cleaned: dict[str, object] = {}
        seen, seen_as = None, None
        full = False
        for name, value in attributes.items():
            kind = value.__class__
            if kind is str:
                first = value[:1]
                if value == seen:
                    value = seen_as
                elif first in _FIRST_CHARACTERS or first.isspace():
                    value, plain = self._date(value, where, name, notes)
                    if plain:
                        seen, seen_as = attributes[name], value
            elif kind is not int and kind is not float and kind is not bool and value is not None:
                value = _normalise_value(value, self._context, notes, f"{where}.{name}")
            if full:  # past the limit: normalised (its notes), never sent
                continue
            if problem := _name_problem(name, False):
                warnings.append(f"{where}: {problem}; it was left out")
                continue
            if value is None:
                continue
            if len(cleaned) >= MAX_ATTRIBUTES_PER_EVENT:
                warnings.append(
                    f"{where}: more than {MAX_ATTRIBUTES_PER_EVENT} attributes; the rest were "
                    "left out"
                )
                full = True
                continue
            if value.__class__ is str:
                if (
                    value[:1].isspace()
                    or value[-1:].isspace()
                    or len(value) > _TRIM_ABOVE
                    or ("{{" in value)
                ):
                    value = _clean_value(value, where, name, warnings)
                    if value is _DROP:
                        continue
            elif _needs_cleaning(value):
                value = _clean_value(value, where, name, warnings)
                if value is _DROP:
                    continue
            cleaned[name] = value
        return cleaned

    def _date(self, value: str, where: str, name: str, notes: list[str]) -> tuple[object, bool]:
        """A text that may be a date, as `passthrough._normalise_value` leaves it, and whether
        it was one of the plain shapes (no note: the same text gives the same value)."""
        plain = _plain(value, self._zone, self._order)
        if plain is not None:
            return plain, True
        moment = parse_moment(value, self._zone, self._order, allow_epoch=False)
        if moment is None:
            return value, False
        if moment.note:
            notes.append(f"{where}.{name}: {moment.note}")
        if moment.empty:
            return None, False
        return (format_datetime(moment) if moment.has_time else format_date(moment)), False
