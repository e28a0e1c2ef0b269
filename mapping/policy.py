"""MoEngage's data rules, enforced before anything is sent.

Bulk requests answer 200 even when an element is bad (the error only shows in MoEngage's
dashboard), so every element is checked here: ids that would merge strangers into one profile are
refused; what MoEngage would silently truncate or drop is trimmed with a warning instead."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from mapping.converters import MAX_EXACT_INTEGER, ConversionContext
from mapping.dates import format_datetime, format_local_datetime, parse_moment
from mapping.errors import MappingError, RuleError
from mapping.unrendered import UNRENDERED_WARNING, is_unrendered
from mapping.unset import UNSET, unset_rule

# MoEngage's list (Data API overview, "Request Body"), compared without case.
FORBIDDEN_CUSTOMER_IDS = frozenset(
    {
        "", "unknown", "guest", "null", "0", "1", "true", "false", "user_attribute_unique_id",
        "(empty)", "na", "n/a", "dummy_seller_code", "user_id", "id", "customer_id", "uid",
        "userid", "none", "-2", "-1", "2",
    }
)  # fmt: skip
# MoEngage's standard user attributes with the reserved prefix that the Track User API may write
# (Data API overview, "User Attributes"; data.yaml UserAttributes), with the JSON type each takes.
# Every other `moe_` name stays blocked.
STANDARD_MOE_USER_ATTRIBUTES: dict[str, type] = {
    "moe_unsubscribe": bool,  # true: no emails are sent
    "moe_spam": bool,
    "moe_hard_bounce": bool,
    "moe_wa_subscription": bool,
    "moe_sub_w": bool,
    "moe_sms_subscription": str,
    "moe_email_optin_status": str,
    "moe_em_unsub_categories": str,
    "moe_gaid": str,  # created through Track User, never updated (data overview)
    "moe_mweb": object,  # created through Track User; its type is not documented
}
# MoEngage's reserved user attribute names, compared without case, with what to write instead.
_RESERVED_FILE = Path(__file__).with_name("reserved_user_attributes.json")
RESERVED_USER_ATTRIBUTES: dict[str, str] = {
    name.lower(): instead
    for name, instead in json.loads(_RESERVED_FILE.read_text(encoding="utf-8")).items()
    if not name.startswith("$")
}
BLOCKED_ATTRIBUTE_NAMES = frozenset({"", "id", "_id"})
RESERVED_PREFIX = "moe_"
MAX_NAME_LENGTH = 200
MAX_ATTRIBUTES_PER_EVENT = 100
MAX_STRING_LENGTH = 512
MAX_ARRAY_ITEMS = 50
FUTURE_TOLERANCE_SECONDS = 30  # MoEngage refuses future events; allow only clock skew
TRACK_ELEMENT_TYPES = ("event", "customer")  # sent to MoEngage's track APIs
USER_OPERATION_TYPES = ("delete", "merge")  # Delete User and Merge User: a rule's only
ELEMENT_TYPES = (*TRACK_ELEMENT_TYPES, *USER_OPERATION_TYPES)  # what a rule writes
PASSTHROUGH_ELEMENT_TYPES = (*TRACK_ELEMENT_TYPES, "device")  # what MoEngage-shaped bodies carry
MERGE_ID_KEYS = ("merged_customer_id", "retained_customer_id")  # the merged id goes, one stays
DEVICE_PLATFORMS = {name.lower(): name for name in ("ANDROID", "iOS", "web", "TV")}
PLATFORMS = {name.lower(): name for name in ("ANDROID", "iOS", "web", "TV", "unknown")}
MAX_TIMEZONE_OFFSET = 54_000
OPTIONAL_ACTION_FIELDS = frozenset({"platform", "app_version", "user_timezone_offset"})
_ACTION_TEXT_FIELDS = ("platform", "app_version")
MAX_NESTING = 32
_TRIM_ABOVE = min(MAX_STRING_LENGTH, MAX_ARRAY_ITEMS)  # no shorter text or list needs trimming
_CANONICAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


def attribute_name_problem(name: str, user: bool = False) -> str | None:
    """Why MoEngage would refuse this attribute name, or None when it is fine (`user`: a user
    attribute, where MoEngage's standard `moe_` attributes such as moe_unsubscribe are allowed)."""
    if name.strip() in BLOCKED_ATTRIBUTE_NAMES:
        return f"attribute name {name!r} is blocked by MoEngage"
    if user and name in STANDARD_MOE_USER_ATTRIBUTES:
        return None
    if user and (instead := RESERVED_USER_ATTRIBUTES.get(name.lower())) is not None:
        return f"attribute name {name!r} is reserved by MoEngage: use {instead}"
    if name.lower().startswith(RESERVED_PREFIX):
        return f"attribute name {name[:40]!r} uses MoEngage's reserved prefix 'moe_'"
    if len(name) > MAX_NAME_LENGTH:
        return f"attribute name {name[:40]!r}... is longer than {MAX_NAME_LENGTH} characters"
    return None


_name_problem = lru_cache(maxsize=4096)(attribute_name_problem)  # names repeat in every body


def check_rule_attribute_names(attributes: object, where: str, user: bool = False) -> None:
    """Refuse a rule whose literal attribute names MoEngage would block (a config error)."""
    if isinstance(attributes, dict):
        for name in attributes:
            if problem := attribute_name_problem(name, user):
                raise RuleError(f"{where}: {problem}")


def customer_id_problem(text: str) -> str | None:
    """Why a (trimmed) member id cannot name a MoEngage user, or None when it can."""
    if text.lower() in FORBIDDEN_CUSTOMER_IDS:
        return f"{text!r} is a value MoEngage forbids as a user id"
    if len(text) < 2:  # data overview: "any string of more than one characters"
        return f"{text!r} is a single character (MoEngage needs more than one)"
    if is_unrendered(text):
        return "is an unrendered Kognitiv placeholder: check the webhook template's field name"
    if len(text) > MAX_STRING_LENGTH:
        return "is too long"
    return None


def customer_id(element: dict[str, object], index: int, key: str = "customer_id") -> str:
    """The element's customer id (or the id under `key`) as a string; refuses ids that are
    missing or forbidden."""
    return customer_id_of(element.get(key), index, key)


def customer_id_of(value: object, index: int, key: str = "customer_id") -> str:
    """`customer_id` for a value already taken from its element (None: absent)."""
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise MappingError(
            "missing_customer_id",
            f"element {index}: {key} is missing or not a string (MoEngage has no "
            "anonymous users): check that the member id field is sent",
        )
    text = str(value).strip()
    problem = customer_id_problem(text)
    if problem:
        raise MappingError("invalid_customer_id", f"element {index}: {key} {problem}")
    return text


_DROP = object()  # a value that must not be sent (an unrendered placeholder)


def _clean_value(
    value: object, where: str, name: str, warnings: list[str], depth: int = 0
) -> object:
    """`value` trimmed to MoEngage's limits, nested lists and objects included; _DROP for an
    unrendered placeholder (the label `where.name` is built only for a warning)."""
    if isinstance(value, str):
        value = value.strip()  # values are trimmed, at any depth, and not otherwise changed
        if is_unrendered(value):
            warnings.append(f"{where}.{name} {UNRENDERED_WARNING}; it was left out")
            return _DROP
        if len(value) > MAX_STRING_LENGTH:
            warnings.append(
                f"{where}.{name}: text longer than {MAX_STRING_LENGTH} characters was truncated"
            )
            return value[:MAX_STRING_LENGTH]
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INTEGER:
        warnings.append(
            f"{where}.{name}: an integer beyond ±{MAX_EXACT_INTEGER} would not be stored exactly "
            "by MoEngage; it was sent as text"
        )
        return str(value)
    if depth > MAX_NESTING:
        return value
    if isinstance(value, list):
        if len(value) > MAX_ARRAY_ITEMS:
            warnings.append(
                f"{where}.{name}: list longer than {MAX_ARRAY_ITEMS} items was truncated"
            )
            value = value[:MAX_ARRAY_ITEMS]
        items = (_clean_value(item, where, name, warnings, depth + 1) for item in value)
        return [item for item in items if item is not _DROP]
    if isinstance(value, dict):
        entries = (
            (key, _clean_value(item, where, f"{name}.{key}", warnings, depth + 1))
            for key, item in value.items()
        )
        return {key: item for key, item in entries if item is not _DROP}
    return value


def _needs_cleaning(value: object) -> bool:
    """Cheap test first: most values are short text, small numbers or booleans."""
    if isinstance(value, str):
        padded = value[:1].isspace() or value[-1:].isspace()
        return padded or len(value) > _TRIM_ABOVE or "{{" in value
    if isinstance(value, int):
        return not isinstance(value, bool) and abs(value) > MAX_EXACT_INTEGER
    return isinstance(value, dict | list)


def _standard_type_problem(name: str, value: object) -> str | None:
    expected = STANDARD_MOE_USER_ATTRIBUTES.get(name)
    if expected is None or expected is object or type(value) is expected:
        return None
    kind = "true or false" if expected is bool else "text"
    return f"{name} is MoEngage's standard attribute and must be {kind}"


def clean_attributes(
    attributes: object,
    where: str,
    warnings: list[str],
    limit: int | None = None,
    user: bool = False,
) -> dict[str, object]:
    """Drop blocked names and unrendered placeholders, trim long text and lists, send integers
    MoEngage cannot store exactly as text, keep at most `limit` attributes. `user`: user
    attributes, where MoEngage's standard `moe_` attributes are allowed with their type."""
    if not isinstance(attributes, dict):
        raise MappingError("invalid_attributes", f"{where}: attributes must be a JSON object")
    cleaned: dict[str, object] = {}
    for name, value in attributes.items():
        if problem := _name_problem(name, user):
            warnings.append(f"{where}: {problem}; it was left out")
            continue
        if value is None:
            continue
        if user and (problem := _standard_type_problem(name, value)):
            warnings.append(f"{where}: {problem}; it was left out")
            continue
        if limit is not None and len(cleaned) >= limit:
            warnings.append(f"{where}: more than {limit} attributes; the rest were left out")
            break
        if value.__class__ is str:  # most values: _needs_cleaning's test, without the call
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


_UTC_MDY = ConversionContext(UTC, "MDY")


def _moment(
    value: object, where: str, warnings: list[str], context: ConversionContext, local: bool
) -> str | None:
    """A current_time (UTC) or user_time (`local`: the wall-clock time where the event happened,
    as MoEngage's user_time is "Local time at which the event happened", used as is) as
    `YYYY-MM-DDTHH:MM:SSZ`. Text already in that shape is kept (a `| datetime` or
    `| local_datetime` result, or a MoEngage-shaped body's own value); anything else is read with
    the program's zone and date order. None when it is not a date-time (with a warning) or is
    .NET's empty date (DateTime.MinValue, epoch 0: no value, so MoEngage's time is used)."""
    canonical = isinstance(value, str) and _CANONICAL_DATETIME.fullmatch(value)
    if canonical and _epoch_seconds(value) is not None:
        return value
    moment = parse_moment(value, context.zone, context.date_order)
    if moment is not None and moment.empty:
        return None
    if moment is None:
        consequence = "MoEngage's time is used" if where.endswith("current_time") else "left out"
        problem = UNRENDERED_WARNING if is_unrendered(value) else "is not a date-time"
        warnings.append(f"{where} {problem}; {consequence}")
        return None
    if moment.note:
        warnings.append(f"{where}: {moment.note}")
    return format_local_datetime(moment) if local else format_datetime(moment)


def _check_optional_fields(action: dict, where: str, warnings: list[str]) -> None:
    """platform, app_version and user_timezone_offset as MoEngage accepts them, else left out
    with a warning (inside a bulk request MoEngage would silently drop the whole element)."""
    platform = action.get("platform")
    if platform is not None:
        canonical = PLATFORMS.get(str(platform).strip().lower())
        if canonical is None:
            warnings.append(f"{where}.platform must be one of {', '.join(PLATFORMS.values())}")
            del action["platform"]
        else:
            action["platform"] = canonical
    version = action.get("app_version")
    if version is not None and not isinstance(version, str):
        if isinstance(version, int | float) and not isinstance(version, bool):
            action["app_version"] = str(version)
        else:
            warnings.append(f"{where}.app_version must be text; it was left out")
            del action["app_version"]
    offset = action.get("user_timezone_offset")
    if offset is not None:
        try:
            seconds = int(offset) if not isinstance(offset, bool | float) else None
        except (TypeError, ValueError):
            seconds = None
        if isinstance(offset, float) and offset.is_integer():
            seconds = int(offset)
        if seconds is None or abs(seconds) > MAX_TIMEZONE_OFFSET:
            warnings.append(f"{where}.user_timezone_offset must be seconds within ±54000")
            del action["user_timezone_offset"]
        else:
            action["user_timezone_offset"] = seconds


def _check_action(
    action: object, where: str, now: float, warnings: list[str], context: ConversionContext
) -> dict:
    if not isinstance(action, dict):
        raise MappingError("invalid_action", f"{where}: an action must be a JSON object")
    name = action.get("action")
    if not isinstance(name, str) or not name.strip():
        raise MappingError("invalid_action", f"{where}: action needs a non-empty 'action' name")
    if len(name) > MAX_NAME_LENGTH:
        raise MappingError("invalid_action", f"{where}: action name is over 200 characters")
    if is_unrendered(name):
        raise MappingError("invalid_action", f"{where}: action name {UNRENDERED_WARNING}")
    checked = {key: value for key, value in action.items() if value is not None}
    return check_action_fields(checked, where, now, warnings, context)


def check_action_fields(
    checked: dict,
    where: str,
    now: float,
    warnings: list[str],
    context: ConversionContext,
    attributes_cleaned: bool = False,
) -> dict:
    """The rest of `_check_action` for an action whose name passed and whose None values are
    gone (`checked`, changed in place): text fields, attributes (unless `attributes_cleaned`:
    the caller cleaned them, and the action has no text fields whose warnings come first),
    optional fields, times."""
    for key in _ACTION_TEXT_FIELDS:
        if key in checked and is_unrendered(checked[key]):
            warnings.append(f"{where}.{key} {UNRENDERED_WARNING}; it was left out")
            del checked[key]
    if "attributes" in checked and not attributes_cleaned:
        checked["attributes"] = clean_attributes(
            checked["attributes"], f"{where}.attributes", warnings, MAX_ATTRIBUTES_PER_EVENT
        )
    if checked.keys() & OPTIONAL_ACTION_FIELDS:
        _check_optional_fields(checked, where, warnings)
    for field in ("current_time", "user_time"):
        if field in checked:
            local = field == "user_time"
            value = _moment(checked[field], f"{where}.{field}", warnings, context, local)
            if value is None:
                del checked[field]
            else:
                checked[field] = value
    current = checked.get("current_time")
    if current is not None and (_epoch_seconds(current) or 0) > now + FUTURE_TOLERANCE_SECONDS:
        warnings.append(
            f"{where}.current_time is in the future (check KOGNITIV_TIMEZONE); "
            "MoEngage rejects future events, so the time of receipt is used"
        )
        del checked["current_time"]
    return checked


def _check_customer_flag(checked: dict, index: int, warnings: list[str]) -> None:
    flag = checked.get("update_existing_only")
    if flag is None or isinstance(flag, bool):
        return
    text = str(flag).strip().lower()
    if text in ("true", "false"):
        checked["update_existing_only"] = text == "true"
        return
    warnings.append(f"element {index}.update_existing_only must be true or false; left out")
    del checked["update_existing_only"]


def _check_device(checked: dict, index: int, warnings: list[str]) -> dict:
    """A device element as MoEngage's Track Device API documents it: a device_id, and attributes
    with a platform (ANDROID, iOS, web, TV) and a push_id. Device attribute names are MoEngage's
    own (moe_push_opted, moe_gaid, ...), so only the values are cleaned."""
    where = f"element {index}"
    device_id = checked.get("device_id")
    if not isinstance(device_id, str) or not device_id.strip() or is_unrendered(device_id):
        raise MappingError("invalid_element", f"{where}: a device needs a device_id")
    checked["device_id"] = device_id.strip()
    attributes = checked.get("attributes")
    if not isinstance(attributes, dict):
        raise MappingError("invalid_element", f"{where}: a device needs attributes")
    cleaned = {}
    for name, value in attributes.items():
        value = _clean_value(value, f"{where}.attributes", name, warnings)
        if value is not _DROP and value is not None:
            cleaned[name] = value
    platform = DEVICE_PLATFORMS.get(str(cleaned.get("platform", "")).strip().lower())
    if platform is None:
        allowed = ", ".join(DEVICE_PLATFORMS.values())
        raise MappingError("invalid_element", f"{where}: a device's platform must be {allowed}")
    if not isinstance(cleaned.get("push_id"), str) or not cleaned["push_id"].strip():
        raise MappingError("invalid_element", f"{where}: a device needs attributes.push_id")
    checked["attributes"] = {**cleaned, "platform": platform}
    return checked


def _cleared_names(attributes: object) -> list[str]:
    """The attributes a rule asked to clear (`| unset_if_empty` met an empty value)."""
    if not isinstance(attributes, dict):
        return []
    return [name for name, value in attributes.items() if value is UNSET]


def element_members(element: dict) -> tuple[str, ...]:
    """The member ids a checked element concerns (a merge: both)."""
    if element.get("type") == "merge":
        return tuple(str(element[key]) for key in MERGE_ID_KEYS)
    return (str(element.get("customer_id")),)


def _check_merge(element: dict, index: int) -> dict:
    """A merge names two different members: the merged one goes, the retained one stays."""
    merged, retained = (customer_id(element, index, key) for key in MERGE_ID_KEYS)
    if merged == retained:
        raise MappingError(
            "invalid_merge", f"element {index}: a member cannot be merged into itself"
        )
    return {"type": "merge", "merged_customer_id": merged, "retained_customer_id": retained}


def check_element(
    element: object,
    index: int,
    now: float,
    warnings: list[str],
    kinds: tuple[str, ...] = PASSTHROUGH_ELEMENT_TYPES,
    context: ConversionContext = _UTC_MDY,
) -> dict:
    """Return a copy of one MoEngage element that satisfies the data rules, or raise. `kinds`:
    the element types allowed (a rule's output may also delete or merge members; a
    MoEngage-shaped body may carry devices but never erase anyone). `context`: the program's
    zone and date order, with which current_time and user_time are read."""
    if not isinstance(element, dict):
        raise MappingError("invalid_element", f"element {index} must be a JSON object")
    kind = element.get("type")
    if kind not in kinds:
        names = ", ".join(f"'{name}'" for name in kinds)
        raise MappingError("invalid_element", f"element {index}: type must be one of {names}")
    if kind == "merge":
        return _check_merge(element, index)
    if kind == "delete":
        return {"type": "delete", "customer_id": customer_id(element, index)}
    checked = {key: value for key, value in element.items() if value is not None}
    checked["customer_id"] = customer_id(element, index)
    if kind == "device":
        return _check_device(checked, index, warnings)
    if kind == "customer":
        attributes = element.get("attributes") or {}
        cleared = _cleared_names(attributes)
        if cleared:
            attributes = {k: v for k, v in attributes.items() if v is not UNSET}
            earlier = checked.get("unset_attributes")
            earlier = earlier if isinstance(earlier, list) else []
            checked["unset_attributes"] = [*earlier, *map(unset_rule, cleared)]
        checked["attributes"] = clean_attributes(
            attributes, f"element {index}.attributes", warnings, user=True
        )
        _check_customer_flag(checked, index, warnings)
        return checked
    actions = element.get("actions")
    if not isinstance(actions, list) or not actions:
        raise MappingError("invalid_element", f"element {index}: an event needs actions")
    checked["actions"] = [
        _check_action(action, f"element {index}.actions[{position}]", now, warnings, context)
        for position, action in enumerate(actions)
    ]
    return checked
