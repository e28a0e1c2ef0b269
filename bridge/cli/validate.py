"""`kognitiv-bridge validate`: check settings and mapping rules exactly as the function loads
them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bridge.cli.console import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, Console
from bridge.config.settings import Settings
from bridge.config.workspaces import DEFAULT_WORKSPACE
from bridge.deployment.runtime import UnknownWorkspace
from bridge.ops.validate import validate

LOCAL_SETTINGS = Path("local.settings.json")


def _settings_line(name: str, settings: Settings) -> str:
    mode = "queue" if settings.queue_mode else "direct"
    label = "settings" if name == DEFAULT_WORKSPACE else f"settings (workspace {name})"
    return (
        f"{label}: MoEngage DC {settings.data_center}, workspace "
        f"{settings.moengage_app_id}, {mode} mode, zone {settings.kognitiv_timezone}"
    )


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    one_workspace: argparse.ArgumentParser,
) -> None:
    """The `validate` subcommand and its arguments."""
    check = commands.add_parser(
        "validate",
        parents=[common],
        help="check settings and mapping rules exactly as the function loads them",
        description="Load settings and mapping rules as the function does and report every "
        "problem at once (unknown data center, bad time zone, rule errors, placeholders that "
        "can never resolve). Exit 1 if there is any.",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument(
        "--workspace", metavar="NAME", help="check only this workspace (default: every one)"
    )


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    if args.settings is None and LOCAL_SETTINGS.is_file():
        console.error(
            f"hint: {LOCAL_SETTINGS} is in this directory but was not read; "
            f"add --settings {LOCAL_SETTINGS} to check it"
        )
    try:
        report = validate(args.workspace)
    except UnknownWorkspace as error:
        console.error(f"error: {error}")
        return EXIT_USAGE
    for warning in report.warnings:
        console.error(f"WARNING: {warning}")
    if args.json:
        document = {
            "ok": report.ok,
            "problems": report.problems,
            "warnings": report.warnings,
            "notes": report.notes,
            "rules": report.rules,
            "workspaces": {
                name: {
                    "app_id": settings.moengage_app_id,
                    "data_center": settings.data_center,
                    "rules": report.workspace_rules.get(name, []),
                }
                for name, settings in report.workspaces.items()
            },
        }
        console.print(json.dumps(document, indent=2))
        return EXIT_OK if report.ok else EXIT_PROBLEMS
    for name, settings in report.workspaces.items():
        console.print(_settings_line(name, settings))
        rules = report.workspace_rules.get(name)
        if rules:
            label = "mapping rules" if name == DEFAULT_WORKSPACE else f"mapping rules ({name})"
            console.print(f"{label}: {', '.join(rules)}")
    for note in report.notes:
        console.print(f"note: {note}")
    for problem in report.problems:
        console.print(f"PROBLEM: {problem}")
    console.print("OK" if report.ok else f"{len(report.problems)} problem(s)")
    return EXIT_OK if report.ok else EXIT_PROBLEMS
