"""Bodies that already have MoEngage's shape (the integration guide's template) pass through with
their dates fixed: KLS renders `{{issuedDate}}` as `03/14/2026 09:30:00`, which MoEngage would
store as text. Only textual date formats are converted; numbers and other strings are untouched
(a points balance of "1773480600" must not become a date)."""

from __future__ import annotations

from collections.abc import Mapping

from mapping.converters import ConversionContext
from mapping.dates import format_date, format_datetime, parse_moment
from mapping.errors import MappingError

PASSTHROUGH_TYPES = frozenset({"event", "customer", "transition"})
_TIME_FIELDS = ("current_time", "user_time")


def is_moengage_shaped(body: Mapping[str, object]) -> bool:
    kind = body.get("type")
    return isinstance(kind, str) and kind.strip().lower() in PASSTHROUGH_TYPES


def event_name(body: Mapping[str, object]) -> str:
    """A name for logs and responses: the first action's name, else the body type."""
    kind = str(body.get("type", "")).strip().lower()
    actions = body.get("actions")
    if kind == "event" and isinstance(actions, list) and actions and isinstance(actions[0], dict):
        name = actions[0].get("action")
        if isinstance(name, str) and name.strip():
            return name
    return kind


def _normalise_value(value: object, context: ConversionContext) -> object:
    if isinstance(value, str):
        moment = parse_moment(value, context.zone, context.date_order, allow_epoch=False)
        if moment is None:
            return value
        return format_datetime(moment) if moment.has_time else format_date(moment)
    if isinstance(value, dict):
        return {key: _normalise_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise_value(item, context) for item in value]
    return value


def _normalise_time(value: object, context: ConversionContext) -> object:
    moment = parse_moment(value, context.zone, context.date_order, allow_epoch=False)
    return value if moment is None else format_datetime(moment)


def _normalise_element(element: object, index: int, context: ConversionContext) -> dict:
    if not isinstance(element, dict):
        raise MappingError("invalid_element", f"element {index} must be a JSON object")
    result = dict(element)
    if isinstance(result.get("type"), str):
        result["type"] = result["type"].strip().lower()
    if isinstance(result.get("attributes"), dict):
        result["attributes"] = _normalise_value(result["attributes"], context)
    actions = result.get("actions")
    if isinstance(actions, list):
        result["actions"] = [_normalise_action(action, context) for action in actions]
    return result


def _normalise_action(action: object, context: ConversionContext) -> object:
    if not isinstance(action, dict):
        return action
    result = dict(action)
    if isinstance(result.get("attributes"), dict):
        result["attributes"] = _normalise_value(result["attributes"], context)
    for name in _TIME_FIELDS:
        if name in result:
            result[name] = _normalise_time(result[name], context)
    return result


def passthrough_elements(body: Mapping[str, object], context: ConversionContext) -> list[dict]:
    """The MoEngage elements a MoEngage-shaped body stands for, dates normalised."""
    kind = str(body.get("type")).strip().lower()
    if kind != "transition":
        return [_normalise_element(dict(body), 0, context)]
    elements = body.get("elements")
    if not isinstance(elements, list) or not elements:
        raise MappingError("invalid_element", "a transition body needs a non-empty 'elements' list")
    return [_normalise_element(element, index, context) for index, element in enumerate(elements)]
