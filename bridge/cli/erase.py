"""`kognitiv-bridge erase`: delete members from MoEngage (privacy requests), with a report as
evidence."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from bridge.cli.console import (
    EXIT_CREDENTIALS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    Console,
    file_run_options,
    file_run_preflight,
    stop_on_signals,
    workspace_runtime,
)
from bridge.common.version import USER_AGENT
from bridge.deployment.runtime import Runtime
from bridge.ops import erase as erasure
from bridge.ops import erasure_report
from bridge.ops.run_files import AlreadyRun, CredentialsRefused, Interrupted

ERASE_STOP_MESSAGES = {
    "finishing": "stopping: waiting for the deletes in flight to finish so their outcome is "
    "recorded (Ctrl-C again to abandon them)",
    "stopping": "stopping: nothing was in flight; saving the checkpoint",
    "abandoning": "abandoning the deletes in flight: they are not recorded, and a resume "
    "sends them again (a repeated delete is harmless)",
}


def _erase_preflight(args: argparse.Namespace, console: Console, stdin: IO[str]) -> int | None:
    """The exit code when `erase` cannot start, None when it can."""
    refused = file_run_preflight(args, console)
    if refused is not None:
        return refused
    if not args.yes and (args.file == "-" or not stdin.isatty()):
        console.error(
            "error: erase asks for confirmation on a terminal; without one (or with the ids "
            "on standard input) add --yes. Nothing was erased"
        )
        return EXIT_USAGE
    return None


def _show_plan(ids: Sequence[str], runtime: Runtime, console: Console) -> None:
    sample = ", ".join(erasure.masked(member) for member in ids[:5])
    more = f" and {len(ids) - 5} more" if len(ids) > 5 else ""
    console.error(
        f"about to erase {len(ids)} member(s) from MoEngage workspace "
        f"{runtime.target.app_id} (data center {runtime.settings.data_center}): {sample}{more}"
    )


def _confirmed(console: Console, stdin: IO[str], gdpr: bool) -> bool:
    if gdpr:
        console.error("MoEngage erases their personal data (GDPR erasure). Type 'yes' to go on:")
    else:
        console.error("MoEngage deletes their profiles after 24 hours. Type 'yes' to go on:")
    return stdin.readline().strip().lower() in ("y", "yes")


async def _erase(
    ids: Sequence[str],
    options: erasure.EraseOptions,
    report: erasure_report.ErasureReport,
    runtime: Runtime,
    console: Console,
) -> int:
    from delivery import MoEngageSender, RetryPolicy
    from delivery.http import new_client

    async with new_client(USER_AGENT) as client:
        policy = RetryPolicy(attempts=8, max_backoff=30.0, budget=120.0)
        sender = MoEngageSender(runtime.target, client, policy, gate=runtime.gate)
        eraser = erasure.Eraser(sender, report, options)
        try:
            with stop_on_signals(eraser, console, ERASE_STOP_MESSAGES):
                summary = await eraser.run(ids)
        except AlreadyRun:
            console.error(
                f"error: {options.path} was already erased to its end (report "
                f"{options.report}); nothing was sent. Use --restart to erase it again"
            )
            return EXIT_USAGE
        except Interrupted:
            console.error(
                f"interrupted: {eraser.settled} of {len(ids)} ids settled and in {options.report}"
                + (
                    "; run the same command again to resume"
                    if options.path is not None
                    else "; standard input cannot be resumed: erase the rest again "
                    "(erasing twice is harmless)"
                )
            )
            return EXIT_INTERRUPTED
        except (CredentialsRefused, erasure.StillUnavailable) as stopped:
            refused = isinstance(stopped, CredentialsRefused)
            fix = "fix the settings, then " if refused else ""
            console.error(f"stopped: {stopped}; {fix}run the same command again to resume")
            return EXIT_CREDENTIALS if refused else EXIT_PROBLEMS
    console.print(json.dumps({**summary.as_dict(), "report": str(options.report)}, indent=2))
    return EXIT_OK if not summary.refused else EXIT_PROBLEMS


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    one_workspace: argparse.ArgumentParser,
) -> None:
    """The `erase` subcommand and its arguments."""
    erase = commands.add_parser(
        "erase",
        parents=[common, one_workspace],
        help="delete members from MoEngage (privacy requests), with a report as evidence",
        description="Ask MoEngage to delete each member id (one a line; blank lines and # "
        "comments ignored), after showing how many and asking to confirm: with its Delete User "
        "API (the profile goes after a 24-hour buffer; events stay), or with --gdpr its GDPR "
        "erasure API. A member Delete User does not have counts as done. Every outcome goes to "
        "a JSON-lines report naming members by HMAC keyed by the operator's report key (kept "
        "apart from the report), never by id. Ctrl-C (or SIGTERM) lets the requests in flight "
        "finish and saves the checkpoint (exit 130); running the same command again resumes.",
    )
    erase.add_argument("file", help="member ids, one a line, or - for standard input")
    erase.add_argument(
        "--yes",
        action="store_true",
        help="do not ask (required without a terminal and when the ids come from -)",
    )
    file_run_options(
        erase,
        rate=erasure.DEFAULT_RATE_PER_MINUTE,
        rate_help="deletes per minute (default %(default)g; MoEngage allows 5,000)",
        checkpoint="FILE.erase.checkpoint",
        restart_help="start from the first id, ignoring the checkpoint (erasing again is harmless)",
    )
    erase.add_argument(
        "--report",
        type=Path,
        help="the erasure report (FILE.erasure.jsonl; stdin.erasure.jsonl for standard input)",
    )
    erase.add_argument(
        "--gdpr",
        action="store_true",
        help="use MoEngage's GDPR erasure API (OpenGDPR request_type erasure) instead of "
        "Delete User: for data subjects' erasure requests",
    )
    erase.add_argument(
        "--report-key",
        type=Path,
        metavar="KEYFILE",
        help="the file holding the report key (created, owner-only, when missing); keep it "
        f"apart from the report. Default: the setting {erasure_report.REPORT_KEY_SETTING}",
    )


def cmd_erase(args: argparse.Namespace, console: Console, stdin: IO[str]) -> int:
    refused = _erase_preflight(args, console, stdin)
    if refused is not None:
        return refused
    try:
        if args.file == "-":
            ids, problems = erasure.read_member_ids(stdin.buffer)
        else:
            with Path(args.file).open("rb") as source:
                ids, problems = erasure.read_member_ids(source)
    except OSError as error:
        console.error(f"cannot read {args.file}: {error.strerror}")
        return EXIT_USAGE
    for problem in problems:
        console.error(f"PROBLEM: {problem}")
    if problems:
        console.error(f"{len(problems)} invalid member id(s); nothing was erased")
        return EXIT_PROBLEMS
    if not ids:
        console.error("no member ids to erase")
        return EXIT_OK
    runtime = workspace_runtime(console, args.workspace)
    if runtime is None:
        return EXIT_USAGE
    options = erasure.EraseOptions(
        path=None if args.file == "-" else Path(args.file),
        rate_per_minute=args.rate,
        report_path=args.report,
        checkpoint_path=args.checkpoint,
        restart=args.restart,
        workspace=args.workspace,
        gdpr=args.gdpr,
    )
    try:
        key, created = erasure_report.load_report_key(args.report_key, os.environ)
        report = erasure_report.ErasureReport(
            options.report, runtime.target.app_id, runtime.settings.data_center, key
        )
        report.check()
    except erasure_report.ReportKeyProblem as problem:
        console.error(f"error: {problem}; nothing was erased")
        return EXIT_USAGE
    if created:
        console.error(
            f"created the report key {args.report_key}: keep it apart from the report (whoever "
            "holds both can check ids against it)"
        )
    _show_plan(ids, runtime, console)
    if not args.yes and not _confirmed(console, stdin, args.gdpr):
        console.error("not confirmed; nothing was erased")
        return EXIT_PROBLEMS
    return asyncio.run(_erase(ids, options, report, runtime, console))
