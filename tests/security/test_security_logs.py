"""Log hygiene: whatever happens, no log record and no answer carries a secret or contact data.

Every logger is captured at DEBUG (the bridge's, httpx, httpcore, pydantic, asyncio, azure), and
each record is searched whole: message, arguments, exception text, stack and extra fields. The
scenarios cover deliveries, every kind of MoEngage failure, configuration errors, refused
Kognitiv credentials and bad bodies carrying an e-mail address and a phone number."""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from collections.abc import Awaitable, Callable

import azure.functions as func
import pytest

from bridge.config.auth import KognitivAuth
from bridge.config.settings import load_settings
from bridge.deployment.runtime import Runtime
from moengage_emulator import Emulator
from tests.conftest import API_KEY, APP_ID, call_webhook, fixture_body, http_request

LOGGERS = ("", "kognitiv_bridge", "httpx", "httpcore", "pydantic", "asyncio", "azure", "hpack")

USERNAME = "kognitiv"
PASSWORD = "kls-pass-Q7v2w"
PASSWORD_PREVIOUS = "kls-pass-old-Z3m"
TOKEN = "kls-token-8Hf3x"
TOKEN_PREVIOUS = "kls-token-old-4Kp"
GUESSED_PASSWORD = "guess-pass-5Rt"
GUESSED_TOKEN = "guess-token-9Yw"
FUNCTION_KEY = "fn-key-secret-77aa"
COOKIE = "cookie-secret-66bb"
CUSTOM_HEADER = "header-secret-55cc"
BASE_URL_SECRET = "base-url-secret-44dd"

EMAIL = "jordan.lee@example.com"
PHONE = "+1 312 555 0199"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def basic(user: str, password: str) -> str:
    return "Basic " + b64(f"{user}:{password}")


MOENGAGE_BASIC = basic(APP_ID, API_KEY)
SECRETS = {
    "MoEngage API key": API_KEY,
    "MoEngage Basic header": MOENGAGE_BASIC,
    "MoEngage Basic credentials": b64(f"{APP_ID}:{API_KEY}"),
    "MoEngage Basic credentials, unpadded": b64(f"{APP_ID}:{API_KEY}").rstrip("="),
    "Kognitiv password": PASSWORD,
    "Kognitiv previous password": PASSWORD_PREVIOUS,
    "Kognitiv Basic credentials": b64(f"{USERNAME}:{PASSWORD}"),
    "Kognitiv token": TOKEN,
    "Kognitiv previous token": TOKEN_PREVIOUS,
    "guessed password": GUESSED_PASSWORD,
    "guessed Basic credentials": b64(f"{USERNAME}:{GUESSED_PASSWORD}"),
    "guessed token": GUESSED_TOKEN,
    "function key": FUNCTION_KEY,
    "cookie": COOKIE,
    "custom header": CUSTOM_HEADER,
    "base URL credentials": BASE_URL_SECRET,
}
MEMBER_DATA = {
    "e-mail": re.compile(re.escape(EMAIL), re.IGNORECASE),
    "e-mail, URL-encoded": re.compile(re.escape("jordan.lee%40example.com"), re.IGNORECASE),
    "phone": re.compile(re.escape(PHONE)),
    "phone digits": re.compile(r"3125550199"),
    "first name": re.compile(r"\bJordan\b"),
    "last name": re.compile(r"\bLee\b"),
}


def leaks(text: str) -> list[str]:
    """What sensitive values `text` contains (by name, never by value)."""
    found = [name for name, secret in SECRETS.items() if secret in text]
    found += [name for name, pattern in MEMBER_DATA.items() if pattern.search(text)]
    return found


def record_text(record: logging.LogRecord) -> str:
    """Everything a handler or exporter could write out for this record."""
    parts = [record.getMessage(), repr(record.msg), repr(record.args)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    parts += [record.exc_text or "", record.stack_info or ""]
    parts += [f"{key}={value!r}" for key, value in vars(record).items()]
    return "\n".join(parts)


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


@pytest.fixture
def secured(settings_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Kognitiv credentials (current and previous) and a short delivery budget."""
    settings_env.setenv("KOGNITIV_AUTH_USERNAME", USERNAME)
    settings_env.setenv("KOGNITIV_AUTH_PASSWORD", PASSWORD)
    settings_env.setenv("KOGNITIV_AUTH_PASSWORD_PREVIOUS", PASSWORD_PREVIOUS)
    settings_env.setenv("KOGNITIV_AUTH_TOKEN", TOKEN)
    settings_env.setenv("KOGNITIV_AUTH_TOKEN_PREVIOUS", TOKEN_PREVIOUS)
    settings_env.setenv("MOENGAGE_DIRECT_TIME_BUDGET_SECONDS", "1")
    return settings_env


def member_body() -> dict:
    return {**fixture_body("member_enrolled"), "memberMobile": PHONE}


def echoing_answer(kind: str) -> dict:
    """A MoEngage error that quotes the member and the key back (as a careless API might)."""
    return {
        "status": "fail",
        "error": {
            "attribute": EMAIL,
            "message": f"{kind}: key {API_KEY} refused for {EMAIL} ({PHONE}, Jordan Lee)",
            "type": "AuthenticationError" if kind == "auth" else "InternalServerError",
            "request_id": "EchoTest",
        },
    }


def request(
    body: bytes | str | dict,
    event: str | None = "member_enrolled",
    authorization: str | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    headers = {
        "Authorization": authorization or basic(USERNAME, PASSWORD),
        "x-functions-key": FUNCTION_KEY,
        "Cookie": f"session={COOKIE}",
        "X-Custom-Token": CUSTOM_HEADER,
        "Content-Type": "text/plain",
    }
    return http_request(body, event, headers=headers, params=params)


Answer = tuple[int, dict, func.HttpResponse]
Scenario = Callable[[Emulator, pytest.MonkeyPatch], Awaitable[list[Answer]]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(function: Scenario) -> Scenario:
    SCENARIOS[function.__name__] = function
    return function


async def calls(*requests: func.HttpRequest) -> list[Answer]:
    return [await call_webhook(each) for each in requests]


@scenario
async def delivered(moengage, env):
    answers = await calls(
        request(member_body()),
        request(member_body(), authorization=basic(USERNAME, PASSWORD_PREVIOUS)),
        request(fixture_body("rewards_issued"), "rewards_issued", f"Bearer {TOKEN}"),
        request(fixture_body("rewards_issued"), "rewards_issued", f"bearer  {TOKEN_PREVIOUS} "),
    )
    assert [status for status, _, _ in answers] == [200] * 4
    assert EMAIL in json.dumps(moengage.accepted)  # the data went to MoEngage, and only there
    return answers


@scenario
async def dry_run(moengage, env):
    answers = await calls(request(member_body(), params={"dry_run": "true"}))
    assert answers[0][0] == 200
    return []  # a dry run shows the caller its own data by design: only its logs are checked


@scenario
async def moengage_refuses_credentials(moengage, env):
    moengage.inject(status=401, body=echoing_answer("auth"), times=5)
    answers = await calls(request(member_body()))
    assert answers[0][0] == 502
    return answers


@scenario
async def moengage_server_errors(moengage, env):
    moengage.inject(status=500, body=echoing_answer("server"), times=1000)
    answers = await calls(request(member_body()))
    assert answers[0][0] == 503
    return answers


@scenario
async def moengage_rate_limit(moengage, env):
    moengage.inject(status=429, headers={"x-ratelimit-reset": "45"}, body=echoing_answer("rate"))
    answers = await calls(request(member_body()))
    assert answers[0][0] == 503
    return answers


@scenario
async def moengage_drops_connections(moengage, env):
    moengage.inject(drop=True, times=1000)
    answers = await calls(request(member_body()))
    assert answers[0][0] == 503
    return answers


@scenario
async def moengage_times_out(moengage, env):
    moengage.inject(latency=2.0, times=5)
    answers = await calls(request(member_body()))
    assert answers[0][0] == 503
    return answers


@scenario
async def moengage_redirects(moengage, env):
    location = "https://moengage.example/v1/event/elsewhere"
    moengage.inject(status=302, headers={"Location": location}, body=echoing_answer("moved"))
    answers = await calls(request(member_body()))
    assert answers[0][0] == 502
    return answers


@scenario
async def unknown_data_center(moengage, env):
    env.delenv("MOENGAGE_API_BASE_URL")
    env.setenv("MOENGAGE_DATA_CENTER", "DC-99")
    answers = await calls(request(member_body()))
    assert answers[0][1]["error"]["code"] == "configuration_error"
    return answers


@scenario
async def base_url_with_credentials(moengage, env):
    env.setenv("MOENGAGE_API_BASE_URL", f"http://admin:{BASE_URL_SECRET}@127.0.0.1:9")
    first = await calls(request(member_body()))
    env.setenv("MOENGAGE_API_BASE_URL", f"https://{BASE_URL_SECRET}@api-01.moengage.com/v1")
    answers = first + await calls(request(member_body()))
    assert [answer[1]["error"]["code"] for answer in answers] == ["configuration_error"] * 2
    assert moengage.requests == []
    return answers


@scenario
async def incomplete_kognitiv_credentials(moengage, env):
    env.delenv("KOGNITIV_AUTH_USERNAME")
    env.delenv("KOGNITIV_AUTH_TOKEN")
    answers = await calls(request(member_body()))
    assert answers[0][1]["error"]["code"] == "configuration_error"
    return answers


@scenario
async def wrong_kognitiv_credentials(moengage, env):
    authorizations = [
        basic(USERNAME, GUESSED_PASSWORD),
        basic(USERNAME, PASSWORD + "x"),
        basic(EMAIL, PASSWORD),
        f"Bearer {GUESSED_TOKEN}",
        f"Bearer {PASSWORD}",
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        "Basic " + b64(PASSWORD),
        f"Basic {GUESSED_PASSWORD}!!",
        f"Bearer {TOKEN} {TOKEN}",
    ]
    answers = await calls(*(request(member_body(), authorization=a) for a in authorizations))
    assert {status for status, _, _ in answers} == {401}
    assert moengage.requests == []
    return answers


@scenario
async def health_report(moengage, env):
    import function_app

    handler = function_app.health.build().get_user_function()
    headers = {"x-functions-key": FUNCTION_KEY, "Authorization": f"Bearer {GUESSED_TOKEN}"}
    url = "http://localhost:7071/api/health"
    answers = []
    for base_url in (moengage.base_url, f"http://admin:{BASE_URL_SECRET}@127.0.0.1:9"):
        env.setenv("MOENGAGE_API_BASE_URL", base_url)
        response = handler(func.HttpRequest("GET", url, headers=headers, body=b""))
        answers.append((response.status_code, json.loads(response.get_body()), response))
    assert [status for status, _, _ in answers] == [200, 503]
    return answers


BAD_BODIES: list[tuple[bytes | dict, str | None]] = [
    (b'{"memberEmail": "' + EMAIL.encode() + b'", "memberMobile": "' + PHONE.encode(), None),
    (f'{{"memberId": "1", "memberEmail": "{EMAIL}", "memberPointsAvailable": NaN}}'.encode(), None),
    (f'{{"memberEmail": "{EMAIL}", "memberFirstName": "\xff Jordan"}}'.encode("latin-1"), None),
    (f'["{EMAIL}", "{PHONE}"]'.encode(), None),
    (f'"{EMAIL}"'.encode(), None),
    ({"memberEmail": EMAIL, "memberMobile": PHONE, "pad": "x" * 140_000}, None),
    (f'{{"e": "{EMAIL}", "p": "{PHONE}", "n": {"[" * 40}{"]" * 40}}}'.encode(), None),
    ({"memberEmail": EMAIL, "memberMobile": PHONE, "memberFirstName": "Jordan"}, None),
    ({**fixture_body("member_enrolled"), "memberMobile": PHONE, "memberId": "null"}, None),
    ({**fixture_body("member_enrolled"), "memberMobile": PHONE, "memberId": ""}, None),
    ({**fixture_body("member_enrolled"), "memberMobile": PHONE, "memberId": "x" * 600}, None),
    ({**fixture_body("member_enrolled"), "memberMobile": PHONE, "memberId": "{{memberId}}"}, None),
    ({"memberEmail": EMAIL, "memberMobile": PHONE}, "points_expired"),
    ({"memberEmail": EMAIL, "memberMobile": PHONE, "event": "points_expired"}, None),
    ({"memberEmail": EMAIL, "memberMobile": PHONE, "event": 12}, None),
    ({"type": "event", "customer_id": "100246", "actions": [{"attributes": {"e": EMAIL}}]}, None),
    ({"type": "event", "customer_id": "100246", "actions": [EMAIL]}, None),
    ({"type": "customer", "customer_id": "100246", "attributes": [EMAIL, PHONE]}, None),
    ({"type": "transition", "elements": [{"type": "customer", "customer_id": EMAIL}, PHONE]}, None),
    ({"type": "customer", "customer_id": ["Jordan", "Lee", EMAIL]}, None),
]


@scenario
async def bad_bodies_with_contact_data(moengage, env):
    answers = await calls(*(request(body, event) for body, event in BAD_BODIES))
    assert all(400 <= status < 500 for status, _, _ in answers), [a[0] for a in answers]
    assert moengage.requests == []
    return answers


@scenario
async def contact_data_in_fields_that_fail_conversion(moengage, env):
    body = {
        **member_body(),
        "memberPointsAvailable": PHONE,
        "memberEmailContactAllowed": EMAIL,
        "issuedTimestamp": f"{EMAIL} {PHONE}",
        "issuedDate": "Jordan Lee",
    }
    passthrough = {
        "type": "event",
        "customer_id": "100246",
        "actions": [
            {
                "action": "member_enrolled",
                "current_time": EMAIL,
                "attributes": {"moe_email": EMAIL, "id": PHONE, "": "Jordan", "note": "x" * 600},
            }
        ],
    }
    answers = await calls(request(body), request(passthrough, None))
    assert [status for status, _, _ in answers] == [200, 200]
    return answers


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_no_log_record_or_answer_carries_secrets_or_contact_data(
    all_logs, secured, moengage, name
):
    answers = await SCENARIOS[name](moengage, secured)

    assert all_logs.records, "nothing was logged: the capture is not working"
    for record in all_logs.records:
        found = leaks(record_text(record))
        assert not found, f"{record.name} {record.levelname} {record.msg!r} carries {found}"
    for status, body, response in answers:
        text = response.get_body().decode("utf-8")
        assert json.loads(text) == body
        headers = "\n".join(f"{key}: {value}" for key, value in response.headers.items())
        found = leaks(text) + leaks(headers)
        assert not found, f"the {status} answer carries {found}"


async def test_delivery_logs_are_really_captured_at_debug(all_logs, secured, moengage):
    await call_webhook(request(member_body()))

    names = {record.name for record in all_logs.records}
    assert {"kognitiv_bridge", "httpx"} <= names
    assert any(name.startswith("httpcore") for name in names)
    assert min(record.levelno for record in all_logs.records) == logging.DEBUG


def test_objects_holding_secrets_do_not_show_them_in_repr(secured):
    settings = load_settings()
    runtime = Runtime.from_settings(settings)
    auth = KognitivAuth.from_settings(settings)

    for shown in (repr(settings), repr(runtime), repr(runtime.target), repr(auth), str(auth)):
        assert not leaks(shown), leaks(shown)
