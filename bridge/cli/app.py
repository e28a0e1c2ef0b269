"""Operator command line: `python -m bridge` or `kognitiv-bridge`.

Exit codes a script can rely on: 0 success; 1 problems found (invalid configuration reported by
`validate`, a mapping error in `preview`, lines that failed in `replay`, invalid ids or ids not
erased by `erase`, or its confirmation declined); 2 usage or configuration error (also: a
settings file that cannot be read, Service Bus out of reach, a file already replayed or erased
to its end, command-line extras missing, `erase` without a terminal and without --yes);
3 MoEngage refused the credentials (replay or erase stopped, checkpoint kept); 130 interrupted
(replay, erase: checkpoint saved, resumable)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import IO

from bridge.cli.console import EXIT_INTERRUPTED, EXIT_USAGE, Console
from bridge.cli.deadletters import add_command as add_deadletters
from bridge.cli.deadletters import cmd_deadletters
from bridge.cli.erase import add_command as add_erase
from bridge.cli.erase import cmd_erase
from bridge.cli.preview import add_command as add_preview
from bridge.cli.preview import cmd_preview
from bridge.cli.replay import add_command as add_replay
from bridge.cli.replay import cmd_replay
from bridge.cli.report import add_command as add_report
from bridge.cli.report import cmd_report
from bridge.cli.validate import add_command as add_validate
from bridge.cli.validate import cmd_validate
from bridge.common.version import VERSION
from bridge.config.workspaces import DEFAULT_WORKSPACE
from bridge.durable.gateway import QueueGateway
from bridge.ops import report as reporting


class SettingsFileError(ValueError):
    """A --settings file that cannot be used; the message is one line for the operator."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kognitiv-bridge",
        description="Operate the Kognitiv → MoEngage bridge: check configuration, preview "
        "mappings, replay webhook bodies and dead letters. Settings come from the environment "
        "(the same app settings as the function) or --settings.",
        epilog="Exit codes: 0 ok, 1 problems found, 2 usage/configuration error, "
        "3 MoEngage refused the credentials, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    settings_help = (
        "read app settings from a local.settings.json file (its Values); variables already set "
        "in the environment win"
    )
    parser.add_argument("--settings", type=Path, metavar="FILE", help=settings_help)
    # The same option after the command (`validate --settings FILE`); SUPPRESS keeps a value
    # given before the command when it is not repeated after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings", type=Path, metavar="FILE", default=argparse.SUPPRESS, help=settings_help
    )
    one_workspace = argparse.ArgumentParser(add_help=False)
    one_workspace.add_argument(
        "--workspace",
        default=DEFAULT_WORKSPACE,
        metavar="NAME",
        help="the workspace (MOENGAGE_WORKSPACES; default %(default)s: the MOENGAGE_* settings)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_validate(commands, common, one_workspace)
    add_preview(commands, common, one_workspace)
    add_replay(commands, common, one_workspace)
    add_deadletters(commands, common, one_workspace)
    add_erase(commands, common, one_workspace)
    add_report(commands, common, one_workspace)
    return parser


def load_settings_file(path: Path) -> None:
    """Copy a local.settings.json file's Values into the environment, without overriding it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise SettingsFileError(f"cannot read settings file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise SettingsFileError(f"settings file {path} is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except ValueError as error:
        position = getattr(error, "lineno", "?"), getattr(error, "colno", "?")
        raise SettingsFileError(
            f"settings file {path} is not valid JSON (line {position[0]}, column {position[1]})"
        ) from None
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsFileError(
            f'settings file {path} has no "Values" object (the local.settings.json format)'
        )
    for name, value in values.items():
        if isinstance(value, str):
            os.environ.setdefault(name, value)  # the environment wins over the file


def main(
    argv: Sequence[str] | None = None,
    *,
    gateway: QueueGateway | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
    logs: reporting.LogsClient | None = None,
) -> int:
    """Run one command; returns the exit code."""
    console = Console(stdout or sys.stdout, stderr or sys.stderr)
    # Everything an operator needs is printed by the command itself. The function's own log
    # lines (the webhook's missing-credential warning, a configuration error the command
    # already reports) are for the function's logs: without this handler Python would print
    # them on stderr as well.
    bridge_log = logging.getLogger("kognitiv_bridge")
    if not any(isinstance(handler, logging.NullHandler) for handler in bridge_log.handlers):
        bridge_log.addHandler(logging.NullHandler())
    try:
        with redirect_stdout(console.out), redirect_stderr(console.err):
            args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        if args.settings:
            load_settings_file(args.settings)
        if args.command == "validate":
            return cmd_validate(args, console)
        if args.command == "preview":
            return cmd_preview(args, console)
        if args.command == "replay":
            return cmd_replay(args, console)
        if args.command == "erase":
            return cmd_erase(args, console, stdin or sys.stdin)
        if args.command == "report":
            return cmd_report(args, console, logs)
        return cmd_deadletters(args, console, gateway)
    except KeyboardInterrupt:
        console.error("interrupted")
        return EXIT_INTERRUPTED
    except (OSError, ValueError) as error:
        console.error(f"error: {error}")
        return EXIT_USAGE
