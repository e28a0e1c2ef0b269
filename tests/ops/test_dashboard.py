"""The delivery dashboard and alerts (docs/operations.md "Delivery dashboard and alerts"), checked
offline.

1. Every KQL query (workbook panels, workbook dropdowns, log alerts) is parsed and analysed by
   Microsoft's Kusto language service (`@kusto/language-service-next` from npm, pinned in
   scripts/test, run by tests/kql_check.js) against the columns Application Insights gives trace
   telemetry: a syntax error or an unknown name fails.
2. The numbers are right: a scripted scenario runs through the app (webhooks and queue batches,
   the MoEngage emulator injecting 429s, 5xx, a 401, a refused element, a malformed message), its
   log records become `traces` rows as Application Insights stores them, and the same queries
   run over them on a local KQL engine (duckdb-kql); counts must equal what the scenario did.
3. The workbook is valid workbook content (Notebook/1.0, known item types)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import function_app
from bridge import cli
from bridge.deployment.runtime import current_runtime
from bridge.durable.messages import EVENT
from bridge.ops import report as reporting
from delivery import RateLimitGate
from moengage_emulator import Emulator
from moengage_emulator.contract import fail_body
from tests.conftest import (
    API_KEY,
    DEAD,
    QUEUE,
    bridge_log,
    call_webhook,
    fixture_body,
    http_request,
)
from tests.dashboard_queries import (
    ALERT_THRESHOLDS,
    ALERTS_BICEP,
    alert_files,
    alert_queries,
    alert_query,
    substitute,
    workbook,
    workbook_queries,
    workbook_query_texts,
)
from tests.documentation import documentation_text
from tests.fakes import VirtualClock
from tests.servicebus_model import FunctionHost, ServiceBusModel

ROOT = Path(__file__).resolve().parent.parent.parent
KUSTO_MODULES = ROOT / ".tools-kusto" / "node_modules"
KUSTO_VERSION = "12.4.1"
TABLES = json.loads((ROOT / "tests" / "fixtures" / "appinsights_tables.json").read_text())


# ------------------------------------------------------------------ Kusto language service


def analyse(queries: dict[str, str]) -> dict[str, list[dict[str, object]]]:
    """Diagnostics of each query from the Kusto language service."""
    package = KUSTO_MODULES / "@kusto" / "language-service-next" / "package.json"
    assert package.exists(), "run ./scripts/test: it installs the Kusto language service"
    assert json.loads(package.read_text())["version"] == KUSTO_VERSION
    node = shutil.which("node")
    assert node, "node is needed to run the Kusto language service"
    tables = {name: schema for name, schema in TABLES.items() if name != "about"}
    done = subprocess.run(
        [node, str(ROOT / "tests" / "kql_check.js")],
        input=json.dumps({"modules": str(KUSTO_MODULES), "tables": tables, "queries": queries}),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def every_query() -> dict[str, str]:
    queries = {}
    for values in (
        {},
        {"workspaces": ["default", "eu"], "events": ["rewards_issued"], "member": "100245"},
    ):
        suffix = " (filtered)" if values else ""
        for name, text in workbook_queries(**values).items():
            queries[name + suffix] = text
    return {**queries, **alert_queries()}


def test_every_query_passes_the_kusto_language_service() -> None:
    queries = every_query()
    assert len(queries) >= 2 * 11 + 5
    report = analyse(queries)
    assert set(report) == set(queries)
    problems = {
        name: [f"{d['severity']} {d['code']} {d['message']} at {d['text']!r}" for d in found]
        for name, found in report.items()
        if found
    }
    assert problems == {}


def test_the_language_service_catches_unknown_columns_and_bad_syntax() -> None:
    """The check above can fail: the same service on broken variants of real queries."""
    dead_letters = alert_queries()["alert:dead-letters"]
    report = analyse(
        {
            "unknown column": dead_letters.replace("timestamp,", "timestmp,"),
            "unknown table": dead_letters.replace("traces\n", "trace\n", 1),
            "bad syntax": dead_letters.replace("| project", "| projec"),
            "AppTraces has no message column": "AppTraces | where message == 'x'",
            "AppTraces as stored": "AppTraces | where Message startswith '{' | take 1",
        }
    )
    codes = {name: [d["code"] for d in found] for name, found in report.items()}
    assert "KS142" in codes["unknown column"]
    assert "KS204" in codes["unknown table"]
    assert codes["bad syntax"]
    assert "KS142" in codes["AppTraces has no message column"]
    assert codes["AppTraces as stored"] == []


def test_alert_thresholds_are_declared_by_the_bicep_that_deploys_them() -> None:
    bicep = ALERTS_BICEP.read_text()
    for name, text in alert_files().items():
        assert f"loadTextContent('../alerts/{name}.kql')" in bicep, name
        for threshold in ALERT_THRESHOLDS:
            if threshold in text:
                assert f"let {threshold} = " in bicep, f"{name} needs {threshold}"


# ---------------------------------------------------------------------------- deployment


@pytest.fixture(scope="module")
def parsed() -> dict[str, Any]:
    """Every .bicep file under infra/ parsed by pycep-parser (the tool venv of test_infra)."""
    from tests.infra.test_infra import _tool_python

    done = subprocess.run(
        [_tool_python(), str(ROOT / "tests" / "infra_tools.py"), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["bicep"]


def _accessor(owner: str, name: str) -> dict[str, Any]:
    operands = {"operand_1": owner, "operand_2": name}
    return {"operator": {"type": "property_accessor", "operands": operands}}


def test_workbook_is_deployed_from_its_data_file_linked_to_application_insights(
    parsed: dict[str, Any],
) -> None:
    template = parsed["infra/modules/dashboard.bicep"]
    resource = template["resources"]["workbook"]
    assert resource["type"] == "Microsoft.Insights/workbooks"
    body = resource["config"]
    assert body["kind"] == "shared"
    assert body["properties"]["sourceId"] == _accessor("applicationInsights", "id")
    assert body["properties"]["category"] == "workbook"
    assert body["properties"]["serializedData"] == "workbookContent"
    loaded = template["variables"]["workbookTemplate"]["value"]["function"]
    assert loaded["type"] == "load_text_content"
    assert loaded["parameters"]["file_path"] == "../workbook/delivery.workbook.json"
    text = (ROOT / "infra" / "modules" / "dashboard.bicep").read_text()
    for placeholder in ("__APPLICATION_INSIGHTS_ID__", "__SERVICE_BUS_NAMESPACE_ID__"):
        assert f"'{placeholder}'" in text, placeholder
    main = parsed["infra/main.bicep"]["modules"]
    for name in ("dashboard", "alerts"):
        assert main[name]["config"]["params"]["applicationInsightsName"] == {
            "operator": {
                "type": "property_accessor",
                "operands": {
                    "operand_1": "monitoring",
                    "operand_2": _accessor("outputs", "applicationInsightsName"),
                },
            }
        }


def test_alerts_and_the_optional_action_group(parsed: dict[str, Any]) -> None:
    template = parsed["infra/modules/alerts.bicep"]
    group = template["resources"]["actionGroup"]
    assert group["config"]["condition"] == "emailOn"
    receivers = group["config"]["config"]["properties"]["emailReceivers"]
    assert [r["emailAddress"] for r in receivers] == ["alertEmail"]
    ids = template["variables"]["actionGroupIds"]["value"]["operator"]["operands"]
    assert ids["condition"] == "emailOn"
    assert ids["false_value"] == []
    rules = template["variables"]["logAlerts"]["value"]
    assert [rule["name"] for rule in rules] == [
        "dead-letters",
        "credentials-refused",
        "failure-ratio",
        "no-deliveries",
        "queue-backlog",
    ]
    assert {rule["name"] for rule in rules} == set(alert_files())
    logs = template["resources"]["logAlert"]
    assert logs["type"] == "Microsoft.Insights/scheduledQueryRules"
    scopes = logs["config"]["config"]["properties"]["scopes"]
    assert scopes == [_accessor("applicationInsights", "id")]
    metrics = template["resources"]["metricAlert"]
    assert metrics["type"] == "Microsoft.Insights/metricAlerts"
    assert metrics["config"]["condition"] == "queueMode"  # no Service Bus in direct mode
    names = [rule["metricName"] for rule in template["variables"]["metricAlerts"]["value"]]
    assert names == ["DeadletteredMessages", "ActiveMessages"]
    main = parsed["infra/main.bicep"]
    assert main["parameters"]["alertEmail"]["default"] == ""
    mapped = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    assert mapped["alertEmail"] == {"value": "${KOGNITIV_ALERT_EMAIL}"}


def test_every_alert_says_what_to_do_in_the_readme() -> None:
    bicep = ALERTS_BICEP.read_text()
    readme = documentation_text()
    section = readme.split("## Delivery dashboard and alerts", 1)[1].split("\n## ", 1)[0]
    assert "var troubleshooting = 'What to do: docs/operations.md#'" in bicep
    pointers = re.findall(r"\$\{troubleshooting\}([a-z0-9-]+)'", bicep)
    assert len(pointers) == 7  # five log alerts, two metric alerts
    headings = re.findall(r"^#### (.+)$", section, flags=re.MULTILINE)
    anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    assert set(pointers) == anchors  # every entry is pointed to, every pointer has its entry


# ------------------------------------------------------------------------ workbook content

KNOWN_ITEM_TYPES = {
    1: "text",
    3: "query",
    9: "parameters",
    10: "metrics",
    11: "links",
    12: "group",
}
KNOWN_PARAMETER_TYPES = {1: "text", 2: "dropdown", 4: "time range", 5: "resource"}


def test_workbook_is_valid_workbook_content() -> None:
    book = workbook()
    assert book["version"] == "Notebook/1.0"
    assert book["fallbackResourceIds"] == ["__APPLICATION_INSIGHTS_ID__"]
    names = [item["name"] for item in book["items"]]
    assert len(names) == len(set(names))
    for item in book["items"]:
        assert item["type"] in KNOWN_ITEM_TYPES, item["name"]
        content = item["content"]
        if item["type"] == 3:
            assert content["version"] == "KqlItem/1.0"
            assert content["queryType"] == 0  # logs
            assert content["resourceType"] == "microsoft.insights/components"
            assert content["timeContextFromParameter"] == "TimeRange"
            assert content["visualization"] in {"table", "timechart", "barchart"}
        if item["type"] == 10:
            assert content["version"] == "MetricsItem/2.0"
            assert content["resourceIds"] == ["{ServiceBus}"]
            assert {m["metric"].split("--")[1] for m in content["metrics"]} == {
                "ActiveMessages",
                "DeadletteredMessages",
            }
            # 4: Maximum (1 Average, 2 Count, 3 Minimum, 7 Total), split per queue
            assert {(m["aggregation"], m["splitBy"]) for m in content["metrics"]} == {
                (4, "EntityName")
            }
        if item["type"] == 9:
            assert content["version"] == "KqlParameterItem/1.0"
            for parameter in content["parameters"]:
                assert parameter["type"] in KNOWN_PARAMETER_TYPES, parameter["name"]
    parameters = {
        p["name"]: p
        for item in book["items"]
        if item["type"] == 9
        for p in item["content"]["parameters"]
    }
    assert set(parameters) == {"TimeRange", "Workspace", "Event", "MemberId", "ServiceBus"}
    assert parameters["ServiceBus"]["value"] == "__SERVICE_BUS_NAMESPACE_ID__"
    for dropdown in ("Workspace", "Event"):
        assert parameters[dropdown]["typeSettings"]["selectAllValue"] == "*"


def test_every_workbook_query_uses_only_known_parameters() -> None:
    for name, text in workbook_query_texts().items():
        substitute(text)  # raises KeyError on an unknown parameter
        assert "ago(" not in text, f"{name}: the time range comes from the workbook"


def test_member_ids_appear_only_in_find_a_member() -> None:
    for name, text in workbook_query_texts().items():
        if name != "find-a-member":
            assert "members" not in text, name
    for name, text in alert_files().items():
        assert "members" not in text, name


# ------------------------------------------------------- the numbers, over a real scenario

SEVERITY = {logging.DEBUG: 0, logging.INFO: 1, logging.WARNING: 2, logging.ERROR: 3}


class TracesCapture(logging.Handler):
    """The worker's log records as Application Insights stores them in `traces`: timestamp,
    message, severityLevel and customDimensions (the record's custom dimensions, plus the
    category and level the host adds)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.rows: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        dimensions = {
            **getattr(record, "custom_dimensions", {}),
            "LogLevel": record.levelname.title(),
            "Category": f"Function.{record.name}",
        }
        self.rows.append(
            {
                "timestamp": datetime.fromtimestamp(record.created, UTC).replace(tzinfo=None),
                "message": record.getMessage(),
                "severityLevel": SEVERITY.get(record.levelno, 4),
                "customDimensions": json.dumps(dimensions, default=str),
            }
        )


@contextlib.contextmanager
def captured() -> Iterator[TracesCapture]:
    """The app's log records while the block runs, at INFO as the host's default."""
    with bridge_log(TracesCapture(), logging.INFO) as capture:
        yield capture


def run_kql(rows: list[dict[str, object]], query: str) -> list[dict[str, object]]:
    """Run `query` over `rows` as the `traces` table on duckdb-kql; rows as dicts."""
    import duckdb_kql

    connection = duckdb_kql.connect()
    connection.sql(
        "CREATE TABLE traces (timestamp TIMESTAMP, message VARCHAR, severityLevel INTEGER, "
        "customDimensions JSON)"
    )
    for row in rows:
        connection.execute("INSERT INTO traces VALUES (?, ?, ?, ?)", list(row.values()))
    result = duckdb_kql.kql(connection, query)
    columns = [column[0] for column in result.description]
    return [dict(zip(columns, values, strict=True)) for values in result.fetchall()]


def lines(rows: list[dict[str, object]], kind: str) -> list[dict[str, object]]:
    """The structured lines of one kind, parsed back (the independent count)."""
    found = []
    for row in rows:
        message = str(row["message"])
        if message.startswith('{"kind":'):
            data = json.loads(message)
            if data["kind"] == kind:
                found.append(data)
    return found


def reward(member: str, **extra: object) -> dict[str, object]:
    return {**fixture_body("rewards_issued"), "memberId": member, **extra}


@dataclass
class Scenario:
    """What the scenario did, as the emulator and Service Bus saw it."""

    rows: list[dict[str, object]]
    windows: dict[str, list[dict[str, object]]]  # rows logged in each phase
    moengage: Emulator
    bus: ServiceBusModel
    host: FunctionHost
    webhook_statuses: list[int]


@pytest.fixture
def clock() -> VirtualClock:
    """Virtual time starting now: lags computed against webhook arrival times stay real."""
    return VirtualClock(datetime.now(UTC))


@pytest.fixture
async def scenario(bus, clock, moengage) -> Scenario:
    current_runtime().gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)
    host = FunctionHost(bus, QUEUE, function_app.kognitiv_service_bus.build().get_user_function())
    windows: dict[str, list[dict[str, object]]] = {}
    statuses: list[int] = []

    async def webhook(body: dict[str, object]) -> None:
        status, _, _ = await call_webhook(http_request(body, "rewards_issued"))
        statuses.append(status)

    async def phase(name: str, steps: Callable[[], Awaitable[None]]) -> None:
        start = len(capture.rows)
        await steps()
        windows[name] = capture.rows[start:]

    async def rate_limited() -> None:  # a 429 asking to wait 60 s, then delivered
        moengage.inject(status=429, headers={"x-ratelimit-reset": "60"})
        await webhook(reward("4001"))
        await webhook(reward("4002"))
        await host.drain()

    async def unavailable() -> None:  # 503 on every in-process attempt, then delivered
        moengage.inject(status=503, times=3)
        await webhook(reward("4003"))
        await host.drain()

    async def refused_element() -> None:  # MoEngage refuses the element: a dead letter
        refused = fail_body("customer_id", "customer_id is not valid", "InvalidAttributeError")
        moengage.inject(status=400, body=refused)
        await webhook(reward("4004"))
        await host.drain()

    async def bad_input() -> None:  # refused at the webhook; a malformed message dead-lettered
        await webhook(reward("4009", memberId=None))
        bus.queue(QUEUE).accept("malformed-1", b"{not json", {EVENT: "rewards_issued"})
        await host.drain()

    async def credentials_refused() -> None:  # 401: held, nothing delivered yet
        moengage.inject(status=401)
        await webhook(reward("4005"))
        await host.run_once()

    async def credentials_fixed() -> None:
        await host.drain()

    with captured() as capture:
        for name, steps in (
            ("rate_limited", rate_limited),
            ("unavailable", unavailable),
            ("refused_element", refused_element),
            ("bad_input", bad_input),
            ("credentials_refused", credentials_refused),
            ("credentials_fixed", credentials_fixed),
        ):
            await phase(name, steps)
    assert host.errors == []
    return Scenario(capture.rows, windows, moengage, bus, host, statuses)


def by(rows: list[dict[str, object]], *keys: str) -> dict[object, dict[str, object]]:
    return {tuple(row[k] for k in keys) if len(keys) > 1 else row[keys[0]]: row for row in rows}


async def test_the_scenario_did_what_the_dashboard_must_show(scenario: Scenario) -> None:
    """The ground truth the panels are checked against, from the emulator and Service Bus."""
    statuses = [r.status for r in scenario.moengage.requests]
    assert sorted(statuses) == sorted([429, 200, 503, 503, 503, 200, 400, 401, 200])
    assert sorted(e["customer_id"] for e in scenario.moengage.accepted) == [
        "4001",
        "4002",
        "4003",
        "4005",
    ]
    assert sorted(scenario.webhook_statuses) == [202, 202, 202, 202, 202, 422]
    letters = scenario.bus.queue(DEAD).all()
    assert sorted(s.application_properties["dead_letter_reason"] for s in letters) == [
        "invalid_payload",
        "moengage_rejected",
    ]


async def test_outcome_panels_count_what_happened(scenario: Scenario) -> None:
    rows = scenario.rows
    processed = sum(len(e.message_ids) for e in scenario.host.executions)
    queries = workbook_queries(grain="1d")

    over_time = run_kql(rows, queries["outcomes-over-time"])
    totals: dict[str, int] = {}
    for row in over_time:
        totals[str(row["shown"])] = totals.get(str(row["shown"]), 0) + int(row["deliveries"])
    # 4 delivered; 2 retries for the 429, 1 for the 503s, 1 for the 401; 2 dead letters; the
    # webhook refused with 422
    assert totals == {"delivered": 4, "retry scheduled": 4, "dead-lettered": 2, "refused": 1}
    assert totals["delivered"] == len(scenario.moengage.accepted)
    assert totals["dead-lettered"] == len(scenario.bus.queue(DEAD).all())
    assert sum(totals.values()) - totals["refused"] == processed

    per_event = by(run_kql(rows, queries["outcomes-per-event"]), "workspace", "event")
    rewards = per_event[("default", "rewards_issued")]
    assert (rewards["delivered"], rewards["retry_scheduled"], rewards["dead_lettered"]) == (4, 4, 2)
    assert rewards["refused"] == 1

    reasons = by(run_kql(rows, queries["failure-reasons"]), "outcome", "reason")
    assert {key: row["failures"] for key, row in reasons.items()} == {
        ("retry_later", "rate_limited"): 2,
        ("retry_later", "unavailable"): 1,
        ("retry_later", "configuration"): 1,
        ("dead_lettered", "moengage_rejected"): 1,
        ("dead_lettered", "invalid_payload"): 1,
        ("refused", "missing_field"): 1,
    }
    refused = lines(rows, "webhook")
    refused_ids = {line["correlation_id"] for line in refused if line["outcome"] == "refused"}
    assert {reasons[("refused", "missing_field")]["example_correlation_id"]} == refused_ids
    limited = reasons[("retry_later", "rate_limited")]
    assert limited["first_seen"] <= limited["last_seen"]


async def test_filters_narrow_every_panel(scenario: Scenario) -> None:
    other = workbook_queries(workspaces=["eu"], events=["rewards_issued"], grain="1d")
    assert run_kql(scenario.rows, other["outcomes-over-time"]) == []
    assert run_kql(scenario.rows, other["moengage-status"]) == []
    chosen = workbook_queries(workspaces=["default"], events=["rewards_issued"], grain="1d")
    assert sum(r["deliveries"] for r in run_kql(scenario.rows, chosen["outcomes-over-time"])) == 11
    dropdowns = workbook_queries()
    assert run_kql(scenario.rows, dropdowns["parameter:Workspace"]) == [{"workspace": "default"}]
    assert run_kql(scenario.rows, dropdowns["parameter:Event"]) == [{"event": "rewards_issued"}]


async def test_moengage_panels_count_the_answers(scenario: Scenario) -> None:
    rows, queries = scenario.rows, workbook_queries(grain="1d")
    answered: dict[str, int] = {}
    for request in scenario.moengage.requests:
        answered[str(request.status)] = answered.get(str(request.status), 0) + 1
    shown: dict[str, int] = {}
    for row in run_kql(rows, queries["moengage-status"]):
        shown[str(row["status"])] = shown.get(str(row["status"]), 0) + int(row["requests"])
    assert shown == answered == {"200": 3, "429": 1, "503": 3, "400": 1, "401": 1}

    limits = run_kql(rows, queries["moengage-rate-limits"])
    assert limits == [
        {"workspace": "default", "rate_limited": 1, "total_wait_s": 60.0, "longest_wait_s": 60.0}
    ]

    latency = by(run_kql(rows, queries["moengage-latency"]), "api")
    requests = lines(rows, "moengage_request")
    assert {api: row["requests"] for api, row in latency.items()} == {
        "event": len(requests) - 2,  # single elements go to /v1/event
        "transition": 2,  # the two rate-limited rewards travelled together
    }
    event_latencies = sorted(r["latency_ms"] for r in requests if r["api"] == "event")
    assert latency["event"]["p50_ms"] == nearest_rank(event_latencies, 50)
    assert latency["event"]["p95_ms"] == nearest_rank(event_latencies, 95)


def nearest_rank(values: list[float], percent: int) -> float:
    """Kusto's percentile() is nearest-rank: the smallest value with at least `percent`% of
    the values at or below it."""
    rank = max(1, -(-len(values) * percent // 100))
    return values[rank - 1]


async def test_lag_and_queue_wait_panels(scenario: Scenario) -> None:
    rows, queries = scenario.rows, workbook_queries(grain="1d")
    delivered = [
        line
        for line in lines(rows, "queue_message")
        if line["outcome"] == "delivered" and "lag_ms" in line
    ]
    assert len(delivered) == 4
    lag = run_kql(rows, queries["lag"])
    assert len(lag) == 1
    lags = sorted(line["lag_ms"] / 1000 for line in delivered)
    assert lag[0]["deliveries"] == 4
    assert lag[0]["worst_s"] == pytest.approx(lags[-1])
    assert lag[0]["p50_s"] == pytest.approx(nearest_rank(lags, 50))
    # the rate-limited rewards waited at least MoEngage's 60 s reset before their 200
    assert lags[-1] >= 60

    waits = run_kql(rows, queries["queue-wait"])
    processed = sum(len(e.message_ids) for e in scenario.host.executions)
    assert waits[0]["messages"] == processed
    waited = [line["queue_wait_ms"] / 60000 for line in lines(rows, "queue_message")]
    assert waits[0]["oldest_min"] == pytest.approx(max(waited))


async def test_find_a_member_follows_both_legs(scenario: Scenario) -> None:
    found = run_kql(scenario.rows, workbook_queries(member="4001")["find-a-member"])
    assert [(row["leg"], row["outcome"], row["reason"]) for row in found] == [
        ("webhook", "queued", ""),
        ("queue_message", "retry_later", "rate_limited"),
        ("queue_message", "delivered", ""),
    ]
    assert len({row["correlation_id"] for row in found}) == 1
    assert found[0]["status_code"] == 202
    assert run_kql(scenario.rows, workbook_queries(member="999")["find-a-member"]) == []


# --------------------------------------------------------------------------------- alerts


def fired(rows: list[dict[str, object]], name: str, **thresholds: object) -> int:
    """How many rows the alert's query returns over `rows` (the rule fires on more than 0)."""
    return len(run_kql(rows, alert_query(name, **thresholds)))


async def test_dead_letter_alert(scenario: Scenario) -> None:
    assert fired(scenario.windows["rate_limited"], "dead-letters") == 0
    assert fired(scenario.windows["refused_element"], "dead-letters") == 1
    assert fired(scenario.windows["bad_input"], "dead-letters") == 1
    assert fired(scenario.rows, "dead-letters") == len(scenario.bus.queue(DEAD).all())


async def test_credentials_alert(scenario: Scenario) -> None:
    assert fired(scenario.windows["credentials_refused"], "credentials-refused") == 1
    assert fired(scenario.windows["credentials_fixed"], "credentials-refused") == 0
    rest = [
        row
        for name, rows in scenario.windows.items()
        if name != "credentials_refused"
        for row in rows
    ]
    assert fired(rest, "credentials-refused") == 0


async def test_no_delivery_alert(scenario: Scenario) -> None:
    # the 401 held the only webhook of its window: webhooks arrive, nothing is delivered
    assert fired(scenario.windows["credentials_refused"], "no-deliveries") == 1
    assert fired(scenario.windows["credentials_fixed"], "no-deliveries") == 0  # no webhook
    assert fired(scenario.rows, "no-deliveries") == 0
    assert fired(scenario.windows["refused_element"], "no-deliveries") == 1


async def test_failure_ratio_alert(scenario: Scenario) -> None:
    # 7 of 11 outcomes failed (4 retries, 2 dead letters, 1 refused webhook)
    failed = run_kql(scenario.rows, alert_query("failure-ratio", failure_ratio="0.6"))
    assert failed == [{"failed": 7, "outcomes": 11, "ratio": round(7 / 11, 3)}]
    assert fired(scenario.rows, "failure-ratio", failure_ratio="0.65") == 0
    assert fired(scenario.rows, "failure-ratio", failure_ratio="0.6", minimum_outcomes=12) == 0
    assert fired(scenario.windows["credentials_fixed"], "failure-ratio") == 0


async def test_queue_backlog_alert(scenario: Scenario) -> None:
    waited = max(line["queue_wait_ms"] for line in lines(scenario.rows, "queue_message"))
    below, above = waited / 60000 - 0.2, waited / 60000 + 0.2
    assert fired(scenario.rows, "queue-backlog", backlog_minutes=round(below, 1)) == 1
    assert fired(scenario.rows, "queue-backlog", backlog_minutes=round(above, 1)) == 0


# ------------------------------------------------------------------------------ log schema

KINDS = ("webhook", "queue_message", "moengage_request")


def documented_schema() -> dict[str, set[str]]:
    """docs/operations.md "Logs": field -> the kinds of line that may carry it."""
    readme = documentation_text()
    section = readme.split("### Logs\n", 1)[1].split("\n## ", 1)[0]
    schema: dict[str, set[str]] = {}
    for names, kinds in re.findall(r"^\| (`[^|]+) \| ([^|]+) \|", section, flags=re.MULTILINE):
        allowed = set(KINDS) if kinds.strip() == "all" else set(re.findall(r"\w+", kinds))
        for name in re.findall(r"`(\w+)`", names):
            schema[name] = allowed & set(KINDS)
    return schema


async def test_every_logged_field_is_documented_and_no_contact_data(scenario: Scenario) -> None:
    schema = documented_schema()
    assert {"outcome", "reason", "moengage_status", "latency_ms", "workspace", "event"} <= set(
        schema
    )
    assert {"lag_ms", "correlation_id", "rate_limit_wait_s", "queue_wait_ms"} <= set(schema)
    seen: dict[str, set[str]] = {}
    for kind in KINDS:
        for line in lines(scenario.rows, kind):
            for field in line:
                seen.setdefault(field, set()).add(kind)
    assert seen.keys() >= {"lag_ms", "queue_wait_ms", "rate_limit_wait_s", "moengage_status"}
    for field, kinds in seen.items():
        assert field in schema, f"{field} is logged but not in docs/operations.md 'Logs'"
        assert kinds <= schema[field], f"{field} logged on {kinds - schema[field]}"
    text = "\n".join(str(row["message"]) + str(row["customDimensions"]) for row in scenario.rows)
    assert API_KEY not in text


async def test_held_messages_count_as_retries_with_their_reason(
    settings_env: pytest.MonkeyPatch, bus: ServiceBusModel, moengage: Emulator
) -> None:
    """Settings that cannot work hold the batch: the dashboard shows why."""
    settings_env.setenv("MOENGAGE_DATA_CENTER", "99")
    with captured() as capture:
        function = function_app.kognitiv_service_bus.build().get_user_function()
        body = json.dumps(reward("4100")).encode()
        bus.queue(QUEUE).accept("held-1", body, {EVENT: "rewards_issued"})
        await FunctionHost(bus, QUEUE, function).run_once()
    reasons = run_kql(capture.rows, workbook_queries()["failure-reasons"])
    assert [(r["outcome"], r["reason"], r["failures"]) for r in reasons] == [
        ("retry_later", "configuration_error", 1)
    ]
    assert moengage.requests == []


async def test_direct_mode_deliveries_and_their_lag(
    settings_env: pytest.MonkeyPatch, moengage: Emulator
) -> None:
    """Direct mode: the webhook line itself is the delivery, its lag the time to answer."""
    with captured() as capture:
        moengage.inject(status=502)
        statuses = [
            (await call_webhook(http_request(reward(member), "rewards_issued")))[0]
            for member in ("4201", "4202")
        ]
    assert statuses == [200, 200]
    queries = workbook_queries(grain="1d")
    outcomes = run_kql(capture.rows, queries["outcomes-over-time"])
    assert [(r["shown"], r["deliveries"]) for r in outcomes] == [("delivered", 2)]
    webhooks = lines(capture.rows, "webhook")
    assert all(line["lag_ms"] == line["latency_ms"] for line in webhooks)
    lag = run_kql(capture.rows, queries["lag"])
    assert lag[0]["deliveries"] == 2
    assert lag[0]["worst_s"] == pytest.approx(max(line["lag_ms"] for line in webhooks) / 1000)
    answers = run_kql(capture.rows, queries["moengage-status"])
    assert sorted((r["status"], r["requests"]) for r in answers) == [("200", 2), ("502", 1)]


# ------------------------------------------------------------------- kognitiv-bridge report

WIRE_TYPES = {bool: "bool", int: "long", float: "real", str: "string", datetime: "datetime"}


class LocalLogs:
    """azure-monitor-query's LogsQueryClient answering from captured rows with duckdb-kql, in
    the SDK's own result types (so the command reads what the real client returns)."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, timedelta]] = []

    def query_resource(self, resource_id: str, query: str, *, timespan: timedelta) -> object:
        from azure.monitor.query import LogsQueryResult, LogsTable

        self.calls.append((resource_id, timespan))
        found = run_kql(self.rows, query)
        columns = list(found[0]) if found else []
        types = [WIRE_TYPES[type(found[0][c])] for c in columns] if found else []
        wire = [
            [v.isoformat() + "Z" if isinstance(v, datetime) else v for v in row.values()]
            for row in found
        ]
        table = LogsTable(name="PrimaryResult", columns=columns, columns_types=types, rows=wire)
        return LogsQueryResult(tables=[table])


def report_queries() -> dict[str, str]:
    return {
        f"report:{path.stem}": path.read_text()
        for path in (reporting.OUTCOMES_QUERY, reporting.REASONS_QUERY)
    }


def test_report_queries_pass_the_kusto_language_service() -> None:
    report = analyse(report_queries())
    assert report == {name: [] for name in report_queries()}


async def test_report_prints_the_scenarios_outcomes(scenario: Scenario) -> None:
    logs = LocalLogs(scenario.rows)
    out, err = io.StringIO(), io.StringIO()
    resource = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/components/appi"
    argv = ["report", "--since", "6h", "--app-insights", resource, "--json"]
    code = cli.main(argv, stdout=out, stderr=err, logs=logs)
    assert (code, err.getvalue()) == (0, "")
    assert logs.calls == [(resource, timedelta(hours=6))] * 2
    document = json.loads(out.getvalue())
    assert document["outcomes"] == [
        {
            "workspace": "default",
            "event": "rewards_issued",
            "delivered": 4,
            "duplicate": 0,
            "retry_scheduled": 4,
            "dead_lettered": 2,
            "refused": 1,
            "errors": 0,
        }
    ]
    reasons = {(r["outcome"], r["reason"]): r["failures"] for r in document["reasons"]}
    assert reasons == {
        ("retry_later", "rate_limited"): 2,
        ("retry_later", "unavailable"): 1,
        ("retry_later", "configuration"): 1,
        ("dead_lettered", "moengage_rejected"): 1,
        ("dead_lettered", "invalid_payload"): 1,
        ("refused", "missing_field"): 1,
    }

    text = io.StringIO()
    assert cli.main(["report", "--app-insights", resource], stdout=text, logs=logs) == 0
    lines_out = text.getvalue().splitlines()
    assert lines_out[0] == "Deliveries in the last 24h:"
    assert lines_out[2].split() == ["default", "rewards_issued", "4", "0", "4", "2", "1", "0"]
    assert lines_out[3].split() == ["total", "4", "0", "4", "2", "1", "0"]
    assert any(line.strip().startswith("retry_later rate_limited: 2,") for line in lines_out)
    # no member ids in the summary (random hex ids may contain the digits, never as a word)
    assert re.search(r"(?<![0-9a-fA-F])4001(?![0-9a-fA-F])", text.getvalue()) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "APPLICATIONINSIGHTS_RESOURCE_ID"),
        (["report", "--app-insights", "x", "--since", "yesterday"], "90m, 24h, 7d"),
        (["report", "--app-insights", "x", "--since", "0h"], "90m, 24h, 7d"),
        (["report", "--app-insights", "x", "--since", "800d"], "730 days"),
    ],
)
def test_report_refuses_what_it_cannot_run(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(reporting.RESOURCE_SETTING, raising=False)
    err = io.StringIO()
    assert cli.main(argv, stdout=io.StringIO(), stderr=err, logs=LocalLogs([])) == 2
    assert message in err.getvalue()


def test_report_says_when_application_insights_cannot_be_read() -> None:
    from azure.core.exceptions import HttpResponseError

    class Refusing:
        def query_resource(self, resource_id: str, query: str, *, timespan: timedelta) -> None:
            raise HttpResponseError(message="(AuthorizationFailed) no access\nmore detail")

    err = io.StringIO()
    code = cli.main(["report", "--app-insights", "x"], stderr=err, logs=Refusing())
    assert code == 2
    assert (
        err.getvalue()
        == "error: cannot read Application Insights: (AuthorizationFailed) no access\n"
    )


def test_log_lines_are_never_sampled() -> None:
    """The panels and alerts count log lines: Application Insights' adaptive sampling would
    drop some (a dead letter could go unseen), so traces are excluded from it."""
    host = json.loads((ROOT / "host.json").read_text())
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    assert "Trace" in sampling["excludedTypes"].split(";")
