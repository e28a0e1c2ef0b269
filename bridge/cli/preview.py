"""`kognitiv-bridge preview`: show the MoEngage requests a webhook body would produce."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bridge.cli.console import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, Console, workspace_runtime
from bridge.common.errors import BridgeError
from bridge.webhook.handler import WebhookRequest, describe_plan, map_request


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    one_workspace: argparse.ArgumentParser,
) -> None:
    """The `preview` subcommand and its arguments."""
    preview = commands.add_parser(
        "preview",
        parents=[common, one_workspace],
        help="show the MoEngage requests a webhook body would produce",
        description="Print the exact MoEngage request bodies a webhook body produces (the same "
        "code as ?dry_run=true), or the mapping error. Nothing is sent.",
    )
    preview.add_argument(
        "event",
        help="event name (a mapping rule), or 'auto' to choose as the "
        "webhook does (body 'event' field or MoEngage shape)",
    )
    preview.add_argument("file", help="file with the JSON body, or - for standard input")


def cmd_preview(args: argparse.Namespace, console: Console) -> int:
    runtime = workspace_runtime(console, args.workspace)
    if runtime is None:
        return EXIT_USAGE
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as error:
        console.error(f"cannot read {args.file}: {error.strerror}")
        return EXIT_USAGE
    event = None if args.event == "auto" else args.event
    try:
        _, result = map_request(runtime, WebhookRequest(raw, route_event=event))
    except BridgeError as error:
        console.print(json.dumps({"status": error.status, **error.body()}, indent=2))
        return EXIT_PROBLEMS
    body = {
        "event": result.event,
        "rule": result.rule,
        "requests": describe_plan(runtime, result),
        "warnings": result.warnings,
    }
    console.print(json.dumps(body, indent=2, ensure_ascii=False))
    return EXIT_OK
