"""MoEngage's data rules, enforced before anything is sent.

Bulk requests answer 200 even when an element is bad (the error only shows in MoEngage's
dashboard), so every element is checked here: ids that would merge strangers into one profile are
refused; what MoEngage would silently truncate or drop is trimmed with a warning instead."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from mapping.dates import parse_moment
from mapping.errors import MappingError, RuleError

FORBIDDEN_CUSTOMER_IDS = frozenset(
    {
        "", "unknown", "guest", "null", "0", "1", "true", "false", "user_attribute_unique_id",
        "na", "n/a", "dummy_seller_code", "user_id", "id", "customer_id", "uid", "userid", "none",
        "-2", "-1", "2",
    }
)  # fmt: skip
BLOCKED_ATTRIBUTE_NAMES = frozenset({"", "id", "_id"})
RESERVED_PREFIX = "moe_"
MAX_NAME_LENGTH = 200
MAX_ATTRIBUTES_PER_EVENT = 100
MAX_STRING_LENGTH = 512
MAX_ARRAY_ITEMS = 50
FUTURE_TOLERANCE_SECONDS = 300
ELEMENT_TYPES = ("event", "customer")
_TRIM_ABOVE = min(MAX_STRING_LENGTH, MAX_ARRAY_ITEMS)  # no shorter text or list needs trimming
_UNRENDERED = re.compile(r"\s*\{\{.*\}\}\s*", re.DOTALL)
_CANONICAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


def attribute_name_problem(name: str) -> str | None:
    """Why MoEngage would refuse this attribute name, or None when it is fine."""
    if name.strip() in BLOCKED_ATTRIBUTE_NAMES:
        return f"attribute name {name!r} is blocked by MoEngage"
    if name.lower().startswith(RESERVED_PREFIX):
        return f"attribute name {name[:40]!r} uses MoEngage's reserved prefix 'moe_'"
    if len(name) > MAX_NAME_LENGTH:
        return f"attribute name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters"
    return None


_name_problem = lru_cache(maxsize=4096)(attribute_name_problem)  # names repeat in every body


def check_rule_attribute_names(attributes: object, where: str) -> None:
    """Refuse a rule whose literal attribute names MoEngage would block (a config error)."""
    if isinstance(attributes, dict):
        for name in attributes:
            if problem := attribute_name_problem(name):
                raise RuleError(f"{where}: {problem}")


def customer_id(element: dict[str, object], index: int) -> str:
    """The element's customer id as a string; refuses ids that are missing or forbidden."""
    value = element.get("customer_id")
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(
            "missing_customer_id",
            f"element {index}: customer_id is missing or not a string (MoEngage has no "
            "anonymous users): check that the member id field is sent",
        )
    text = str(value).strip()
    if text.lower() in FORBIDDEN_CUSTOMER_IDS:
        raise MappingError(
            "invalid_customer_id",
            f"element {index}: customer_id {text!r} is a value MoEngage forbids as a user id",
        )
    if "{{" in text and _UNRENDERED.fullmatch(text):
        raise MappingError(
            "invalid_customer_id",
            f"element {index}: customer_id is an unrendered Kognitiv placeholder: check the "
            "webhook template's field name",
        )
    if len(text) > MAX_STRING_LENGTH:
        raise MappingError("invalid_customer_id", f"element {index}: customer_id is too long")
    return text


def _clean_value(value: object, where: str, name: str, warnings: list[str]) -> object:
    """`value` trimmed to MoEngage's limits (the label `where.name` is built only for a warning)."""
    if isinstance(value, str) and len(value) > MAX_STRING_LENGTH:
        warnings.append(
            f"{where}.{name}: text longer than {MAX_STRING_LENGTH} characters was truncated"
        )
        return value[:MAX_STRING_LENGTH]
    if isinstance(value, list) and len(value) > MAX_ARRAY_ITEMS:
        warnings.append(f"{where}.{name}: list longer than {MAX_ARRAY_ITEMS} items was truncated")
        return value[:MAX_ARRAY_ITEMS]
    return value


def clean_attributes(
    attributes: object, where: str, warnings: list[str], limit: int | None = None
) -> dict[str, object]:
    """Drop blocked names, trim long text and lists, keep at most `limit` attributes."""
    if not isinstance(attributes, dict):
        raise MappingError("invalid_attributes", f"{where}: attributes must be a JSON object")
    cleaned: dict[str, object] = {}
    for name, value in attributes.items():
        if problem := _name_problem(name):
            warnings.append(f"{where}: {problem}; it was left out")
            continue
        if value is None:
            continue
        if limit is not None and len(cleaned) >= limit:
            warnings.append(f"{where}: more than {limit} attributes; the rest were left out")
            break
        if isinstance(value, str | list) and len(value) > _TRIM_ABOVE:
            value = _clean_value(value, where, name, warnings)
        cleaned[name] = value
    return cleaned


def _epoch_seconds(value: object) -> float | None:
    """The instant of a current_time, None when it is not a date-time. The shape the converters
    produce (YYYY-MM-DDTHH:MM:SSZ) is read directly: parse_moment would reach the same
    fromisoformat after trying the other formats."""
    if isinstance(value, str) and _CANONICAL_DATETIME.fullmatch(value):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    moment = parse_moment(value, UTC)
    return None if moment is None else moment.instant.timestamp()


def _check_action(action: object, where: str, now: float, warnings: list[str]) -> dict:
    if not isinstance(action, dict):
        raise MappingError("invalid_action", f"{where}: an action must be a JSON object")
    name = action.get("action")
    if not isinstance(name, str) or not name.strip():
        raise MappingError("invalid_action", f"{where}: action needs a non-empty 'action' name")
    if len(name) > MAX_NAME_LENGTH:
        raise MappingError("invalid_action", f"{where}: action name is over 200 characters")
    checked = dict(action)
    if "attributes" in checked:
        checked["attributes"] = clean_attributes(
            checked["attributes"], f"{where}.attributes", warnings, MAX_ATTRIBUTES_PER_EVENT
        )
    current = checked.get("current_time")
    if current is not None:
        seconds = _epoch_seconds(current)
        if seconds is None:
            warnings.append(f"{where}.current_time is not a date-time; MoEngage's time is used")
            del checked["current_time"]
        elif seconds > now + FUTURE_TOLERANCE_SECONDS:
            warnings.append(
                f"{where}.current_time is in the future (check KOGNITIV_TIMEZONE); "
                "MoEngage rejects future events, so the time of receipt is used"
            )
            del checked["current_time"]
    return checked


def check_element(element: object, index: int, now: float, warnings: list[str]) -> dict:
    """Return a copy of one MoEngage element that satisfies the data rules, or raise."""
    if not isinstance(element, dict):
        raise MappingError("invalid_element", f"element {index} must be a JSON object")
    kind = element.get("type")
    if kind not in ELEMENT_TYPES:
        raise MappingError(
            "invalid_element", f"element {index}: type must be 'event' or 'customer'"
        )
    checked = dict(element)
    checked["customer_id"] = customer_id(element, index)
    if kind == "customer":
        checked["attributes"] = clean_attributes(
            element.get("attributes", {}), f"element {index}.attributes", warnings
        )
        return checked
    actions = element.get("actions")
    if not isinstance(actions, list) or not actions:
        raise MappingError("invalid_element", f"element {index}: an event needs actions")
    checked["actions"] = [
        _check_action(action, f"element {index}.actions[{position}]", now, warnings)
        for position, action in enumerate(actions)
    ]
    return checked


def now_utc() -> float:
    return datetime.now(UTC).timestamp()
