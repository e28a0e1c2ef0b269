"""`kognitiv-bridge report`: delivery summary from Application Insights (outcomes per event,
failure reasons)."""

from __future__ import annotations

import argparse
import json
import os

from bridge.cli.console import EXIT_OK, EXIT_USAGE, Console
from bridge.ops import report as reporting


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    one_workspace: argparse.ArgumentParser,
) -> None:
    """The `report` subcommand and its arguments."""
    report = commands.add_parser(
        "report",
        help="delivery summary from Application Insights (outcomes per event, failure reasons)",
        description="The delivery dashboard's summary in the terminal: outcomes per workspace "
        "and event, and why the rest was not delivered, read from Application Insights with "
        "your own Microsoft Entra sign-in (az login). Needs Log Analytics Reader (or Reader) "
        "on the Application Insights resource.",
    )
    report.add_argument(
        "--since", default="24h", help="how far back: 90m, 24h, 7d (default %(default)s)"
    )
    report.add_argument(
        "--app-insights",
        metavar="RESOURCE_ID",
        help=f"the Application Insights resource id (default: ${reporting.RESOURCE_SETTING}, "
        "an azd output: azd env get-value APPLICATIONINSIGHTS_RESOURCE_ID)",
    )
    report.add_argument("--json", action="store_true", help="print the report as JSON")


def cmd_report(
    args: argparse.Namespace, console: Console, logs: reporting.LogsClient | None
) -> int:
    """Outcomes per workspace and event and the failure reasons, from Application Insights."""
    since = reporting.parse_since(args.since)
    resource = args.app_insights or os.environ.get(reporting.RESOURCE_SETTING, "").strip()
    if not resource:
        console.error(
            f"error: name the Application Insights resource: --app-insights RESOURCE_ID or "
            f"{reporting.RESOURCE_SETTING} (azd env get-value {reporting.RESOURCE_SETTING})"
        )
        return EXIT_USAGE
    from azure.core.exceptions import AzureError

    try:
        client = logs or reporting.logs_client()
    except ImportError:
        console.error(
            "error: report needs azure-monitor-query (a command-line extra, not deployed with "
            "the function app): pip install -r requirements-cli.txt (or pip install '.[cli]')"
        )
        return EXIT_USAGE
    try:
        report = reporting.build_report(client, resource, since)
    except (AzureError, reporting.ReportError) as error:
        console.error(f"error: cannot read Application Insights: {_first_line(error)}")
        return EXIT_USAGE
    if args.json:
        document = {"since": args.since, "outcomes": report.outcomes, "reasons": report.reasons}
        console.print(json.dumps(document, default=str))
    else:
        for line in reporting.render(report, args.since):
            console.print(line)
    return EXIT_OK


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
