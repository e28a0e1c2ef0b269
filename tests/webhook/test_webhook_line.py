"""The webhook's structured line, field by field and in order: the dashboard, the alerts and
`report` read it, and the webhook builds its dict itself (`telemetry.write_fields`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from bridge.common import telemetry
from bridge.webhook.handler import WebhookRequest, WebhookResponse, _log_line
from tests.conftest import call_webhook, fixture_body, http_request

pytestmark = pytest.mark.usefixtures("settings_env")


@pytest.fixture
def lines() -> Iterator[list[logging.LogRecord]]:
    """The records of the bridge's structured lines that reach a handler."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "custom_dimensions" in record.__dict__:
                records.append(record)

    logger = logging.getLogger("kognitiv_bridge")
    handler, previous = Keep(logging.DEBUG), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def webhook_line(records: list[logging.LogRecord]) -> dict[str, object]:
    """The one webhook line: its message is `json.dumps` of its fields, key for key."""
    [record] = [r for r in records if r.custom_dimensions["kind"] == "webhook"]  # type: ignore[attr-defined]
    fields = record.custom_dimensions  # type: ignore[attr-defined]
    assert record.getMessage() == json.dumps(fields, separators=(",", ":"))
    assert record.funcName == "record"
    assert record.name == "kognitiv_bridge"
    return fields


async def test_a_dry_runs_line_names_every_field_in_order(lines) -> None:
    request = http_request(
        fixture_body("rewards_issued"), "rewards_issued", params={"dry_run": "true"}
    )

    status, _, response = await call_webhook(request)

    line = webhook_line(lines)
    assert status == 200
    assert lines[0].levelno == logging.INFO
    assert list(line) == [
        "kind",
        "status_code",
        "workspace",
        "correlation_id",
        "latency_ms",
        "outcome",
        "event",
        "rule",
        "members",
    ]
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

    line = webhook_line(lines)
    assert (status, body["error"]["code"]) == (400, "invalid_json")
    assert lines[0].levelno == logging.WARNING
    assert list(line) == [
        "kind",
        "status_code",
        "workspace",
        "correlation_id",
        "latency_ms",
        "outcome",
        "error_code",
        "event",
    ]
    assert (line["outcome"], line["error_code"], line["event"]) == (
        "refused",
        "invalid_json",
        "rewards_issued",
    )


async def test_a_refused_bodys_line_leaves_out_an_event_that_is_not_a_name(lines) -> None:
    await call_webhook(http_request(b"{not json", "no such/event!"))

    line = webhook_line(lines)
    assert "event" not in line
    assert line["error_code"] == "invalid_json"


async def test_a_delivered_webhooks_line_adds_what_moengage_answered_and_the_lag(
    lines, moengage
) -> None:
    status, _, _ = await call_webhook(
        http_request(fixture_body("member_enrolled"), "member_enrolled")
    )

    line = webhook_line(lines)
    assert status == 200
    assert list(line) == [
        "kind",
        "status_code",
        "workspace",
        "correlation_id",
        "latency_ms",
        "outcome",
        "event",
        "rule",
        "members",
        "attempts",
        "moengage_request_ids",
        "elements",
        "lag_ms",
    ]
    assert (line["outcome"], line["attempts"], line["elements"]) == ("delivered", 1, 2)
    assert line["moengage_request_ids"] == [r.response["request_id"] for r in moengage.requests]
    assert line["lag_ms"] == line["latency_ms"]


async def test_a_line_leaves_out_a_detail_moengage_did_not_give(lines, moengage) -> None:
    """An unavailable MoEngage without a reason: the line has no `detail`, not a null."""
    moengage.inject(status=503, times=1000)

    status, _, _ = await call_webhook(
        http_request(fixture_body("member_enrolled"), "member_enrolled")
    )

    line = webhook_line(lines)
    assert status == 503
    assert line["outcome"] == "unavailable"
    assert None not in line.values()
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

    line = webhook_line(lines)
    assert list(line) == [
        "kind",
        "status_code",
        "workspace",
        "correlation_id",
        "latency_ms",
        "outcome",
        "error_code",
        "attempts",
    ]
    assert (line["outcome"], line["error_code"], line["attempts"]) == (
        "unavailable",
        "moengage_unavailable",
        3,
    )
