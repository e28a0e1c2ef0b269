"""The KQL of the delivery dashboard (infra/workbook/delivery.workbook.json) and of the log
alerts (infra/alerts/*.kql), as Application Insights runs them: workbook parameters replaced by
values the way the workbook does it, alert thresholds declared the way infra/modules/alerts.bicep
prepends them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKBOOK = ROOT / "infra" / "workbook" / "delivery.workbook.json"
ALERTS = ROOT / "infra" / "alerts"
ALERTS_BICEP = ROOT / "infra" / "modules" / "alerts.bicep"

ALL = "*"  # the workbook's "All" for a multi-select dropdown (selectAllValue)
PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")
# Thresholds alerts.bicep declares in front of a query: name -> a sample value.
ALERT_THRESHOLDS = {
    "failure_ratio": "10 / 100.0",
    "minimum_outcomes": "1",
    "backlog_minutes": "30",
}


def workbook() -> dict[str, Any]:
    return json.loads(WORKBOOK.read_text())


def _parameters(book: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        parameter
        for item in book["items"]
        if item["type"] == 9
        for parameter in item["content"]["parameters"]
    ]


def workbook_query_texts(book: dict[str, Any] | None = None) -> dict[str, str]:
    """Every log query of the workbook as written: panels (by item name) and parameter
    dropdowns (`parameter:<name>`)."""
    book = book or workbook()
    queries = {
        item["name"]: item["content"]["query"]
        for item in book["items"]
        if item["type"] == 3 and item["content"].get("queryType") == 0
    }
    for parameter in _parameters(book):
        if "query" in parameter:
            queries[f"parameter:{parameter['name']}"] = parameter["query"]
    return queries


def substitute(
    text: str,
    *,
    workspaces: list[str] | None = None,
    events: list[str] | None = None,
    member: str = "",
    grain: str = "5m",
) -> str:
    """Replace workbook parameters as the workbook does: a multi-select is its quoted values
    joined by commas (`'*'` for All), `{TimeRange:grain}` a timespan, `{MemberId}` the text."""

    def quoted(values: list[str] | None) -> str:
        return ",".join(f"'{value}'" for value in (values or [ALL]))

    def value(match: re.Match[str]) -> str:
        name, option = match.group(1), match.group(2)
        if name == "TimeRange" and option == "grain":
            return grain
        if option is None and name == "Workspace":
            return quoted(workspaces)
        if option is None and name == "Event":
            return quoted(events)
        if option is None and name == "MemberId":
            return member
        raise KeyError(f"unknown workbook parameter {match.group(0)}")

    return PARAMETER.sub(value, text)


def workbook_queries(**values: Any) -> dict[str, str]:
    return {name: substitute(text, **values) for name, text in workbook_query_texts().items()}


def alert_files() -> dict[str, str]:
    return {path.stem: path.read_text() for path in sorted(ALERTS.glob("*.kql"))}


def alert_query(name: str, **thresholds: object) -> str:
    """The query as the alert rule holds it: `let` lines for its thresholds, then the file."""
    text = alert_files()[name]
    lets = [
        f"let {key} = {thresholds.get(key, sample)};\n"
        for key, sample in ALERT_THRESHOLDS.items()
        if re.search(rf"\b{key}\b", text)
    ]
    return "".join(lets) + text


def alert_queries() -> dict[str, str]:
    return {f"alert:{name}": alert_query(name) for name in alert_files()}
