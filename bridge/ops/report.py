"""`kognitiv-bridge report`: the dashboard's delivery summary, from Application Insights, in the
terminal. Runs the queries of `report.kql` and `report_reasons.kql` with the operator's own
Microsoft Entra sign-in (`az login`; DefaultAzureCredential) through azure-monitor-query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

QUERIES = Path(__file__).parent
OUTCOMES_QUERY = QUERIES / "report.kql"
REASONS_QUERY = QUERIES / "report_reasons.kql"
RESOURCE_SETTING = "APPLICATIONINSIGHTS_RESOURCE_ID"
OUTCOME_COLUMNS = (
    "delivered",
    "duplicate",
    "retry_scheduled",
    "dead_lettered",
    "refused",
    "errors",
)
_SPAN = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
MAX_SPAN = timedelta(days=730)  # Application Insights keeps at most two years


class LogsClient(Protocol):
    def query_resource(self, resource_id: str, query: str, *, timespan: timedelta) -> Any: ...


class ReportError(Exception):
    """The query failed or returned partial data; the message says why."""


def parse_since(text: str) -> timedelta:
    """`90m`, `24h`, `7d`: how far back the report looks."""
    match = _SPAN.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"--since {text!r}: use minutes, hours or days, e.g. 90m, 24h, 7d")
    span = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if span > MAX_SPAN:
        raise ValueError(f"--since {text!r}: Application Insights keeps at most 730 days")
    return span


@dataclass(frozen=True)
class Report:
    outcomes: list[dict[str, Any]]
    reasons: list[dict[str, Any]]

    def totals(self) -> dict[str, int]:
        return {name: sum(int(row[name]) for row in self.outcomes) for name in OUTCOME_COLUMNS}


def _rows(client: LogsClient, resource_id: str, query: str, since: timedelta) -> list[dict]:
    result = client.query_resource(resource_id, query, timespan=since)
    if getattr(result, "partial_error", None) is not None:
        raise ReportError(f"Application Insights returned partial data: {result.partial_error}")
    table = result.tables[0]
    columns = [getattr(column, "name", column) for column in table.columns]
    return [dict(zip(columns, list(row), strict=True)) for row in table.rows]


def build_report(client: LogsClient, resource_id: str, since: timedelta) -> Report:
    return Report(
        _rows(client, resource_id, OUTCOMES_QUERY.read_text(), since),
        _rows(client, resource_id, REASONS_QUERY.read_text(), since),
    )


def render(report: Report, since: str) -> list[str]:
    """The report as text lines: a table per workspace and event, totals, then reasons."""
    header = ("workspace", "event", *OUTCOME_COLUMNS)
    rows = [
        (str(r["workspace"]), str(r["event"]) or "-", *(str(r[c]) for c in OUTCOME_COLUMNS))
        for r in report.outcomes
    ]
    rows.append(("total", "", *(str(v) for v in report.totals().values())))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [f"Deliveries in the last {since}:"]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    if report.reasons:
        lines.append("")
        lines.append("Not delivered, by reason (count, last seen, example correlation id):")
        for r in report.reasons:
            lines.append(
                f"  {r['outcome']} {r['reason']}: {r['failures']}, last {r['last_seen']}, "
                f"{r['example_correlation_id'] or '-'}"
            )
    return lines


def logs_client() -> LogsClient:
    """azure-monitor-query with the operator's sign-in (Azure CLI, environment, VS Code...)."""
    from azure.identity import DefaultAzureCredential
    from azure.monitor.query import LogsQueryClient

    return LogsQueryClient(DefaultAzureCredential())
