"""Bodies that already have MoEngage's shape (the integration guide's template) pass through with
their dates fixed: KLS renders `{{issuedDate}}` as `03/14/2026 09:30:00`, which MoEngage would
store as text. Only textual date formats are converted; numbers and other strings are untouched
(a points balance of "1773480600" must not become a date). .NET's empty dates
(DateTime.MinValue, /Date(0)/) are no value and are left out."""

from __future__ import annotations

from collections.abc import Mapping

from mapping.converters import ConversionContext
from mapping.dates import ParsedMoment, format_date, format_datetime, parse_moment
from mapping.errors import MappingError

PASSTHROUGH_TYPES = frozenset({"event", "customer", "device", "transition"})


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


def _moment(
    value: str, context: ConversionContext, warnings: list[str], where: str
) -> ParsedMoment | None:
    moment = parse_moment(value, context.zone, context.date_order, allow_epoch=False)
    if moment is not None and moment.note:
        warnings.append(f"{where}: {moment.note}")
    return moment


def _normalise_value(
    value: object, context: ConversionContext, warnings: list[str], where: str
) -> object:
    """Dates in MoEngage's format; None for an empty date (left out)."""
    if isinstance(value, str):
        moment = _moment(value, context, warnings, where)
        if moment is None:
            return value
        if moment.empty:
            return None
        return format_datetime(moment) if moment.has_time else format_date(moment)
    if isinstance(value, dict):
        return {
            key: _normalise_value(item, context, warnings, f"{where}.{key}")
            for key, item in value.items()
        }
    if isinstance(value, list):
        items = (_normalise_value(item, context, warnings, where) for item in value)
        return [item for item in items if item is not None]
    return value


def _normalise_element(
    element: object, index: int, context: ConversionContext, warnings: list[str]
) -> dict:
    if not isinstance(element, dict):
        raise MappingError("invalid_element", f"element {index} must be a JSON object")
    result = dict(element)
    if isinstance(result.get("type"), str):
        result["type"] = result["type"].strip().lower()
    where = f"element {index}"
    if isinstance(result.get("attributes"), dict):
        attributes = result["attributes"]
        result["attributes"] = _normalise_value(
            attributes, context, warnings, f"{where}.attributes"
        )
    actions = result.get("actions")
    if isinstance(actions, list):
        result["actions"] = [
            _normalise_action(action, context, warnings, f"{where}.actions[{position}]")
            for position, action in enumerate(actions)
        ]
    return result


def _normalise_action(
    action: object, context: ConversionContext, warnings: list[str], where: str
) -> object:
    if not isinstance(action, dict):
        return action
    result = dict(action)
    if isinstance(result.get("attributes"), dict):
        attributes = result["attributes"]
        result["attributes"] = _normalise_value(
            attributes, context, warnings, f"{where}.attributes"
        )
    return result  # current_time and user_time: read by the data rules (mapping.policy)


def passthrough_elements(
    body: Mapping[str, object], context: ConversionContext, warnings: list[str]
) -> list[dict]:
    """The MoEngage elements a MoEngage-shaped body stands for, dates normalised (notes about
    local times that were ambiguous or did not exist go to `warnings`)."""
    kind = str(body.get("type")).strip().lower()
    if kind != "transition":
        return [_normalise_element(dict(body), 0, context, warnings)]
    elements = body.get("elements")
    if not isinstance(elements, list) or not elements:
        raise MappingError("invalid_element", "a transition body needs a non-empty 'elements' list")
    return [
        _normalise_element(element, index, context, warnings)
        for index, element in enumerate(elements)
    ]
