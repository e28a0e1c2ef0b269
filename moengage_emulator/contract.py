"""Pure checks of one Data API request against the MoEngage contract.

No sockets and no state here, so every rule can be read (and tested) on its own. The rules and
their order come from /work/shared/docs/moengage-data-api.md. MoEngage documents only a few
error ``type`` strings (``MissingAttributeError``, ``Rate Limits Exceeded``); the others below
are this emulator's own, chosen to be self-explanatory.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import random
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, unquote

SUCCESS_MESSAGE = "Your request has been accepted and will be processed soon."
SINGLE_LIMIT = 131072  # 128 KB for track event / track user
BULK_LIMIT = 102400  # 100 KB for bulk import (the stricter reading of the docs)
ENDPOINTS = ("event", "customer", "device", "transition")  # POST /v1/{endpoint}/{workspace}
USER_OPERATIONS = ("merge", "delete")  # POST /v1/customer/{operation}?app_id={workspace}
MAX_MERGE_PAIRS = 50
# The data overview's list, word for word ("Request Body"), compared without case.
FORBIDDEN_IDS = frozenset(
    {
        *("unknown", "guest", "null", "0", "1", "true", "false", "user_attribute_unique_id"),
        *("(empty)", "na", "n/a", "", "dummy_seller_code", "user_id", "id", "customer_id"),
        *("uid", "userid", "none", "-2", "-1", "2"),
    }
)
# Standard user attributes with the reserved prefix that Track User may create or update (data
# overview "User Attributes", data.yaml UserAttributes): not a policy violation on a user.
STANDARD_MOE_USER_ATTRIBUTES = frozenset(
    {
        *("moe_unsubscribe", "moe_spam", "moe_hard_bounce", "moe_sms_subscription"),
        *("moe_email_optin_status", "moe_wa_subscription", "moe_em_unsub_categories"),
        *("moe_sub_w", "moe_mweb", "moe_gaid"),
    }
)
# "Reserved Keywords for User Attributes" (data overview), word for word: "keys that should not
# be used when tracking user attributes". Compared without case; the standard names above
# (moe_gaid: created through Track User) stay allowed.
RESERVED_USER_ATTRIBUTES = frozenset(
    name.lower()
    for name in (
        *("USER_ATTRIBUTE_UNIQUE_ID", "USER_ATTRIBUTE_USER_EMAIL", "USER_ATTRIBUTE_USER_MOBILE"),
        *("USER_ATTRIBUTE_USER_NAME", "USER_ATTRIBUTE_USER_GENDER"),
        *("USER_ATTRIBUTE_USER_FIRST_NAME", "USER_ATTRIBUTE_USER_LAST_NAME"),
        *("USER_ATTRIBUTE_USER_BDAY", "USER_ATTRIBUTE_NOTIFICATION_PREF", "USER_ATTRIBUTE_OLD_ID"),
        *("MOE_TIME_FORMAT", "MOE_TIME_TIMEZONE", "USER_ATTRIBUTE_DND_START_TIME"),
        *("USER_ATTRIBUTE_DND_END_TIME", "MOE_GAID", "INSTALL", "UPDATE", "MOE_ISLAT"),
        *("status", "user_id", "source"),
    )
)
PLATFORMS = frozenset({"android", "ios", "web", "tv", "unknown"})
DEVICE_PLATFORMS = frozenset({"android", "ios", "web", "tv"})  # data.yaml DeviceAttributes
EPOCH_MS_THRESHOLD = 100_000_000_000  # a larger epoch is milliseconds (year 5138 in seconds)
IDENTITY_TYPES = ("customer_id", "moengage_id")
FUTURE_TOLERANCE = 60.0
MAX_ACTION_ATTRIBUTES = 100
MAX_STRING = 512
MAX_ARRAY = 50
MAX_NAME = 200
BLOCKED_NAMES = frozenset({"id", "_id", ""})
_MISSING = "MissingAttributeError"

_ROUTE = re.compile(r"^/v1/(event|customer|device|transition)/([^/]+)/?$")
_USER_OPERATION = re.compile(r"^/v1/customer/(merge|delete)/?$")
_EPOCH_TEXT = re.compile(r"\d{9,13}", re.ASCII)
_MOE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z)?$")
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_LIKE = re.compile(
    rf"^\s*(\d{{4}}[-/.]\d{{1,2}}[-/.]\d{{1,2}}|\d{{1,2}}[-/.]\d{{1,2}}[-/.]\d{{4}}"
    rf"|\d{{1,2}}\s+{_MONTH}\s+\d{{4}}|{_MONTH}\s+\d{{1,2}},?\s+\d{{4}})",
    re.IGNORECASE,
)


def request_id() -> str:
    """MoEngage tags every answer with an 8-letter id; clients log it, so mimic it."""
    return "".join(random.choices(string.ascii_letters, k=8))


def merge_success_body() -> dict[str, Any]:
    """Merge Users answers with an operation, not a message (data.yaml /customer/merge)."""
    return {"status": "success", "operation": "created"}


def success_body() -> dict[str, Any]:
    """The 200 body: "accepted", not "ingested"."""
    return {"status": "success", "message": SUCCESS_MESSAGE, "request_id": request_id()}


def fail_body(attribute: str | None, message: str, error_type: str) -> dict[str, Any]:
    """MoEngage's failure envelope, shared by every non-2xx answer of the track APIs."""
    error = {"attribute": attribute, "message": message, "type": error_type}
    return {"status": "fail", "error": {**error, "request_id": request_id()}}


@dataclass(frozen=True)
class Problem:
    """Why a request or element is refused: enough to build the failure envelope."""

    attribute: str | None
    message: str
    type: str = "InvalidAttributeError"
    status: int = 400

    def body(self) -> dict[str, Any]:
        return fail_body(self.attribute, self.message, self.type)


@dataclass
class Verdict:
    """What MoEngage would answer, and what it would keep, drop or silently reject."""

    status: int
    body: dict[str, Any]
    accepted: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[Any] = field(default_factory=list)
    rejected: list[tuple[Any, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    merges: list[tuple[str, str]] = field(default_factory=list)  # (merged_user, retained_user)
    deletion: tuple[str, str] | None = None  # (identity_type, identity_value)


def match_route(path: str, query: str = "") -> tuple[str, str | None] | None:
    """``/v1/{endpoint}/{workspace}``, or ``/v1/customer/{merge|delete}?app_id={workspace}``
    (the workspace None when the query has no app_id), so the server can 404 anything else."""
    found = _USER_OPERATION.match(path)
    if found:
        app_ids = parse_qs(query).get("app_id")
        return found.group(1), (app_ids[0] if app_ids else None)
    found = _ROUTE.match(path)
    return (found.group(1), unquote(found.group(2))) if found else None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON: Python would accept NaN/Infinity, MoEngage would not."""
    return json.loads(body, parse_constant=_reject_constant)


def element_count(endpoint: str, body: bytes) -> int:
    """Elements a request carries, for the per-minute quota (which runs before validation)."""
    if endpoint != "transition":
        return 1
    try:
        elements = parse_json(body).get("elements")
    except (ValueError, RecursionError, AttributeError):
        return 1
    return len(elements) if isinstance(elements, list) and elements else 1


def check_request(
    endpoint: str,
    workspace: str | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    app_id: str,
    api_key: str,
    now: float,
) -> Verdict:
    """Apply the contract in MoEngage's order: auth, app key, media type, size, JSON, shape."""
    if endpoint in USER_OPERATIONS:
        return _check_user_operation(endpoint, workspace, headers, body, app_id, api_key)
    problem = (
        _check_auth(headers.get("authorization"), workspace, app_id, api_key)
        or _check_headers(headers, app_id)
        or _check_size(endpoint, len(body))
    )
    if problem:
        return Verdict(problem.status, problem.body())
    try:
        payload = parse_json(body)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        return Verdict(400, fail_body(None, "Malformed JSON payload", "MalformedJSONError"))
    kind = payload.get("type")
    if kind == endpoint:
        return _check_payload(endpoint, payload, now)
    if isinstance(kind, str) and kind.lower() == endpoint:
        dropped = payload.get("elements") if endpoint == "transition" else None
        items = dropped if isinstance(dropped, list) else [payload]
        return Verdict(200, success_body(), dropped=list(items))
    if kind is None:
        return Verdict(400, fail_body("type", "type is not found in the payload", _MISSING))
    message = f"type must be '{endpoint}' for this endpoint"
    return Verdict(400, fail_body("type", message, "InvalidAttributeError"))


def _check_auth(header: str | None, workspace: str, app_id: str, api_key: str) -> Problem | None:
    """401 for any auth doubt, including a workspace in the path that is not this account."""

    def unauthorized(message: str) -> Problem:
        return Problem("Authorization", message, "AuthenticationError", 401)

    if not header:
        return unauthorized("Authorization header is missing")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        return unauthorized("Authorization header must use Basic authentication")
    try:
        user, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return unauthorized("Authorization header could not be decoded")
    same_user = hmac.compare_digest(user.encode(), app_id.encode())
    if not sep or not same_user or not hmac.compare_digest(password.encode(), api_key.encode()):
        return unauthorized("Invalid workspace id or data api key")
    if workspace != app_id:
        return unauthorized("Workspace id in the URL does not match the credentials")
    return None


def _check_headers(headers: Mapping[str, str], app_id: str) -> Problem | None:
    """409 for a contradicting MOE-APPKEY, then 415 for anything but JSON."""
    app_key = headers.get("moe-appkey")
    if app_key is not None and app_key.strip() != app_id:
        return Problem("MOE-APPKEY", "App key mismatch", "AppKeyMismatchError", 409)
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        message = "Content-Type must be application/json"
        return Problem("Content-Type", message, "UnsupportedMediaTypeError", 415)
    return None


def _check_size(endpoint: str, size: int) -> Problem | None:
    """413 past the documented byte limits (bulk is held to 100 KB, the stricter reading)."""
    if endpoint == "transition" and size > BULK_LIMIT:
        return Problem(None, "The payload can not exceed 100KB", "PayloadTooLargeError", 413)
    if size > SINGLE_LIMIT:
        return Problem(None, "The payload can not exceed 128KB", "PayloadTooLargeError", 413)
    return None


def _check_user_operation(
    operation: str,
    workspace: str | None,
    headers: Mapping[str, str],
    body: bytes,
    app_id: str,
    api_key: str,
) -> Verdict:
    """Merge Users and Delete User: the workspace is the app_id query parameter."""
    if not workspace:
        message = "app_id is required in path/query params."
        return Verdict(400, fail_body(None, message, "ParamsRequired"))
    problem = (
        _check_auth(headers.get("authorization"), app_id, app_id, api_key)
        or _check_headers(headers, app_id)
        or _check_size(operation, len(body))
    )
    if problem:
        return Verdict(problem.status, problem.body())
    if workspace != app_id:
        message = "App key mismatch in params and authentication."
        return Verdict(409, fail_body(None, message, "Authentication required."))
    try:
        payload = parse_json(body)
    except (ValueError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        message = "A valid JSON document is required."
        return Verdict(400, fail_body(None, message, "Body type is not JSON"))
    if operation == "merge":
        return _check_merge(payload)
    return _check_delete(payload)


def _check_merge(payload: dict[str, Any]) -> Verdict:
    """``{"merge_data": [{"merged_user": ..., "retained_user": ...}, ...]}``, at most 50 pairs."""
    pairs = payload.get("merge_data")
    if not isinstance(pairs, list) or not pairs:
        problem = Problem("merge_data", "merge_data must be a non-empty array", _MISSING)
        return Verdict(400, problem.body())
    if len(pairs) > MAX_MERGE_PAIRS:
        message = f"A maximum of {MAX_MERGE_PAIRS} users can be merged in a single call"
        return Verdict(400, Problem("merge_data", message).body())
    merges: list[tuple[str, str]] = []
    for pair in pairs:
        if not isinstance(pair, dict):
            return Verdict(400, Problem("merge_data", "each pair must be an object").body())
        for key in ("merged_user", "retained_user"):
            if not isinstance(pair.get(key), str) or not pair[key].strip():
                message = f"{key} is expected to be String or Unicode String."
                return Verdict(400, Problem(key, message, _MISSING).body())
        merges.append((pair["merged_user"], pair["retained_user"]))
    return Verdict(200, merge_success_body(), merges=merges)


def _check_delete(payload: dict[str, Any]) -> Verdict:
    """One user a call: ``{"identity_type": "customer_id", "identity_value": ...}`` (the path's
    body); the components' ``{"identifiers": [{"identifier_type", "identifier"}]}`` reading is
    accepted too, with one identifier."""
    identifiers = payload.get("identifiers")
    if isinstance(identifiers, list) and len(identifiers) == 1:
        first = identifiers[0] if isinstance(identifiers[0], dict) else {}
        kind, value = first.get("identifier_type"), first.get("identifier")
    else:
        kind, value = payload.get("identity_type"), payload.get("identity_value")
    if kind not in IDENTITY_TYPES:
        message = "identity_type must be customer_id or moengage_id"
        return Verdict(400, Problem("identity_type", message, _MISSING).body())
    if not isinstance(value, str) or not value.strip():
        message = "identity_value is not found in the payload"
        return Verdict(400, Problem("identity_value", message, _MISSING).body())
    return Verdict(200, success_body(), deletion=(kind, value))


def _check_payload(endpoint: str, payload: dict[str, Any], now: float) -> Verdict:
    """Single endpoints fail the request on a bad element; bulk answers 200 and drops it."""
    if endpoint != "transition":
        problem = check_element(endpoint, payload, now)
        if problem:
            return Verdict(400, problem.body())
        return Verdict(200, success_body(), [payload], violations=policy_violations(payload))
    elements = payload.get("elements")
    if elements is None:
        problem = Problem("elements", "elements is not found in the payload", _MISSING)
        return Verdict(400, problem.body())
    if not isinstance(elements, list) or not elements:
        return Verdict(400, Problem("elements", "elements must be a non-empty array").body())
    verdict = Verdict(200, success_body())
    for element in elements:
        kind = element.get("type") if isinstance(element, dict) else None
        if isinstance(kind, str) and kind in ("customer", "event", "device"):
            problem = check_element(kind, element, now)
            if problem:
                verdict.rejected.append((element, problem.message))
            else:
                verdict.accepted.append(element)
                verdict.violations.extend(policy_violations(element))
        elif isinstance(kind, str) and kind.lower() in ("customer", "event", "device"):
            verdict.dropped.append(element)
        else:
            verdict.rejected.append((element, "element type must be customer, event or device"))
    return verdict


def check_element(kind: str, element: dict[str, Any], now: float) -> Problem | None:
    """Validate one customer, event or device element (same rules inside and outside a
    transition)."""
    problem = _check_customer_id(element)
    if problem:
        return problem
    if kind == "event":
        return _check_event(element, now)
    if kind == "device":
        return _check_device(element)
    attributes = element.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        return Problem("attributes", "attributes must be an object")
    flag = element.get("update_existing_only")
    if flag is not None and not isinstance(flag, bool):
        return Problem("update_existing_only", "update_existing_only must be a boolean")
    return None


def _check_device(element: dict[str, Any]) -> Problem | None:
    """Track Device: a device_id and attributes with a platform and a push_id (data.yaml
    CreateDeviceRequest; the 400 examples). RudderStack sends ``android``: the platform is read
    without case."""
    device_id = element.get("device_id")
    if device_id is None:
        return Problem("device_id", "'device_id' is not found in the payload", _MISSING)
    if not isinstance(device_id, str) or not device_id.strip():
        return Problem("device_id", "device_id must be a non-empty string")
    attributes = element.get("attributes")
    if attributes is None:
        return Problem("attributes", "'attributes' is not found in the payload", _MISSING)
    if not isinstance(attributes, dict):
        return Problem("attributes", "attributes must be an object")
    platform = attributes.get("platform")
    if platform is None:
        return Problem("platform", "'platform' is not found in payload", _MISSING)
    if not isinstance(platform, str) or platform.lower() not in DEVICE_PLATFORMS:
        return Problem("platform", "'platform' is not a valid platform.", "ValueError")
    if attributes.get("push_id") is None:
        return Problem("push_id", "'push_id' is not found in payload", _MISSING)
    return None


def _check_customer_id(element: dict[str, Any]) -> Problem | None:
    """Anonymous and placeholder ids are refused: they would merge unrelated people."""
    if "customer_id" not in element or element["customer_id"] is None:
        return Problem("customer_id", "customer_id is not found in the payload", _MISSING)
    value = element["customer_id"]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return Problem("customer_id", "customer_id must be a string or a number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if str(value).strip().lower() in FORBIDDEN_IDS:
        return Problem("customer_id", f"customer_id {str(value)!r} is not allowed")
    return None


def _check_event(element: dict[str, Any], now: float) -> Problem | None:
    actions = element.get("actions")
    if actions is None:
        return Problem("actions", "actions is not found in the payload", _MISSING)
    if not isinstance(actions, list) or not actions:
        return Problem("actions", "actions must be a non-empty array")
    for action in actions:
        problem = _check_action(action, now)
        if problem:
            return problem
    return None


def _check_action(action: Any, now: float) -> Problem | None:
    if not isinstance(action, dict):
        return Problem("actions", "each action must be an object")
    name = action.get("action")
    if not isinstance(name, str) or not name.strip():
        return Problem("action", "action must be a non-empty string")
    if "attributes" in action and not isinstance(action["attributes"], dict):
        return Problem("attributes", "attributes must be an object")
    platform = action.get("platform")
    if platform is not None and str(platform).lower() not in PLATFORMS:
        return Problem("platform", "platform must be one of ANDROID, iOS, web, TV, unknown")
    for key in ("current_time", "user_time"):
        if key in action and _timestamp(action[key]) is None:
            message = f"{key} must be ISO 8601 with a time zone or epoch seconds or milliseconds"
            return Problem(key, message)
    current = _timestamp(action.get("current_time"))
    if current is not None and current > now + FUTURE_TOLERANCE:
        return Problem("current_time", "current_time can not be in the future")
    offset = action.get("user_timezone_offset")
    if offset is not None and not (
        isinstance(offset, int) and not isinstance(offset, bool) and -54000 <= offset <= 54000
    ):
        return Problem("user_timezone_offset", "user_timezone_offset must be -54000..54000")
    return None


def _timestamp(value: Any) -> float | None:
    """Epoch seconds of an ISO 8601 string with zone, or of an epoch in seconds or milliseconds
    (a number, or digits as text as the reference's examples send them); None if neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and _EPOCH_TEXT.fullmatch(value.strip()):
        number = float(value.strip())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed.timestamp() if parsed.tzinfo is not None else None
    else:
        return None
    return number / 1000 if abs(number) >= EPOCH_MS_THRESHOLD else number


def policy_violations(element: dict[str, Any]) -> list[str]:
    """Data-policy problems MoEngage would not refuse but would silently mangle or drop."""
    kind = element.get("type")
    if kind not in ("customer", "event"):
        return []
    who = f"{kind} {element.get('customer_id')!r}"
    found: list[str] = []
    if kind == "customer":
        attributes = element.get("attributes")
        if isinstance(attributes, dict):
            found.extend(_attribute_violations(who, attributes, STANDARD_MOE_USER_ATTRIBUTES, True))
        return found
    for action in element.get("actions") or []:
        name = action.get("action", "")
        where = f"{who} action {name!r}"
        if len(name) > MAX_NAME:
            found.append(f"{where}: event name longer than {MAX_NAME} characters")
        attributes = action.get("attributes")
        if not isinstance(attributes, dict):
            continue
        if len(attributes) > MAX_ACTION_ATTRIBUTES:
            found.append(f"{where}: {len(attributes)} attributes (max {MAX_ACTION_ATTRIBUTES})")
        found.extend(_attribute_violations(where, attributes))
    return found


def _attribute_violations(
    where: str,
    attributes: dict[str, Any],
    standard: frozenset[str] = frozenset(),
    user: bool = False,
) -> list[str]:
    found: list[str] = []
    for name, value in attributes.items():
        label = f"{where}: attribute {name!r}"
        reserved = name.lower().startswith("moe_") and name not in standard
        if name.strip().lower() in BLOCKED_NAMES or reserved:
            found.append(f"{label}: name is blocked by MoEngage")
        elif user and name not in standard and name.lower() in RESERVED_USER_ATTRIBUTES:
            found.append(f"{label}: name is reserved by MoEngage for user attributes")
        if len(name) > MAX_NAME:
            found.append(f"{label}: name longer than {MAX_NAME} characters")
        found.extend(_value_violations(label, value))
    return found


def _value_violations(label: str, value: Any) -> list[str]:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return [f"{label}: string of {len(value)} characters (max {MAX_STRING}, truncated)"]
        if _DATE_LIKE.match(value) and not _MOE_DATE.match(value):
            return [
                f"{label}: {value!r} looks like a date but is not YYYY-MM-DDTHH:MM:SSZ "
                "or YYYY-MM-DD, so MoEngage stores it as a plain string"
            ]
        return []
    if isinstance(value, list):
        found = [f"{label}: array of {len(value)} items (max {MAX_ARRAY})"]
        found = found if len(value) > MAX_ARRAY else []
        for item in value:
            found.extend(_value_violations(label, item))
        return found
    if isinstance(value, dict):
        return [bad for item in value.values() for bad in _value_violations(label, item)]
    return []
