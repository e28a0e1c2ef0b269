"""The webhook's structured line, field by field and in order: the dashboard, the alerts and
`report` read it, and the webhook builds its dict itself (`telemetry.write_fields`)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from bridge.common import telemetry
from bridge.webhook.handler import WebhookRequest, WebhookResponse, _log_line
from tests.conftest import call_webhook, fixture_body, http_request

pytestmark = pytest.mark.usefixtures("settings_env")


# Every webhook line starts with these fields; a mapped body's then names what it was mapped to.
FIRST = ["kind", "status_code", "workspace", "correlation_id", "latency_ms", "outcome"]
NAMES = ["event", "rule", "members"]
MAPPED = [*FIRST, *NAMES]


def webhook_line(records: list[logging.LogRecord], level: int) -> dict[str, object]:
    """The one webhook line, at `level`: its message is `json.dumps` of its fields, key for
    key."""
    [record] = [r for r in records if getattr(r, "custom_dimensions", {}).get("kind") == "webhook"]
    fields = record.custom_dimensions  # type: ignore[attr-defined]
    assert record.getMessage() == json.dumps(fields, separators=(",", ":"))
    assert record.levelno == level
    assert record.funcName == "record"
    assert record.name == "kognitiv_bridge"
    return fields


async def test_a_dry_runs_line_names_every_field_in_order(lines) -> None:
    request = http_request(
        fixture_body("rewards_issued"), "rewards_issued", params={"dry_run": "true"}
    )

    status, _, response = await call_webhook(request)

    line = webhook_line(lines, logging.INFO)
    assert status == 200
    assert list(line) == MAPPED
    assert {k: v for k, v in line.items() if k != "latency_ms"} == {
        "kind": "webhook",
        "status_code": 200,
        "workspace": "default",
        "correlation_id": response.headers["X-Correlation-Id"],
        "outcome": "dry_run",
        "event": "rewards_issued",
        "rule": "rewards_issued",
        "members": ["100245"],
    }
    assert line["latency_ms"] == round(line["latency_ms"], 1) >= 0  # milliseconds, a tenth


async def test_a_refused_bodys_line_names_the_event_in_the_url_and_the_error(lines) -> None:
    status, body, _ = await call_webhook(http_request(b"{not json", " Rewards_Issued "))

    line = webhook_line(lines, logging.WARNING)
    assert (status, body["error"]["code"]) == (400, "invalid_json")
    assert list(line) == [*FIRST, "error_code", "event"]
    assert (line["outcome"], line["error_code"], line["event"]) == (
        "refused",
        "invalid_json",
        "rewards_issued",
    )


async def test_a_refused_bodys_line_leaves_out_an_event_that_is_not_a_name(lines) -> None:
    await call_webhook(http_request(b"{not json", "no such/event!"))

    line = webhook_line(lines, logging.WARNING)
    assert "event" not in line
    assert line["error_code"] == "invalid_json"


async def test_a_delivered_webhooks_line_adds_what_moengage_answered_and_the_lag(
    lines, moengage
) -> None:
    status, _, _ = await call_webhook(
        http_request(fixture_body("member_enrolled"), "member_enrolled")
    )

    line = webhook_line(lines, logging.INFO)
    assert status == 200
    assert list(line) == [*MAPPED, "attempts", "moengage_request_ids", "elements", "lag_ms"]
    assert (line["outcome"], line["attempts"], line["elements"]) == ("delivered", 1, 2)
    assert line["moengage_request_ids"] == [r.response["request_id"] for r in moengage.requests]
    assert line["lag_ms"] == line["latency_ms"]


async def test_an_unavailable_moengages_line_says_why_and_has_no_lag(lines, moengage) -> None:
    moengage.inject(status=503, times=1000)

    status, _, _ = await call_webhook(
        http_request(fixture_body("member_enrolled"), "member_enrolled")
    )

    line = webhook_line(lines, logging.WARNING)
    assert status == 503
    assert list(line) == [*FIRST, "error_code", *NAMES, "detail", "attempts"]
    assert line["outcome"] == "unavailable"
    assert isinstance(line["detail"], str)
    assert line["attempts"] >= 2
    assert "lag_ms" not in line


def test_a_filter_someone_adds_to_the_bridges_logger_still_decides(lines) -> None:
    """Structured lines skip the logger's own escaping filter (they are printable), never a
    filter or a switch someone else set."""
    logger = logging.getLogger("kognitiv_bridge")

    class DropWebhooks(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return record.custom_dimensions["kind"] != "webhook"  # type: ignore[attr-defined]

    dropping = DropWebhooks()
    logger.addFilter(dropping)
    try:
        telemetry.write_fields(logging.INFO, {"kind": "webhook", "status_code": 200}, True)
        telemetry.write_fields(logging.INFO, {"kind": "queue_message", "attempts": 1}, True)
    finally:
        logger.removeFilter(dropping)
    logger.disabled = True
    try:
        telemetry.write_fields(logging.INFO, {"kind": "webhook", "status_code": 201}, True)
    finally:
        logger.disabled = False
    telemetry.write_fields(logging.INFO, {"kind": "webhook", "status_code": 202}, True)

    assert [r.getMessage() for r in lines] == [
        '{"kind":"queue_message","attempts":1}',
        '{"kind":"webhook","status_code":202}',
    ]


def test_a_value_that_is_not_plain_after_all_is_written_as_json_dumps_writes_it(lines) -> None:
    class Code:
        def __str__(self) -> str:
            return "E-1"

    telemetry.write_fields(logging.INFO, {"kind": "webhook", "code": Code()}, True)

    assert [r.getMessage() for r in lines] == ['{"kind":"webhook","code":"E-1"}']


def test_a_logged_field_without_a_value_is_left_out(lines) -> None:
    response = WebhookResponse(
        503,
        {"error": {"code": "moengage_unavailable"}},
        log_fields={"outcome": "unavailable", "detail": None, "attempts": 3},
    )

    _log_line(WebhookRequest(b"{}"), response, "c-1", time.perf_counter(), logging.WARNING)

    line = webhook_line(lines, logging.WARNING)
    assert list(line) == [*FIRST, "error_code", "attempts"]
    assert (line["outcome"], line["error_code"], line["attempts"]) == (
        "unavailable",
        "moengage_unavailable",
        3,
    )
