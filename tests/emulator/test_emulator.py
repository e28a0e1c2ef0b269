"""The MoEngage emulator over real sockets: contract answers, recording, faults, quota, control API.

Other suites trust the emulator to be as strict as MoEngage, so its answers are pinned exactly.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from moengage_emulator import Emulator, Fault, RecordedRequest

APP_ID, API_KEY = "test-app", "test-key"
NOW = 1_773_480_000.0  # 2026-03-14T09:20:00Z, frozen so time rules are deterministic
SUCCESS = {
    "status": "success",
    "message": "Your request has been accepted and will be processed soon.",
}
EVENT = {
    "type": "event",
    "customer_id": "M-1001",
    "actions": [
        {
            "action": "rewards_issued",
            "attributes": {"reward_type": "Choice", "issued_date": "2026-03-01T10:00:00Z"},
            "current_time": "2026-03-01T10:00:00Z",
            "platform": "web",
        }
    ],
}
CUSTOMER = {
    "type": "customer",
    "customer_id": "M-1001",
    "attributes": {"email": "a@example.com", "first_name": "Ana", "points_balance": 1250},
}


class FakeClock:
    """A settable clock, injected so quota windows and future checks need no sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def auth(app_id: str = APP_ID, api_key: str = API_KEY) -> str:
    return "Basic " + base64.b64encode(f"{app_id}:{api_key}".encode()).decode()


HEADERS = {"Authorization": auth(), "Content-Type": "application/json"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Iterator[Emulator]:
    with Emulator(app_id=APP_ID, api_key=API_KEY, clock=clock) as em:
        yield em


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, headers=HEADERS, timeout=5) as http:
        yield http


def post(client: httpx.Client, kind: str, payload: Any, **kwargs: Any) -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(f"/v1/{kind}/{APP_ID}", content=content, **kwargs)


def without_id(body: dict[str, Any]) -> dict[str, Any]:
    """The body with its random request_id checked (8 letters) and removed."""
    holder = body["error"] if body.get("status") == "fail" else body
    assert re.fullmatch(r"[A-Za-z]{8}", holder.pop("request_id"))
    return body


def fail(attribute: str | None, message: str, error_type: str) -> dict[str, Any]:
    error = {"attribute": attribute, "message": message, "type": error_type}
    return {"status": "fail", "error": error}


# success ---------------------------------------------------------------------------------------
def test_event_is_accepted_and_recorded(emulator: Emulator, client: httpx.Client) -> None:
    response = post(client, "event", EVENT)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert without_id(response.json()) == SUCCESS
    assert response.headers["x-ratelimit-limit"] == "60000"
    assert response.headers["x-ratelimit-remaining"] == "59999"
    assert response.headers["x-ratelimit-reset"] == "60"
    assert emulator.accepted == [EVENT]
    assert emulator.dropped == emulator.rejected_elements == emulator.violations == []
    [recorded] = emulator.requests
    assert isinstance(recorded, RecordedRequest)
    assert (recorded.method, recorded.path, recorded.query) == ("POST", "/v1/event/test-app", "")
    assert recorded.headers["authorization"] == auth()
    assert recorded.headers["content-type"] == "application/json"
    assert json.loads(recorded.body) == EVENT
    assert recorded.status == 200
    assert recorded.response == response.json()


def test_customer_is_accepted(emulator: Emulator, client: httpx.Client) -> None:
    payload = {**CUSTOMER, "update_existing_only": True}
    response = post(client, "customer", payload, headers={"MOE-APPKEY": APP_ID})

    assert response.status_code == 200
    assert without_id(response.json()) == SUCCESS
    assert emulator.accepted == [payload]


def test_transition_accepts_every_element(emulator: Emulator, client: httpx.Client) -> None:
    device = {
        "type": "device",
        "customer_id": "M-1001",
        "device_id": "d-1",
        "attributes": {"platform": "ANDROID", "push_id": "token-1"},
    }
    elements = [CUSTOMER, EVENT, device]
    response = post(client, "transition", {"type": "transition", "elements": elements})

    assert response.status_code == 200
    assert without_id(response.json()) == SUCCESS
    assert response.headers["x-ratelimit-remaining"] == "59997"
    assert emulator.accepted == elements


def test_accepted_lists_are_copies(emulator: Emulator, client: httpx.Client) -> None:
    post(client, "customer", CUSTOMER)
    emulator.accepted[0]["customer_id"] = "changed"
    emulator.requests.clear()

    assert emulator.accepted == [CUSTOMER]
    assert len(emulator.requests) == 1


# errors, in the order MoEngage checks them ------------------------------------------------------
@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Authentication Header Required"),
        (
            "Bearer abc",
            "Invalid authorization used. MoEngage only supports 'Basic Auth' authorization.",
        ),
        ("Basic !!!not-base64", "Authorization details are missing"),
        (
            auth(api_key="wrong"),
            "App Secret key mismatch. Please login to the dashboard to verify key",
        ),
        (
            auth(app_id="other-app"),
            "App Secret key mismatch. Please login to the dashboard to verify key",
        ),
    ],
)  # the messages and type of data.yaml's 401 examples
def test_bad_auth_is_401(
    emulator: Emulator, client: httpx.Client, authorization: str | None, message: str
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    request = client.build_request("POST", f"/v1/event/{APP_ID}", json=EVENT)
    request.headers.pop("Authorization")
    request.headers.update(headers)
    response = client.send(request)

    assert response.status_code == 401
    assert without_id(response.json()) == fail(None, message, "Authentication required")
    assert emulator.accepted == []
    assert emulator.requests[0].status == 401


def test_a_workspace_in_the_path_other_than_the_credentials_is_409(
    emulator: Emulator, client: httpx.Client
) -> None:
    response = client.post("/v1/event/other-app", json=EVENT)

    assert response.status_code == 409  # data.yaml 409 "appkey_mismatch"
    message = "App key mismatch in params and authentication."
    assert without_id(response.json()) == fail(None, message, "Authentication required")
    assert emulator.accepted == []


def test_a_moe_appkey_other_than_the_basic_user_is_401(client: httpx.Client) -> None:
    response = post(client, "event", EVENT, headers={"MOE-APPKEY": "other-app"})

    assert response.status_code == 401  # data.yaml 401 "incorrect_header"
    message = "MOE_APPKEY doesn't match the Username (APP_KEY) used in Basic Auth authorization."
    assert without_id(response.json()) == fail(None, message, "Authentication required")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_media_type_is_415(client: httpx.Client, content_type: str) -> None:
    response = post(client, "event", EVENT, headers={"Content-Type": content_type})

    assert response.status_code == 415
    assert without_id(response.json()) == fail(
        "Content-Type", "Content-Type must be application/json", "UnsupportedMediaTypeError"
    )


def test_json_with_charset_is_accepted(client: httpx.Client) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert post(client, "event", EVENT, headers=headers).status_code == 200


def padded(payload: dict[str, Any], size: int) -> bytes:
    """The payload as exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = json.dumps(payload).encode()
    return raw + b" " * (size - len(raw))


def test_transition_over_100kb_is_413(emulator: Emulator, client: httpx.Client) -> None:
    payload = {"type": "transition", "elements": [CUSTOMER]}
    assert post(client, "transition", padded(payload, 102400)).status_code == 200
    response = post(client, "transition", padded(payload, 102401))

    assert response.status_code == 413
    assert without_id(response.json()) == fail(
        None, "The payload can not exceed 100KB", "PayloadTooLargeError"
    )
    assert len(emulator.accepted) == 1


def test_event_over_128kb_is_413(emulator: Emulator, client: httpx.Client) -> None:
    assert post(client, "event", padded(EVENT, 131072)).status_code == 200
    response = post(client, "event", padded(EVENT, 131073))

    assert response.status_code == 413
    assert without_id(response.json()) == fail(
        None, "The payload can not exceed 128KB", "PayloadTooLargeError"
    )


def test_body_over_read_cap_is_413_and_closed(client: httpx.Client) -> None:
    response = post(client, "event", b" " * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert response.headers["connection"] == "close"


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"type": "event", "x": NaN}', b"[]", b'"event"', b"\xff\xfe"]
)
def test_malformed_json_is_400(client: httpx.Client, body: bytes) -> None:
    response = post(client, "event", body)

    assert response.status_code == 400
    assert without_id(response.json()) == fail(None, "Malformed JSON payload", "MalformedJSONError")


@pytest.mark.parametrize(
    ("customer_id", "shown"),
    [("null", "null"), ("0", "0"), (0, "0"), (" NULL ", " NULL "), ("", "")],
)
def test_forbidden_customer_id_is_400(client: httpx.Client, customer_id: Any, shown: str) -> None:
    response = post(client, "event", {**EVENT, "customer_id": customer_id})

    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "customer_id", f"customer_id {shown!r} is not allowed", "InvalidAttributeError"
    )


def test_missing_customer_id_is_400(client: httpx.Client) -> None:
    payload = {k: v for k, v in CUSTOMER.items() if k != "customer_id"}
    response = post(client, "customer", payload)

    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "customer_id", "customer_id is not found in the payload", "MissingAttributeError"
    )


def test_empty_actions_is_400(client: httpx.Client) -> None:
    response = post(client, "event", {**EVENT, "actions": []})

    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "actions", "actions must be a non-empty array", "InvalidAttributeError"
    )


@pytest.mark.parametrize(
    ("action", "attribute", "message"),
    [
        ({"action": ""}, "action", "action must be a non-empty string"),
        ({"action": "x", "attributes": []}, "attributes", "attributes must be an object"),
        (
            {"action": "x", "platform": "windows"},
            "platform",
            "platform must be one of ANDROID, iOS, web, TV, unknown",
        ),
        (
            {"action": "x", "user_time": "03/14/2026"},
            "user_time",
            "user_time must be ISO 8601 with a time zone or epoch seconds or milliseconds",
        ),
    ],
)
def test_bad_action_is_400(
    client: httpx.Client, action: dict[str, Any], attribute: str, message: str
) -> None:
    response = post(client, "event", {**EVENT, "actions": [action]})

    assert response.status_code == 400
    assert without_id(response.json()) == fail(attribute, message, "InvalidAttributeError")


@pytest.mark.parametrize("current_time", ["2026-03-14T09:21:01Z", NOW + 61])
def test_future_current_time_is_400(client: httpx.Client, current_time: Any) -> None:
    action = {"action": "x", "current_time": current_time}
    response = post(client, "event", {**EVENT, "actions": [action]})

    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "current_time", "current_time can not be in the future", "InvalidAttributeError"
    )


@pytest.mark.parametrize(
    "current_time", ["2026-03-14T09:20:59Z", "2026-03-14T11:20:00+02:00", NOW + 60, NOW - 3600]
)
def test_current_time_up_to_a_minute_ahead_is_fine(client: httpx.Client, current_time: Any) -> None:
    action = {"action": "x", "current_time": current_time, "platform": "ANDROID"}
    assert post(client, "event", {**EVENT, "actions": [action]}).status_code == 200


def test_wrong_case_type_is_accepted_but_dropped(emulator: Emulator, client: httpx.Client) -> None:
    payload = {**EVENT, "type": "Event"}
    response = post(client, "event", payload)

    assert response.status_code == 200
    assert without_id(response.json()) == SUCCESS
    assert emulator.accepted == []
    assert emulator.dropped == [payload]


def test_other_type_is_400(client: httpx.Client) -> None:
    response = post(client, "event", CUSTOMER)

    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "type", "type must be 'event' for this endpoint", "InvalidAttributeError"
    )


def test_transition_bad_element_still_answers_200(emulator: Emulator, client: httpx.Client) -> None:
    bad_event = {**EVENT, "customer_id": "guest"}
    wrong_case = {**CUSTOMER, "type": "Customer"}
    unknown = {"type": "order", "customer_id": "M-1"}
    elements = [CUSTOMER, bad_event, wrong_case, unknown]
    response = post(client, "transition", {"type": "transition", "elements": elements})

    assert response.status_code == 200
    assert without_id(response.json()) == SUCCESS
    assert emulator.accepted == [CUSTOMER]
    assert emulator.dropped == [wrong_case]
    assert emulator.rejected_elements == [
        (bad_event, "customer_id 'guest' is not allowed"),
        (unknown, "element type must be customer, event or device"),
    ]


def test_transition_without_elements_is_400(client: httpx.Client) -> None:
    response = post(client, "transition", {"type": "transition", "elements": []})

    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "elements", "elements must be a non-empty array", "InvalidAttributeError"
    )


def test_unknown_path_is_404_and_other_method_405(client: httpx.Client) -> None:
    missing = client.post(f"/v1/merge/{APP_ID}", json=EVENT)
    wrong_method = client.get(f"/v1/event/{APP_ID}")

    assert missing.status_code == 404
    assert without_id(missing.json()) == fail(None, "Not Found", "NotFoundError")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert without_id(wrong_method.json()) == fail(
        None, "Method Not Allowed", "MethodNotAllowedError"
    )


# faults ---------------------------------------------------------------------------------------
def test_fault_status_with_headers_then_normal(emulator: Emulator, client: httpx.Client) -> None:
    fault = emulator.inject(status=429, headers={"x-ratelimit-reset": "3"})
    assert isinstance(fault, Fault)

    limited = post(client, "event", EVENT)
    normal = post(client, "event", EVENT)

    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-reset"] == "3"
    assert without_id(limited.json()) == fail(None, "Rate limit exceeded", "Rate Limits Exceeded")
    assert normal.status_code == 200
    assert [r.status for r in emulator.requests] == [429, 200]
    assert emulator.accepted == [EVENT]


def test_fault_times_are_consumed(emulator: Emulator, client: httpx.Client) -> None:
    emulator.inject(status=503, times=2)

    statuses = [post(client, "event", EVENT).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    first = without_id(emulator.requests[0].response or {})
    assert first == fail(None, "Internal server error", "InternalServerError")


def test_fault_custom_body_and_path_prefix(emulator: Emulator, client: httpx.Client) -> None:
    emulator.inject(status=500, body={"oops": True}, path_prefix="/v1/customer/")

    event = post(client, "event", EVENT)
    customer = post(client, "customer", CUSTOMER)

    assert event.status_code == 200
    assert customer.status_code == 500
    assert customer.json() == {"oops": True}


def test_drop_fault_resets_the_connection(emulator: Emulator, client: httpx.Client) -> None:
    emulator.inject(drop=True)

    with pytest.raises(httpx.TransportError):
        post(client, "event", EVENT)

    assert post(client, "event", EVENT).status_code == 200
    assert [r.status for r in emulator.requests] == [0, 200]
    assert emulator.requests[0].response is None
    assert emulator.accepted == [EVENT]


def test_latency_fault_and_global_latency(emulator: Emulator, client: httpx.Client) -> None:
    emulator.inject(latency=0.2)
    started = time.monotonic()
    assert post(client, "event", EVENT).status_code == 200
    assert time.monotonic() - started >= 0.2

    emulator.latency = 0.1
    started = time.monotonic()
    assert post(client, "event", EVENT).status_code == 200
    assert 0.1 <= time.monotonic() - started < 0.25  # the one-shot 0.2 s fault is used up


def test_fault_arguments_are_checked(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="times"):
        emulator.inject(status=500, times=0)
    with pytest.raises(ValueError, match="status"):
        emulator.inject(status=42)


# quota ------------------------------------------------------------------------------------------
def test_quota_is_all_or_nothing_per_window(clock: FakeClock) -> None:
    clock.now = NOW + 40  # NOW starts a minute window: 20 s left
    with (
        Emulator(app_id=APP_ID, api_key=API_KEY, quota_per_minute=3, clock=clock) as em,
        httpx.Client(base_url=em.base_url, headers=HEADERS, timeout=5) as client,
    ):
        two = {"type": "transition", "elements": [CUSTOMER, CUSTOMER]}
        first = post(client, "transition", two)
        unauthorised = client.post("/v1/event/test-app", json=EVENT, headers={"Authorization": ""})
        too_many = post(client, "transition", two)
        last = post(client, "event", EVENT)
        clock.now = NOW + 45.5
        over = post(client, "event", EVENT)
        clock.now = NOW + 60
        next_window = post(client, "event", EVENT)

    assert first.status_code == 200
    assert (first.headers["x-ratelimit-limit"], first.headers["x-ratelimit-remaining"]) == (
        "3",
        "1",
    )
    assert unauthorised.status_code == 401
    assert too_many.status_code == 429
    assert last.status_code == 200
    assert last.headers["x-ratelimit-remaining"] == "0"
    assert over.status_code == 429
    assert over.headers["x-ratelimit-limit"] == "3"
    assert over.headers["x-ratelimit-remaining"] == "0"
    assert over.headers["x-ratelimit-reset"] == "15"
    assert without_id(over.json()) == fail(
        None, "Rate limit of 3 elements per minute exceeded", "Rate Limits Exceeded"
    )
    assert next_window.status_code == 200
    assert next_window.headers["x-ratelimit-remaining"] == "2"
    assert next_window.headers["x-ratelimit-reset"] == "60"


# data policy ------------------------------------------------------------------------------------
def test_violations_for_bad_dates_and_long_strings(
    emulator: Emulator, client: httpx.Client
) -> None:
    attributes = {
        "ok_datetime": "2026-03-14T09:30:00Z",
        "ok_fraction": "2026-03-14T09:30:00.123456Z",
        "ok_date": "2026-03-14",
        "ok_epoch": 1773480600,
        "ok_text": "Choice 2026",
        "us_date": "03/14/2026 09:30:00",
        "offset_date": "2026-03-14T09:30:00+02:00",
        "long": "x" * 513,
    }
    response = post(client, "customer", {**CUSTOMER, "attributes": attributes})

    assert response.status_code == 200
    assert emulator.violations == [
        "customer 'M-1001': attribute 'us_date': '03/14/2026 09:30:00' looks like a date but is "
        "not YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD, so MoEngage stores it as a plain string",
        "customer 'M-1001': attribute 'offset_date': '2026-03-14T09:30:00+02:00' looks like a "
        "date but is not YYYY-MM-DDTHH:MM:SSZ or YYYY-MM-DD, so MoEngage stores it as a plain "
        "string",
        "customer 'M-1001': attribute 'long': string of 513 characters (max 512, truncated)",
    ]


def test_violations_for_names_counts_and_arrays(emulator: Emulator, client: httpx.Client) -> None:
    attributes: dict[str, Any] = {f"a{i}": i for i in range(99)}
    attributes |= {"moe_points": 1, "tags": list(range(51))}
    action = {"action": "big", "attributes": attributes}
    assert post(client, "event", {**EVENT, "actions": [action]}).status_code == 200

    assert emulator.violations == [
        "event 'M-1001' action 'big': 101 attributes (max 100)",
        "event 'M-1001' action 'big': attribute 'moe_points': name is blocked by MoEngage",
        "event 'M-1001' action 'big': attribute 'tags': array of 51 items (max 50)",
    ]


def test_clean_fixture_data_has_no_violations(emulator: Emulator, client: httpx.Client) -> None:
    post(client, "event", EVENT)
    post(client, "customer", CUSTOMER)
    assert emulator.violations == []


# control API ------------------------------------------------------------------------------------
def test_control_api(emulator: Emulator, client: httpx.Client) -> None:
    control = httpx.Client(base_url=emulator.base_url, timeout=5)
    with control:
        assert control.get("/_emulator/health").json() == {"status": "ok"}
        created = control.post("/_emulator/faults", json={"status": 500, "times": 1})
        assert created.status_code == 201
        assert created.json()["fault"]["status"] == 500

        assert post(client, "event", EVENT).status_code == 500
        assert post(client, "event", {**EVENT, "type": "EVENT"}).status_code == 200
        assert post(client, "customer", CUSTOMER).status_code == 200

        accepted = control.get("/_emulator/accepted")
        assert accepted.json() == {
            "accepted": [CUSTOMER],
            "dropped": [{**EVENT, "type": "EVENT"}],
            "rejected": [],
            "violations": [],
        }
        log = control.get("/_emulator/requests")
        assert [(r["method"], r["path"], r["status"]) for r in log.json()] == [
            ("POST", "/v1/event/test-app", 500),
            ("POST", "/v1/event/test-app", 200),
            ("POST", "/v1/customer/test-app", 200),
        ]
        assert log.json()[2]["size"] == len(json.dumps(CUSTOMER))
        assert "authorization" not in log.text.lower()
        assert auth().split()[1] not in log.text

        latency = control.put("/_emulator/latency", json={"seconds": 0.02})
        assert latency.json() == {"latency": 0.02}
        assert emulator.latency == 0.02

        bad = control.post("/_emulator/faults", json={"status": 500, "bogus": 1})
        assert bad.status_code == 400
        assert control.get("/_emulator/nothing").status_code == 404
        assert control.get("/_emulator/reset").status_code == 405

        control.post("/_emulator/faults", json={"status": 503})
        assert control.post("/_emulator/reset").json() == {"status": "ok"}
        assert emulator.requests == []
        assert control.get("/_emulator/accepted").json()["accepted"] == []
        assert post(client, "event", EVENT).status_code == 200  # the pending fault is gone


def test_stop_closes_listening_and_keep_alive_sockets() -> None:
    em = Emulator(app_id=APP_ID, api_key=API_KEY).start()
    port = int(em.base_url.rsplit(":", 1)[1])
    with httpx.Client(base_url=em.base_url, headers=HEADERS, timeout=5) as client:
        assert post(client, "customer", CUSTOMER).status_code == 200  # leaves a pooled connection
        started = time.monotonic()
        em.stop()
        assert time.monotonic() - started < 1
        with pytest.raises(httpx.TransportError):
            post(client, "customer", CUSTOMER)

    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_cli_help_exits_zero() -> None:
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "moengage_emulator", "--help"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 0
    for option in ("--port", "--app-id", "--api-key", "--latency-ms", "--quota-per-minute"):
        assert option in result.stdout
    assert "/_emulator/accepted" in result.stdout
