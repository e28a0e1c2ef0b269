"""The HTTP trigger `kognitiv_webhook`, called as the Functions host calls it, delivering to the
MoEngage emulator over real sockets."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import API_KEY, APP_ID, call_webhook, fixture_body, http_request
from tests.expected import MEMBER_ATTRIBUTES, REWARD_ELEMENT

pytestmark = pytest.mark.usefixtures("settings_env")


def reward_request(**kwargs):
    return http_request(fixture_body("rewards_issued"), "rewards_issued", **kwargs)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_reward_issued_is_delivered_with_types_and_auth(moengage):
    status, body, response = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 200
    assert body["status"] == "delivered"
    assert body["elements"] == 1
    assert response.mimetype == "application/json"
    assert moengage.accepted == [REWARD_ELEMENT]
    [sent] = moengage.requests
    assert sent.path == f"/v1/event/{APP_ID}"
    assert sent.headers["authorization"] == basic(APP_ID, API_KEY)
    assert sent.headers["moe-appkey"] == APP_ID
    assert moengage.violations == []


async def test_member_enrolled_sends_profile_and_event_in_one_bulk_request(moengage):
    status, body, _ = await call_webhook(
        http_request(fixture_body("member_enrolled"), "member_enrolled")
    )

    assert status == 200
    assert body["elements"] == 2
    [sent] = moengage.requests
    assert sent.path == f"/v1/transition/{APP_ID}"
    profile, event = moengage.accepted
    assert profile == {
        "type": "customer",
        "customer_id": "100246",
        "attributes": {**MEMBER_ATTRIBUTES, "enrolled_at": "2026-03-01T15:04:05Z"},
    }
    assert event["actions"][0]["action"] == "member_enrolled"


async def test_event_name_can_come_from_the_body(moengage):
    status, body, _ = await call_webhook(http_request(fixture_body("rewards_redeemed")))

    assert status == 200
    assert body["event"] == "rewards_redeemed"
    [element] = moengage.accepted
    attributes = element["actions"][0]["attributes"]
    assert attributes["redeemed_date"] == "2026-03-20T18:45:10Z"
    assert attributes["redeemed_location_name"] == "Airport Kiosk"


async def test_guide_template_body_passes_through_with_dates_fixed(moengage):
    status, _, _ = await call_webhook(
        http_request(fixture_body("guide-rendered"), headers={"Content-Type": "text/plain"})
    )

    assert status == 200
    [element] = moengage.accepted
    assert element["actions"][0]["attributes"] == {
        "time": "2026-03-14T09:30:00Z",
        "issued_date": "2026-03-14T09:30:00Z",
        "issued_location_name": "Downtown Flagship",
        "reward_type": "Choice",
    }
    assert moengage.violations == []


async def test_dry_run_returns_exact_requests_and_sends_nothing(moengage):
    status, body, _ = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued", params={"dry_run": "true"})
    )

    assert status == 200
    assert body["status"] == "dry_run"
    assert body["requests"] == [
        {"method": "POST", "path": f"/v1/event/{APP_ID}", "body": REWARD_ELEMENT}
    ]
    assert moengage.requests == []


async def test_dry_run_shows_the_request_bytes_moengage_would_receive(moengage):
    """The answer embeds each request body as sent, also when the answer itself must be
    written by the standard library (a lone surrogate in a value)."""
    for name, value in (("Downtown \u2603", "Downtown \u2603"), ("Kiosk \\ud800", "Kiosk \ud800")):
        body = fixture_body("rewards_issued")
        body["issuedLocationName"] = value
        raw = json.dumps(body).encode()
        status, answer, _ = await call_webhook(
            http_request(raw, "rewards_issued", params={"dry_run": "true"})
        )

        assert status == 200, name
        [shown] = answer["requests"]
        attributes = shown["body"]["actions"][0]["attributes"]
        assert attributes["issued_location_name"] == value
        assert shown["body"] == {
            **REWARD_ELEMENT,
            "actions": [
                {
                    **REWARD_ELEMENT["actions"][0],
                    "attributes": {
                        **REWARD_ELEMENT["actions"][0]["attributes"],
                        "issued_location_name": value,
                    },
                }
            ],
        }
    assert moengage.requests == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_body"),
        (b"   \n", "empty_body"),
        (b"memberId=1", "invalid_json"),
        (b'{"memberId": "1"', "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b'{"memberId": NaN}', "invalid_json"),
        (b'{"memberId": "\xff\xfe"}', "invalid_encoding"),
        (b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "too_deeply_nested"),
        (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "too_deeply_nested"),
    ],
)
async def test_bad_bodies_get_400_and_nothing_is_sent(moengage, raw, code):
    status, body, _ = await call_webhook(http_request(raw, "rewards_issued"))

    assert status == 400
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert moengage.requests == []


async def test_body_over_128_kb_gets_413(moengage):
    big = {"memberId": "100245", "rewardName": "x" * (128 * 1024)}

    status, body, _ = await call_webhook(http_request(big, "rewards_issued"))

    assert status == 413
    assert body["error"]["code"] == "body_too_large"
    assert moengage.requests == []


async def test_unknown_event_gets_404_listing_known_events(moengage):
    status, body, _ = await call_webhook(http_request({"memberId": "1001"}, "points_expired"))

    assert status == 404
    assert body["error"]["code"] == "unknown_event"
    assert "rewards_issued" in body["error"]["message"]
    assert moengage.requests == []


async def test_body_without_any_event_gets_400(moengage):
    status, body, _ = await call_webhook(http_request({"memberId": "1001"}))

    assert status == 400
    assert body["error"]["code"] == "missing_event"


@pytest.mark.parametrize(
    ("member_id", "code"),
    [(None, "missing_field"), ("null", "invalid_customer_id"), ("0", "invalid_customer_id"),
     ("unknown", "invalid_customer_id"), ("", "missing_field")],
)  # fmt: skip
async def test_unmappable_member_gets_422_and_nothing_is_sent(moengage, member_id, code):
    body = fixture_body("rewards_issued")
    body.pop("memberId")
    if member_id is not None:
        body["memberId"] = member_id

    status, answer, _ = await call_webhook(http_request(body, "rewards_issued"))

    assert status == 422
    assert answer["error"]["code"] == code
    assert moengage.requests == []


async def test_unparseable_required_date_gets_422(settings_env, moengage):
    rule = {
        "points_expired": {
            "elements": [
                {
                    "type": "event",
                    "customer_id": "{{memberId | required}}",
                    "actions": [
                        {
                            "action": "points_expired",
                            "attributes": {"expired_at": "{{expiredDate | datetime | required}}"},
                        }
                    ],
                }
            ]
        }
    }
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(rule))

    status, body, _ = await call_webhook(
        http_request({"memberId": "1001", "expiredDate": "next tuesday"}, "points_expired")
    )

    assert status == 422
    assert body["error"]["code"] == "invalid_field"
    assert "expiredDate" in body["error"]["message"]
    assert "next tuesday" not in body["error"]["message"]
    assert moengage.requests == []


async def test_inline_mapping_rule_replaces_the_shipped_one(settings_env, moengage):
    rule = {
        "rewards_issued": [
            {
                "type": "event",
                "customer_id": "{{memberId | required}}",
                "actions": [
                    {
                        "action": "reward_granted",
                        "attributes": {"label": "{{rewardName}} ({{rewardType}})"},
                    }
                ],
            }
        ]
    }
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(rule))

    status, _, _ = await call_webhook(reward_request())

    assert status == 200
    assert moengage.accepted[0]["actions"] == [
        {"action": "reward_granted", "attributes": {"label": "10% Off Voucher (Choice)"}}
    ]


class TestKognitivCredentials:
    @pytest.fixture(autouse=True)
    def credentials(self, settings_env):
        settings_env.setenv("KOGNITIV_AUTH_USERNAME", "kognitiv")
        settings_env.setenv("KOGNITIV_AUTH_PASSWORD", "s3cret-current")
        settings_env.setenv("KOGNITIV_AUTH_PASSWORD_PREVIOUS", "s3cret-old")
        settings_env.setenv("KOGNITIV_AUTH_TOKEN", "tok-123")

    @pytest.mark.parametrize(
        "authorization",
        [None, basic("kognitiv", "wrong"), basic("other", "s3cret-current"), "Bearer nope",
         "Basic !!!notbase64", "Digest abc", basic("kognitiv", "")],
    )  # fmt: skip
    async def test_missing_or_wrong_credentials_get_401(self, moengage, authorization):
        headers = {"Authorization": authorization} if authorization else {}

        status, body, response = await call_webhook(
            http_request(fixture_body("rewards_issued"), "rewards_issued", headers=headers)
        )

        assert status == 401
        assert body["error"]["code"] == "unauthorized"
        assert "Basic" in response.headers["WWW-Authenticate"]
        assert "s3cret" not in json.dumps(body)
        assert moengage.requests == []

    @pytest.mark.parametrize(
        "authorization",
        [basic("kognitiv", "s3cret-current"), basic("kognitiv", "s3cret-old"), "Bearer tok-123"],
    )
    async def test_configured_credentials_are_accepted(self, moengage, authorization):
        status, _, _ = await call_webhook(
            http_request(
                fixture_body("rewards_issued"),
                "rewards_issued",
                headers={"Authorization": authorization},
            )
        )

        assert status == 200
        assert len(moengage.accepted) == 1


@pytest.mark.parametrize(
    ("moe_status", "hint"),
    [(401, "MOENGAGE_API_KEY"), (400, "malformed"), (403, "suspended"), (409, "MOENGAGE_APP_ID")],
)
async def test_permanent_moengage_rejection_gets_502_without_retry(moengage, moe_status, hint):
    moengage.inject(status=moe_status, times=5)

    status, body, _ = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 502
    assert body["error"]["code"] == "moengage_rejected"
    assert body["error"]["moengage_status"] == moe_status
    assert hint in body["error"]["message"]
    assert API_KEY not in json.dumps(body)
    assert len(moengage.requests) == 1


async def test_rate_limit_is_waited_out_then_delivered(moengage):
    moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "1"})

    status, _, _ = await call_webhook(reward_request())

    assert status == 200
    assert [r.status for r in moengage.requests] == [429, 200]
    assert moengage.accepted == [REWARD_ELEMENT]


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 503}, {"drop": True}])
async def test_transient_failures_are_retried(moengage, fault):
    moengage.inject(times=2, **fault)

    status, _, _ = await call_webhook(reward_request())

    assert status == 200
    assert len(moengage.requests) == 3
    assert moengage.accepted == [REWARD_ELEMENT]


async def test_outage_through_the_budget_gets_503_with_retry_after(moengage):
    moengage.inject(status=503, times=1000)

    status, body, response = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 503
    assert body["error"]["code"] == "moengage_unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert moengage.accepted == []


async def test_long_rate_limit_window_answers_503_at_once(moengage):
    moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "45"})

    status, _, response = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 503
    assert response.headers["Retry-After"] == "45"
    assert len(moengage.requests) == 1


async def test_configuration_error_is_reported_without_secrets(settings_env, moengage):
    settings_env.setenv("MOENGAGE_DATA_CENTER", "DC-99")
    settings_env.delenv("MOENGAGE_API_BASE_URL")

    status, body, _ = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 503
    assert body["error"]["code"] == "configuration_error"
    assert "MOENGAGE_DATA_CENTER" in body["error"]["message"]
    assert "01, 02, 03, 04, 05, 06, 101" in body["error"]["message"]
    assert API_KEY not in json.dumps(body)


async def test_an_internal_error_still_answers_json(monkeypatch, moengage):
    from bridge.webhook import handler as webhook

    def broken(*_args):
        raise RuntimeError("bug")

    monkeypatch.setattr(webhook, "map_request", broken)

    status, body, response = await call_webhook(reward_request())

    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert response.headers["X-Correlation-Id"] in body["error"]["message"]
    assert moengage.requests == []


def test_answer_written_by_the_standard_library_still_embeds_request_bytes():
    """msgspec refuses a lone surrogate (here in a warning); the standard library then writes
    the whole answer, a dry run's request bodies included."""
    import msgspec

    import function_app

    answer = {
        "requests": [{"body": msgspec.Raw(b'{"name":"Kiosk \\ud800","n":1}')}],
        "warnings": ["attribute \ud800 dropped"],
    }

    assert json.loads(function_app._json(answer)) == {
        "requests": [{"body": {"name": "Kiosk \ud800", "n": 1}}],
        "warnings": ["attribute \ud800 dropped"],
    }
