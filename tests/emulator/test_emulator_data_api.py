"""The emulator accepts what MoEngage documents and implements the rest of the Data API surface
the bridge may use (device, merge, delete, bulk device elements), over real sockets.

Sources: MoEngage's Data API reference (`moengage/moengage-documentation`, api/data/data.yaml
and api/data/data-overview.mdx).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from moengage_emulator import Emulator
from tests.conftest import call_webhook, http_request

APP_ID, API_KEY = "test-app", "test-key"
NOW = 1_773_480_000.0  # 2026-03-14T09:20:00Z
SUCCESS = {
    "status": "success",
    "message": "Your request has been accepted and will be processed soon.",
}
DOCUMENTED_FORBIDDEN_IDS = [
    *("unknown", "guest", "null", "0", "1", "true", "false", "user_attribute_unique_id"),
    *("(empty)", "na", "n/a", "", "dummy_seller_code", "user_id", "id", "customer_id", "uid"),
    *("userid", "none", "-2", "-1", "2"),
]
DEVICE = {
    "type": "device",
    "customer_id": "M-1",
    "device_id": "d-1",
    "attributes": {"platform": "ANDROID", "push_id": "token-1", "model": "Pixel"},
}


def auth(app_id: str = APP_ID, api_key: str = API_KEY) -> str:
    return "Basic " + base64.b64encode(f"{app_id}:{api_key}".encode()).decode()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(app_id=APP_ID, api_key=API_KEY, clock=lambda: NOW) as em:
        yield em


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    # MOE-APPKEY as RudderStack's MoEngage destination sends it on every call (Merge Users
    # documents a 401 "MOE-APPKEY is missing in Header")
    headers = {"Authorization": auth(), "Content-Type": "application/json", "MOE-APPKEY": APP_ID}
    with httpx.Client(base_url=emulator.base_url, headers=headers, timeout=5) as http:
        yield http


def without_id(body: dict) -> dict:
    body = dict(body)
    body.pop("request_id", None)
    if isinstance(body.get("error"), dict):
        body["error"] = {k: v for k, v in body["error"].items() if k != "request_id"}
    return body


def fail(attribute: str | None, message: str, error_type: str) -> dict:
    return {
        "status": "fail",
        "error": {"attribute": attribute, "message": message, "type": error_type},
    }


def event(current_time: object) -> dict:
    return {
        "type": "event",
        "customer_id": "M-1",
        "actions": [{"action": "visit", "current_time": current_time}],
    }


def customer(customer_id: str, **attributes: object) -> dict:
    return {"type": "customer", "customer_id": customer_id, "attributes": attributes}


# --- 11. what MoEngage documents is accepted -------------------------------------------------


@pytest.mark.parametrize(
    "current_time",
    [
        "1773479000",  # epoch seconds as text (the reference's array example)
        "1773479000000",  # epoch milliseconds as text (the reference's standard example)
        1773479000000,  # epoch milliseconds as a number, in the past
        1773479000,
        "2026-03-14T09:00:00Z",
    ],
)
def test_documented_current_time_forms_are_accepted(client, emulator, current_time) -> None:
    response = client.post(f"/v1/event/{APP_ID}", json=event(current_time))
    assert response.status_code == 200
    assert emulator.accepted == [event(current_time)]


@pytest.mark.parametrize("current_time", [1773490000000, "1773490000000", "1773490000"])
def test_future_epochs_in_seconds_or_milliseconds_are_refused(client, current_time) -> None:
    response = client.post(f"/v1/event/{APP_ID}", json=event(current_time))
    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "current_time", "current_time can not be in the future", "InvalidAttributeError"
    )


def test_standard_user_attributes_are_no_policy_violation(client, emulator) -> None:
    body = customer("M-1", moe_unsubscribe=True, moe_sms_subscription="x", moe_custom=1)
    response = client.post(f"/v1/customer/{APP_ID}", json=body)
    assert response.status_code == 200
    assert emulator.violations == [
        "customer 'M-1': attribute 'moe_custom': name is blocked by MoEngage"
    ]


@pytest.mark.parametrize("path", [f"/v1/customer/{APP_ID}", f"/v1/transition/{APP_ID}"])
def test_unset_attributes_clear_only_the_named_attributes(client, emulator, path) -> None:
    seeded = client.post(
        f"/v1/customer/{APP_ID}", json=customer("M-1", email="a@x.io", city="Oslo")
    )
    assert seeded.status_code == 200
    element = {
        **customer("M-1", tier="Gold"),
        "unset_attributes": [{"type": "equals", "attr": "email"}],
    }
    body = {"type": "transition", "elements": [element]} if "transition" in path else element

    response = client.post(path, json=body)

    assert response.status_code == 200
    assert emulator.profiles == {"M-1": {"city": "Oslo", "tier": "Gold"}}


@pytest.mark.parametrize("forbidden", DOCUMENTED_FORBIDDEN_IDS)
def test_every_documented_forbidden_id_is_refused(client, emulator, forbidden) -> None:
    for value in {forbidden, forbidden.upper()}:
        response = client.post(f"/v1/customer/{APP_ID}", json=customer(value, a=1))
        assert response.status_code == 400
        assert response.json()["error"]["attribute"] == "customer_id"
    bulk = {"type": "transition", "elements": [customer(forbidden, a=1), customer("M-1", a=1)]}
    assert client.post(f"/v1/transition/{APP_ID}", json=bulk).status_code == 200
    assert emulator.accepted == [customer("M-1", a=1)]
    assert [element for element, _ in emulator.rejected_elements] == [customer(forbidden, a=1)]


# --- 12. device, merge, delete, bulk device elements -----------------------------------------


def test_track_device(client, emulator) -> None:
    lower_case = {**DEVICE, "attributes": {**DEVICE["attributes"], "platform": "android"}}
    for body in (DEVICE, lower_case):
        response = client.post(f"/v1/device/{APP_ID}", json=body)
        assert response.status_code == 200
        assert without_id(response.json()) == SUCCESS
    assert emulator.accepted == [DEVICE, lower_case]
    assert emulator.requests[0].path == f"/v1/device/{APP_ID}"


MISSING = "MissingAttributeError"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"customer_id": None},
            ("customer_id", "customer_id is not found in the payload", MISSING),
        ),
        ({"attributes": None}, ("attributes", "'attributes' is not found in the payload", MISSING)),
        ({"device_id": None}, ("device_id", "'device_id' is not found in the payload", MISSING)),
        (
            {"attributes": {"push_id": "t"}},
            ("platform", "'platform' is not found in payload", MISSING),
        ),
        (
            {"attributes": {"platform": "Windows", "push_id": "t"}},
            ("platform", "'platform' is not a valid platform.", "ValueError"),
        ),
        (
            {"attributes": {"platform": "iOS"}},
            ("push_id", "'push_id' is not found in payload", MISSING),
        ),
    ],
)
def test_track_device_refusals_as_documented(client, emulator, change, expected) -> None:
    body = {key: value for key, value in {**DEVICE, **change}.items() if value is not None}
    response = client.post(f"/v1/device/{APP_ID}", json=body)
    assert response.status_code == 400
    assert without_id(response.json()) == fail(*expected)
    assert emulator.accepted == []


def test_bulk_device_elements_are_checked_like_track_device(client, emulator) -> None:
    bad = {**DEVICE, "attributes": {"platform": "iOS"}}
    body = {"type": "transition", "elements": [DEVICE, bad]}
    response = client.post(f"/v1/transition/{APP_ID}", json=body)
    assert response.status_code == 200
    assert emulator.accepted == [DEVICE]
    assert emulator.rejected_elements == [(bad, "'push_id' is not found in payload")]


def merge_body(*pairs: tuple[object, object]) -> dict:
    return {"merge_data": [{"merged_user": m, "retained_user": r} for m, r in pairs]}


def test_merge_users_moves_attributes_to_the_retained_user(client, emulator) -> None:
    client.post(f"/v1/customer/{APP_ID}", json=customer("old", tier="gold", email="a@x"))
    client.post(f"/v1/customer/{APP_ID}", json=customer("new", email="b@x", city="Oslo"))
    client.post(f"/v1/customer/{APP_ID}", json=customer("kept", email="c@x"))
    body = merge_body(("old", "new"), ("never-seen", "new"), ("kept", "never-created"))

    response = client.post(f"/v1/customer/merge?app_id={APP_ID}", json=body)

    assert response.status_code == 200
    assert response.json() == {"status": "success", "operation": "created"}
    # a pair naming a user that does not exist, merged or retained, is skipped
    assert emulator.merges == [("old", "new")]
    assert emulator.profiles == {
        "new": {"email": "a@x", "city": "Oslo", "tier": "gold"},
        "kept": {"email": "c@x"},
    }


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        ("/v1/customer/merge", merge_body(("a", "b")), 400,
         fail(None, "app_id is required in path/query params.", "ParamsRequired")),
        ("/v1/customer/merge?app_id=other", merge_body(("a", "b")), 409,
         fail(None, "App key mismatch in params and authentication.", "Authentication required.")),
        (f"/v1/customer/merge?app_id={APP_ID}", merge_body(("a", 5)), 400,
         fail("retained_user", "retained_user is expected to be String or Unicode String.",
              "MissingAttributeError")),
        (f"/v1/customer/merge?app_id={APP_ID}", {"merge_data": []}, 400,
         fail("merge_data", "merge_data must be a non-empty array", "MissingAttributeError")),
        (f"/v1/customer/merge?app_id={APP_ID}", merge_body(*[("a", "b")] * 26), 400,
         fail("merge_data", "A maximum of 50 users can be merged in a single call",
              "InvalidAttributeError")),
        (f"/v1/customer/delete?app_id={APP_ID}", {"identity_type": "email"}, 400,
         fail("identity_type", "identity_type must be customer_id or moengage_id",
              "MissingAttributeError")),
        (f"/v1/customer/delete?app_id={APP_ID}", {"identity_type": "customer_id"}, 400,
         fail("identity_value", "identity_value is not found in the payload",
              "MissingAttributeError")),
        (f"/v1/customer/delete?app_id={APP_ID}",
         {"identity_type": "customer_id", "identity_value": "nobody"}, 400,
         fail(None, "User doesn't exists with customer id nobody", "Not Found")),
    ],
)  # fmt: skip
def test_merge_and_delete_refusals_as_documented(client, emulator, path, body, status, expected):
    response = client.post(path, json=body)
    assert response.status_code == status
    assert without_id(response.json()) == expected
    assert emulator.merges == []
    assert emulator.deletions == []


def test_merge_and_delete_need_the_credentials(emulator) -> None:
    with httpx.Client(base_url=emulator.base_url, timeout=5) as anonymous:
        for operation in ("merge", "delete"):
            response = anonymous.post(f"/v1/customer/{operation}?app_id={APP_ID}", json={})
            assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"identity_type": "customer_id", "identity_value": "M-1"},
        {"identifiers": [{"identifier_type": "customer_id", "identifier": "M-1"}]},
    ],
)
def test_delete_user_keeps_the_user_through_its_buffer_then_a_later_update_is_a_new_profile(
    client, emulator, body
) -> None:
    client.post(f"/v1/customer/{APP_ID}", json=customer("M-1", tier="gold"))

    response = client.post(f"/v1/customer/delete?app_id={APP_ID}", json=body)

    assert response.status_code == 200
    assert without_id(response.json()) == SUCCESS
    assert emulator.deletions == [("customer_id", "M-1")]
    assert emulator.deleting == {"M-1": NOW + 24 * 3600}
    # "You can update users in the buffer period": the user being deleted takes the update
    client.post(f"/v1/customer/{APP_ID}", json=customer("M-1", city="Oslo"))
    assert emulator.profiles == {"M-1": {"tier": "gold", "city": "Oslo"}}
    emulator.elapse(24 * 3600 - 1)
    assert "M-1" in emulator.profiles
    emulator.elapse(1)
    assert emulator.profiles == {}  # hard-deleted, with the update made in the buffer
    again = client.post(f"/v1/customer/delete?app_id={APP_ID}", json=body)
    assert (again.status_code, again.json()["error"]["type"]) == (400, "Not Found")
    client.post(f"/v1/customer/{APP_ID}", json=customer("M-1", city="Rome"))
    assert emulator.profiles == {"M-1": {"city": "Rome"}}


def test_the_control_api_shows_profiles_merges_and_deletions(client, emulator) -> None:
    client.post(f"/v1/customer/{APP_ID}", json=customer("ua", x=1))
    client.post(f"/v1/customer/{APP_ID}", json=customer("uc", y=2))
    client.post(f"/v1/event/{APP_ID}", json={**event("1773479000"), "customer_id": "ub"})
    client.post(f"/v1/customer/merge?app_id={APP_ID}", json=merge_body(("ua", "uc")))
    body = {"identity_type": "customer_id", "identity_value": "ub"}
    client.post(f"/v1/customer/delete?app_id={APP_ID}", json=body)

    snapshot = httpx.get(f"{emulator.base_url}/_emulator/profiles", timeout=5).json()

    assert snapshot == {
        "profiles": {"ub": {}, "uc": {"x": 1, "y": 2}},
        "merges": [["ua", "uc"]],
        "deletions": [["customer_id", "ub"]],
        "deleting": {"ub": NOW + 24 * 3600},
        "erasures": [],
    }
    elapsed = httpx.post(f"{emulator.base_url}/_emulator/elapse", json={"seconds": 86400})
    assert elapsed.json() == {"elapsed": 86400.0}
    after = httpx.get(f"{emulator.base_url}/_emulator/profiles", timeout=5).json()
    assert (after["profiles"], after["deleting"]) == ({"uc": {"x": 1, "y": 2}}, {})


@pytest.mark.usefixtures("settings_env")
async def test_the_bridge_passes_bulk_device_elements_through(moengage) -> None:
    body = {"type": "transition", "elements": [customer("M-1", tier="gold"), DEVICE]}

    status, answer, _ = await call_webhook(http_request(body))

    assert (status, answer["status"], answer["elements"]) == (200, "delivered", 2)
    assert moengage.accepted == body["elements"]
    assert moengage.rejected_elements == []


# --- MoEngage's user operations: limits and shapes ------------------------------------------------


@pytest.mark.parametrize("customer_id", ["A", "7", 7, " x "])
def test_a_single_character_customer_id_is_refused(client, emulator, customer_id) -> None:
    response = client.post(f"/v1/customer/{APP_ID}", json=customer(customer_id, tier="gold"))

    assert response.status_code == 400
    assert without_id(response.json()) == fail(
        "customer_id",
        "customer_id must be a string of more than one characters",
        "InvalidAttributeError",
    )
    assert emulator.profiles == {}


def test_delete_user_s_own_429_shape_when_its_quota_is_spent() -> None:
    with Emulator(app_id=APP_ID, api_key=API_KEY, quota_per_minute=2, clock=lambda: NOW) as em:
        headers = {"Authorization": auth(), "MOE-APPKEY": APP_ID}
        seeded = httpx.post(f"{em.base_url}/v1/customer/{APP_ID}", json=customer("M-1"),
                            headers=headers)  # fmt: skip
        body = {"identity_type": "customer_id", "identity_value": "M-1"}
        url = f"{em.base_url}/v1/customer/delete?app_id={APP_ID}"
        first = httpx.post(url, json=body, headers=headers)
        second = httpx.post(url, json=body, headers=headers)

    assert (seeded.status_code, first.status_code) == (200, 200)
    assert (second.status_code, second.json()) == (
        429,
        {"status": "fail", "title": "Rate limit exceeded",
         "description": "Exceeded rate limit for this url"},
    )  # fmt: skip


def test_merge_accepts_twenty_five_pairs_a_call(client, emulator) -> None:
    pairs = [(f"old-{i}", f"new-{i}") for i in range(25)]
    for old, new in pairs:
        client.post(f"/v1/customer/{APP_ID}", json=customer(old, x=1))
        client.post(f"/v1/customer/{APP_ID}", json=customer(new, y=1))

    response = client.post(f"/v1/customer/merge?app_id={APP_ID}", json=merge_body(*pairs))

    assert response.status_code == 200
    assert emulator.merges == pairs


@pytest.mark.parametrize(
    ("identities", "message"),
    [
        ([{"identity_type": "ID", "identity_value": "M-1"},
          {"identity_type": "ID", "identity_value": "M-2"}],
         "identities must name exactly one user"),
        ([{"identity_type": "customer_id", "identity_value": "M-1"}],
         "identity_type must be one of ID, user_secondary_id, email, mobile, "
         "google_advertising_id, advertising_identifier with a value"),
    ],
)  # fmt: skip
def test_gdpr_erasure_names_one_known_identity(client, emulator, identities, message) -> None:
    body = {"request_type": "erasure", "submitted_time": "2026-03-14T09:00:00Z",
            "identities": identities, "api_version": "1.0"}  # fmt: skip

    response = client.post(f"/v1/opengdpr_requests/{APP_ID}", json=body)

    assert response.status_code == 400
    assert without_id(response.json()) == fail("identities", message, "InvalidAttributeError")
    assert emulator.erasures == []


def test_gdpr_erasure_of_a_workspace_other_than_the_credentials_is_409(client) -> None:
    body = {"request_type": "erasure", "submitted_time": "2026-03-14T09:00:00Z",
            "identities": [{"identity_type": "ID", "identity_value": "M-1"}],
            "api_version": "1.0"}  # fmt: skip

    response = client.post("/v1/opengdpr_requests/another-app", json=body)

    assert response.status_code == 409
