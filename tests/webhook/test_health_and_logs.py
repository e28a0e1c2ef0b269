"""`GET /api/health` and the structured log lines (one per webhook, one per queue message)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import azure.functions as func
import pytest

from bridge.common.observations import HEALTH
from bridge.deployment.runtime import CLIENTS, current_runtime
from bridge.queue.processor import BatchProcessor
from tests.conftest import API_KEY, call_webhook, fixture_body, http_request
from tests.fakes import FakeGateway

pytestmark = pytest.mark.usefixtures("settings_env")


@pytest.fixture(autouse=True)
def fresh_health():
    HEALTH.clear()
    yield
    HEALTH.clear()


def get_health() -> tuple[int, dict]:
    import function_app

    handler = function_app.health.build().get_user_function()
    response = handler(func.HttpRequest("GET", "http://localhost/api/health", body=b""))
    return response.status_code, json.loads(response.get_body())


def test_health_reports_mode_dc_and_rules_without_secrets(settings_env):
    settings_env.setenv("KOGNITIV_AUTH_TOKEN", "token-abc")
    settings_env.delenv("MOENGAGE_API_BASE_URL")
    settings_env.setenv("MOENGAGE_DATA_CENTER", "dc-02")

    status, body = get_health()

    assert status == 200
    assert body["status"] == "ok"
    assert body["mode"] == "direct"
    assert body["data_center"] == "02"
    assert body["moengage_host"] == "https://api-02.moengage.com"
    assert body["kognitiv_auth"] == "bearer"
    assert body["mapping_rules"] == [
        "member_consent_changed", "member_enrolled", "member_updated", "rewards_issued",
        "rewards_redeemed",
    ]  # fmt: skip
    assert body["version"]
    text = json.dumps(body)
    assert API_KEY not in text
    assert "token-abc" not in text


def test_health_is_degraded_without_kognitiv_credentials():
    status, body = get_health()
    assert status == 200
    assert body["status"] == "degraded"
    assert body["kognitiv_auth"] == "none"
    assert any("KOGNITIV_AUTH" in warning for warning in body["warnings"])


def test_health_is_503_when_the_configuration_cannot_work(settings_env):
    settings_env.setenv("MOENGAGE_DATA_CENTER", "07")
    settings_env.delenv("MOENGAGE_API_BASE_URL")

    status, body = get_health()

    assert status == 503
    assert body["status"] == "error"
    assert any("MOENGAGE_DATA_CENTER" in p for p in body["settings"]["problems"])


async def test_health_shows_the_last_moengage_credentials_and_rate_limit_problems(moengage):
    moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "1"})
    await call_webhook(http_request(fixture_body("rewards_issued"), "rewards_issued"))
    moengage.inject(status=401, times=1)
    await call_webhook(http_request(fixture_body("rewards_issued"), "rewards_issued"))

    _, body = get_health()

    kinds = {problem["kind"]: problem for problem in body["last_moengage_problems"]}
    assert set(kinds) == {"credentials", "rate_limit"}
    assert "HTTP 401" in kinds["credentials"]["detail"]
    assert body["status"] == "degraded"


def structured(caplog, kind: str) -> list[dict]:
    lines = []
    for record in caplog.records:
        if record.name == "kognitiv_bridge" and record.getMessage().startswith("{"):
            data = json.loads(record.getMessage())
            if data["kind"] == kind:
                assert record.custom_dimensions == data
                lines.append(data)
    return lines


async def test_one_structured_line_per_webhook(caplog, moengage):
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")

    _, _, response = await call_webhook(
        http_request(fixture_body("member_enrolled"), "member_enrolled")
    )

    [line] = structured(caplog, "webhook")
    assert line["event"] == "member_enrolled"
    assert line["outcome"] == "delivered"
    assert line["status_code"] == 200
    assert line["members"] == ["100246"]
    assert line["attempts"] == 1
    assert len(line["moengage_request_ids"]) == 1
    assert line["correlation_id"] == response.headers["X-Correlation-Id"]
    assert "jordan" not in json.dumps(line).lower()


async def test_queue_leg_logs_the_same_correlation_id(settings_env, caplog, moengage):
    connection = "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b"
    settings_env.setenv("KOGNITIV_SERVICE_BUS", connection)
    settings_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", "q")
    gateway = FakeGateway()
    runtime = current_runtime()
    runtime.gateway = gateway
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")

    await call_webhook(http_request(fixture_body("rewards_issued"), "rewards_issued"))
    sender = runtime.sender(CLIENTS, queue=True)
    processor = BatchProcessor(runtime, gateway, sender, runtime.delivered_keys)
    await processor.process(gateway.take_due(datetime.now(UTC)))

    [http_leg] = structured(caplog, "webhook")
    [queue_leg] = structured(caplog, "queue_message")
    assert http_leg["outcome"] == "queued"
    assert queue_leg["correlation_id"] == http_leg["correlation_id"]
    assert queue_leg["outcome"] == "delivered"
    assert queue_leg["attempts"] == 1
    assert queue_leg["moengage_request_id"]
    assert queue_leg["members"] == ["100245"]


def test_correlation_ids_are_version_4_uuids_and_do_not_repeat():
    """The id made without a UUID object is what `uuid.uuid4().hex` gives: 32 hex digits of a
    version 4, RFC 4122 UUID (log queries and Kognitiv's support read it as one)."""
    import uuid

    from bridge.webhook.handler import new_correlation_id

    ids = [new_correlation_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:500]:
        parsed = uuid.UUID(hex=text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert parsed.hex == text
