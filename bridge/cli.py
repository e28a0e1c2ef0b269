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
import asyncio
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext, redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from bridge import erase as erasure
from bridge import report as reporting
from bridge.errors import BridgeError
from bridge.queue_gateway import QueueGateway, ServiceBusConfig, ServiceBusGateway
from bridge.replay import (
    CREDENTIALS_REFUSED,
    DEFAULT_RATE_PER_MINUTE,
    UNCONFIRMED,
    Replayer,
    ReplayOptions,
    ReplaySummary,
    count_lines,
)
from bridge.run_files import AlreadyRun, CredentialsRefused, Interrupted, StoppableRun
from bridge.runtime import Runtime, UnknownWorkspace, current_deployment, current_workspace
from bridge.settings import ConfigurationError, Settings
from bridge.validate import validate
from bridge.version import USER_AGENT, VERSION
from bridge.webhook import WebhookRequest, describe_plan, map_request
from bridge.workspaces import DEFAULT_WORKSPACE

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_CREDENTIALS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEAD_LETTER_REASONS = (
    "invalid_payload",
    "mapping_failed",
    "moengage_rejected",
    "retries_exhausted",
    "unknown_workspace",
)
CLI_EXTRAS = ("tqdm", "aiolimiter")  # requirements-cli.txt: never deployed with the function app
LOCAL_SETTINGS = Path("local.settings.json")
STOP_MESSAGES = {
    "finishing": "stopping: waiting for the MoEngage requests in flight to finish so their "
    "outcome is recorded (Ctrl-C again to abandon them)",
    "stopping": "stopping: nothing was in flight; saving the checkpoint",
    "abandoning": "abandoning the requests in flight: their lines are recorded as "
    f"{UNCONFIRMED} in the failed file and are not sent again",
}


ERASE_STOP_MESSAGES = {
    "finishing": "stopping: waiting for the deletes in flight to finish so their outcome is "
    "recorded (Ctrl-C again to abandon them)",
    "stopping": "stopping: nothing was in flight; saving the checkpoint",
    "abandoning": "abandoning the deletes in flight: they are not recorded, and a resume "
    "sends them again (a repeated delete is harmless)",
}


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

    replay = commands.add_parser(
        "replay",
        parents=[common, one_workspace],
        help="send a JSON-lines file of webhook bodies to MoEngage",
        description='Send each line (a webhook body, or {"event": name, "body": {...}}) '
        "through the same mapping and delivery code as the function, in bulk requests under a "
        "client-side rate limit. Failed lines are written unchanged to a file that can itself "
        "be replayed. A line is never sent twice: Ctrl-C (or SIGTERM) lets the requests in "
        "flight finish and saves the checkpoint (exit 130), and running the same command again "
        "resumes after it; a file replayed to its end is refused unless --restart.",
    )
    replay.add_argument("file", help="JSON-lines file (.jsonl), or - for standard input")
    replay.add_argument("--dry-run", action="store_true", help="map every line, send nothing")
    _file_run_options(
        replay,
        rate=DEFAULT_RATE_PER_MINUTE,
        rate_help="MoEngage elements per minute (default %(default)g, under MoEngage's bulk quota)",
        checkpoint="FILE.checkpoint.json",
        restart_help="start from the first line, ignoring the checkpoint (sends a completed file "
        "again)",
    )
    replay.add_argument(
        "--failed",
        type=Path,
        help="where failed lines go (FILE.failed.jsonl; stdin.failed.jsonl for standard input)",
    )
    replay.add_argument("--no-progress", action="store_true", help="no progress output")

    dead = commands.add_parser(
        "deadletters",
        parents=[common],
        help="list or replay dead-lettered queue messages",
        description="Read the dead-letter queues (the bridge's own and the main queue's) and "
        "send chosen messages back to the main queue once the cause is fixed.",
    )
    dead_commands = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = dead_commands.add_parser(
        "list", parents=[common], help="show reason, event, age and id"
    )
    resend = dead_commands.add_parser(
        "replay", parents=[common], help="send chosen dead letters back to the queue"
    )
    for sub in (listing, resend):
        sub.add_argument(
            "--reason",
            action="append",
            default=[],
            help=f"filter by reason ({', '.join(DEAD_LETTER_REASONS)}, or the "
            "host's, e.g. MaxDeliveryCountExceeded); repeatable",
        )
        sub.add_argument("--event", action="append", default=[], help="filter by event name")
        sub.add_argument(
            "--workspace",
            metavar="NAME",
            help="only letters of this workspace (their `workspace` property; default: all)",
        )
    listing.add_argument("--limit", type=int, default=100, help="show at most N (default 100)")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    resend.add_argument("--id", action="append", default=[], help="a message id; repeatable")
    resend.add_argument("--all", action="store_true", help="every dead letter (with filters)")
    resend.add_argument("--dry-run", action="store_true", help="show what would be replayed")

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
    _file_run_options(
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
        f"apart from the report. Default: the setting {erasure.REPORT_KEY_SETTING}",
    )
    return parser


def _file_run_options(
    command: argparse.ArgumentParser,
    *,
    rate: float,
    rate_help: str,
    checkpoint: str,
    restart_help: str,
) -> None:
    """The options `replay` and `erase` share (both are runs over a file: paced, checkpointed,
    resumable), worded for each."""
    command.add_argument("--rate", type=float, default=rate, metavar="N", help=rate_help)
    command.add_argument("--checkpoint", type=Path, help=f"checkpoint file ({checkpoint})")
    command.add_argument("--restart", action="store_true", help=restart_help)


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


def missing_cli_extras() -> list[str]:
    """The command-line extras (requirements-cli.txt) that are not installed."""
    missing = []
    for name in CLI_EXTRAS:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


class Console:
    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out, self.err = out, err

    def print(self, text: str = "") -> None:
        print(text, file=self.out)

    def error(self, text: str) -> None:
        print(text, file=self.err, flush=True)


def _configuration_error(console: Console, error: ConfigurationError) -> None:
    console.error("configuration error:")
    for problem in error.problems:
        console.error(f"  - {problem}")


def _runtime(console: Console, workspace: str = DEFAULT_WORKSPACE) -> Runtime | None:
    try:
        return current_workspace(workspace)
    except ConfigurationError as error:
        _configuration_error(console, error)
    except UnknownWorkspace as error:
        console.error(f"error: {error}")
    return None


def _settings_line(name: str, settings: Settings) -> str:
    mode = "queue" if settings.queue_mode else "direct"
    label = "settings" if name == DEFAULT_WORKSPACE else f"settings (workspace {name})"
    return (
        f"{label}: MoEngage DC {settings.data_center}, workspace "
        f"{settings.moengage_app_id}, {mode} mode, zone {settings.kognitiv_timezone}"
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


def cmd_preview(args: argparse.Namespace, console: Console) -> int:
    runtime = _runtime(console, args.workspace)
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


class ProgressReporter:
    """Counts lines: a tqdm bar (rate, ETA) on a terminal; a plain line every few seconds
    otherwise."""

    def __init__(self, total: int | None, stream: IO[str], enabled: bool = True) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled
        self.bar = None
        self.started = time.monotonic()
        self.last = 0.0
        self.first: int | None = None  # lines already done when this run started (a resume)

    def __call__(self, line: int, summary: ReplaySummary, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.bar is None and self.stream.isatty():
            from tqdm import tqdm  # a command-line extra (requirements-cli.txt)

            self.bar = tqdm(
                total=self.total, initial=line, unit=" lines", file=self.stream, desc="replay"
            )
        if self.bar is not None:
            self.bar.update(line - self.bar.n)
            self.bar.set_postfix(
                delivered=summary.delivered, failed=summary.failed_total, refresh=final
            )
            return
        if self.first is None:
            self.first = summary.lines
        now = time.monotonic()
        if final or now - self.last >= 5:
            self.last = now
            rate = (summary.lines - self.first) / max(now - self.started, 1e-9)
            print(
                f"replay: {summary.lines} lines, {summary.delivered} delivered, "
                f"{summary.failed_total} failed, {rate:.0f} lines/s",
                file=self.stream,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextmanager
def _stop_on_signals(
    run: StoppableRun,
    console: Console,
    messages: Mapping[str, str],
    *,
    at_once: Callable[[], Interrupted | None] = lambda: None,
) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM stop a replay or an erase cleanly: the requests in flight
    finish and are recorded, a second signal abandons them; `at_once` may stop the run right
    where it is instead (a replay reading and mapping: nothing sent since the last
    checkpoint). The handlers in place before are restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        message = messages.get(run.stop())
        if message:
            console.error(message)

    def on_signal(signum: int, frame: object) -> None:
        stopped = at_once()
        if stopped is not None:
            raise stopped
        loop.call_soon_threadsafe(request_stop)

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, on_signal) for number in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)


def _reading(replayer: Replayer) -> Interrupted | None:
    """A replay reading or mapping (possibly blocked reading standard input) stops right there."""
    if replayer.settling or replayer.stopping:
        return None
    return Interrupted(replayer.summary, replayer.next_line)


def _interrupted_message(options: ReplayOptions, stopped: Interrupted) -> list[str]:
    summary, done = stopped.summary, stopped.next_line
    counts = f"{summary.delivered} delivered, {summary.failed_total} failed"
    if options.path is None:
        lines = [
            f"interrupted: the first {done} lines of standard input are done ({counts}); "
            f"to go on: tail -n +{done + 1} FILE | kognitiv-bridge replay -"
        ]
    else:
        lines = [
            f"interrupted: {done} lines done ({counts}), checkpoint saved; run the same command "
            f"again to resume at line {done + 1}"
        ]
    unconfirmed = summary.failed.get(UNCONFIRMED, 0)
    if unconfirmed:
        lines.append(
            f"{unconfirmed} lines were abandoned in flight and may have reached MoEngage: they "
            f"are in {options.failed} (reason {UNCONFIRMED}); check before replaying that file"
        )
    return lines


def _already_replayed_message(path: Path, saved: dict[str, object]) -> str:
    saved_at = saved.get("saved_at")
    when = (
        datetime.fromtimestamp(saved_at, UTC).strftime(" on %Y-%m-%d %H:%M UTC")
        if isinstance(saved_at, int | float)
        else ""
    )
    failed = saved.get("failed")
    failed_total = sum(failed.values()) if isinstance(failed, dict) else 0
    return (
        f"error: {path} was already replayed to its end{when} ({saved.get('lines', '?')} lines, "
        f"{saved.get('delivered', '?')} delivered, {failed_total} failed); nothing was sent. "
        "Use --restart to send it again"
    )


def _replay_stopped(stopped: Exception, replayer: Replayer, console: Console) -> int:
    """Explain why a replay stopped before its end; returns the exit code."""
    options = replayer.options
    if isinstance(stopped, AlreadyRun):
        console.error(_already_replayed_message(options.path or Path("-"), stopped.saved))
        return EXIT_USAGE
    if isinstance(stopped, Interrupted):
        for line in _interrupted_message(options, stopped):
            console.error(line)
        return EXIT_INTERRUPTED
    console.error(f"stopped: {stopped}; fix the settings and run again to resume")
    refused = replayer.summary.failed.get(CREDENTIALS_REFUSED, 0)
    if refused:  # refused alongside lines MoEngage accepted: a resume does not send them again
        console.error(
            f"{refused} lines refused with these credentials are in {options.failed} "
            f"(reason {CREDENTIALS_REFUSED}): replay that file once the settings are fixed"
        )
    return EXIT_CREDENTIALS


async def _replay(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    from delivery import MoEngageSender, RetryPolicy
    from delivery.http import new_client

    options = ReplayOptions(
        path=None if args.file == "-" else Path(args.file),
        dry_run=args.dry_run,
        rate_per_minute=args.rate,
        failed_path=args.failed,
        checkpoint_path=args.checkpoint,
        restart=args.restart,
        workspace=args.workspace,
    )
    total = None if options.path is None else count_lines(options.path)
    progress = ProgressReporter(total, console.err, not args.no_progress)
    async with new_client(USER_AGENT) as client:
        policy = RetryPolicy(attempts=8, max_backoff=30.0, budget=120.0)
        sender = MoEngageSender(runtime.target, client, policy, gate=runtime.gate)
        replayer = Replayer(runtime, sender, options, progress)
        try:
            with (
                nullcontext()
                if options.dry_run  # nothing is sent in a dry run
                else _stop_on_signals(
                    replayer, console, STOP_MESSAGES, at_once=partial(_reading, replayer)
                )
            ):
                summary = await replayer.run()
        except (AlreadyRun, CredentialsRefused, Interrupted) as stopped:
            progress.close()  # before the explanation, on a terminal
            return _replay_stopped(stopped, replayer, console)
        finally:
            progress.close()
    console.print(
        json.dumps(
            {
                **summary.as_dict(),
                "dry_run": options.dry_run,
                "failed_file": str(options.failed) if summary.failed_total else None,
            },
            indent=2,
        )
    )
    return EXIT_OK if not summary.failed_total else EXIT_PROBLEMS


def _file_run_preflight(args: argparse.Namespace, console: Console) -> int | None:
    """The exit code when a run over a file (`replay`, `erase`) cannot start, None when it can:
    the command-line extras are installed, the file exists, the options fit together."""
    missing = missing_cli_extras()
    if missing:
        console.error(
            f"error: {args.command} needs {' and '.join(missing)} (command-line extras, not "
            "deployed with the function app): pip install -r requirements-cli.txt (or pip "
            "install '.[cli]')"
        )
        return EXIT_USAGE
    if args.file == "-" and args.checkpoint is not None:
        console.error("error: standard input cannot be resumed: --checkpoint needs a file")
        return EXIT_USAGE
    if args.file != "-" and not Path(args.file).is_file():
        console.error(f"error: no such file: {args.file}")
        return EXIT_USAGE
    if args.rate <= 0:
        console.error("error: --rate must be positive")
        return EXIT_USAGE
    return None


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    refused = _file_run_preflight(args, console)
    if refused is not None:
        return refused
    runtime = _runtime(console, args.workspace)
    if runtime is None:
        return EXIT_USAGE
    return asyncio.run(_replay(args, runtime, console))


async def _deadletters(args: argparse.Namespace, gateway: QueueGateway, console: Console) -> int:
    from bridge.deadletters import list_letters, replay_letters

    workspaces = [args.workspace] if args.workspace else []
    if args.action == "list":
        letters = await list_letters(gateway, args.reason, args.event, args.limit, workspaces)
        if args.json:
            for letter in letters:
                console.print(json.dumps(letter.as_dict()))
            return EXIT_OK
        console.print(
            f"{'ID':<40} {'WORKSPACE':<12} {'REASON':<26} {'EVENT':<22} {'AGE':>6}  DESCRIPTION"
        )
        for letter in letters:
            console.print(
                f"{letter.id[:40]:<40} {letter.workspace[:12]:<12} {letter.reason[:26]:<26} "
                f"{letter.event[:22]:<22} {letter.age:>6}  {letter.description[:80]}"
            )
        console.print(f"{len(letters)} dead letter(s)")
        return EXIT_OK
    if not (args.id or args.reason or args.event or args.workspace or args.all):
        console.error("choose what to replay: --id, --reason, --event or --all")
        return EXIT_USAGE
    done = await replay_letters(gateway, args.id, args.reason, args.event, args.dry_run, workspaces)
    verb = "would replay" if args.dry_run else "replayed"
    for letter in done:
        console.print(f"{verb} {letter.id} ({letter.reason}, {letter.event})")
    console.print(f"{verb} {len(done)} message(s)")
    return EXIT_OK


def _erase_preflight(args: argparse.Namespace, console: Console, stdin: IO[str]) -> int | None:
    """The exit code when `erase` cannot start, None when it can."""
    refused = _file_run_preflight(args, console)
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
    report: erasure.ErasureReport,
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
            with _stop_on_signals(eraser, console, ERASE_STOP_MESSAGES):
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
    runtime = _runtime(console, args.workspace)
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
        key, created = erasure.load_report_key(args.report_key, os.environ)
        report = erasure.ErasureReport(
            options.report, runtime.target.app_id, runtime.settings.data_center, key
        )
        report.check()
    except erasure.ReportKeyProblem as problem:
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


def _namespace(settings: Settings) -> str:
    """The Service Bus host the settings name (never the connection string's key)."""
    if settings.kognitiv_service_bus_namespace:
        return settings.kognitiv_service_bus_namespace
    connection = settings.kognitiv_service_bus
    for part in (connection.get_secret_value() if connection else "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "endpoint":
            return urlsplit(value.strip()).hostname or "?"
    return "?"


def _azure_error_line(error: Exception, settings: Settings) -> str:
    """One line naming the failure: the exception's first line, without any secret."""
    text = (str(error).strip().splitlines() or [""])[0]
    connection = settings.kognitiv_service_bus
    for part in (connection.get_secret_value() if connection else "").split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "sharedaccesskey" and value.strip():
            text = text.replace(value.strip(), "***")
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


def _known_workspace(console: Console, name: str) -> bool:
    """False (after one line saying why) when the settings do not define this workspace."""
    try:
        known = current_deployment().names
    except ConfigurationError as error:
        _configuration_error(console, error)
        return False
    if name not in known:
        console.error(f"error: {UnknownWorkspace(name, known)}")
        return False
    return True


def cmd_deadletters(
    args: argparse.Namespace, console: Console, gateway: QueueGateway | None
) -> int:
    if args.workspace and not _known_workspace(console, args.workspace):
        return EXIT_USAGE
    if gateway is not None:
        return asyncio.run(_deadletters(args, gateway, console))
    try:
        deployment = current_deployment()
    except ConfigurationError as error:
        _configuration_error(console, error)
        return EXIT_USAGE
    # One queue for all; any workspace that works has its settings (a broken one holds only
    # its own messages, and its letters are still listed and replayed).
    settings = next(iter(deployment.workspaces.values())).settings
    if not settings.queue_mode:
        console.error(
            "deadletters needs KOGNITIV_SERVICE_BUS (or "
            "KOGNITIV_SERVICE_BUS__fullyQualifiedNamespace) and "
            "KOGNITIV_SERVICE_BUS_QUEUE"
        )
        return EXIT_USAGE
    from azure.core.exceptions import AzureError

    try:
        return asyncio.run(
            _deadletters(args, ServiceBusGateway(ServiceBusConfig.from_settings(settings)), console)
        )
    except AzureError as error:
        console.error(
            f"error: cannot reach Service Bus {_namespace(settings)}: "
            f"{_azure_error_line(error, settings)}"
        )
        return EXIT_USAGE


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
