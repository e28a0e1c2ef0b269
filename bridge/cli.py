"""Operator command line: `python -m bridge` or `kognitiv-bridge`.

Exit codes a script can rely on: 0 success; 1 problems found (invalid configuration reported by
`validate`, a mapping error in `preview`, lines that failed in `replay`); 2 usage or configuration
error; 3 MoEngage refused the credentials (replay stopped, checkpoint kept); 130 interrupted."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import IO

from bridge.errors import BridgeError
from bridge.queue_gateway import QueueGateway, ServiceBusConfig, ServiceBusGateway
from bridge.replay import (
    DEFAULT_RATE_PER_MINUTE,
    CredentialsRefused,
    Replayer,
    ReplayOptions,
    ReplaySummary,
)
from bridge.runtime import Runtime, current_runtime
from bridge.settings import ConfigurationError
from bridge.validate import validate
from bridge.webhook import WebhookRequest, describe_plan, map_request

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_CREDENTIALS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEAD_LETTER_REASONS = (
    "invalid_payload",
    "mapping_failed",
    "moengage_rejected",
    "retries_exhausted",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kognitiv-bridge",
        description="Operate the Kognitiv → MoEngage bridge: check configuration, preview "
        "mappings, replay webhook bodies and dead letters. Settings come from the environment "
        "(the same app settings as the function) or --settings.",
        epilog="Exit codes: 0 ok, 1 problems found, 2 usage/configuration error, "
        "3 MoEngage refused the credentials, 130 interrupted.",
    )
    parser.add_argument(
        "--settings",
        type=Path,
        metavar="FILE",
        help="read app settings from a local.settings.json file (its Values); variables already "
        "set in the environment win",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser(
        "validate",
        help="check settings and mapping rules exactly as the function loads them",
        description="Load settings and mapping rules as the function does and report every "
        "problem at once (unknown data center, bad time zone, rule errors, placeholders that "
        "can never resolve). Exit 1 if there is any.",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    preview = commands.add_parser(
        "preview",
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
        help="send a JSON-lines file of webhook bodies to MoEngage",
        description='Send each line (a webhook body, or {"event": name, "body": {...}}) '
        "through the same mapping and delivery code as the function, in bulk requests under a "
        "client-side rate limit. Resumes from its checkpoint after an interruption. Failed lines "
        "are written unchanged to a file that can itself be replayed.",
    )
    replay.add_argument("file", type=Path, help="JSON-lines file (.jsonl)")
    replay.add_argument("--dry-run", action="store_true", help="map every line, send nothing")
    replay.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE_PER_MINUTE,
        metavar="N",
        help="MoEngage elements per minute (default %(default)g, under MoEngage's bulk quota)",
    )
    replay.add_argument("--failed", type=Path, help="where failed lines go (FILE.failed.jsonl)")
    replay.add_argument("--checkpoint", type=Path, help="checkpoint file (FILE.checkpoint.json)")
    replay.add_argument("--restart", action="store_true", help="ignore a saved checkpoint")
    replay.add_argument("--no-progress", action="store_true", help="no progress output")

    dead = commands.add_parser(
        "deadletters",
        help="list or replay dead-lettered queue messages",
        description="Read the dead-letter queues (the bridge's own and the main queue's) and "
        "send chosen messages back to the main queue once the cause is fixed.",
    )
    dead_commands = dead.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = dead_commands.add_parser("list", help="show reason, event, age and id")
    resend = dead_commands.add_parser("replay", help="send chosen dead letters back to the queue")
    for sub in (listing, resend):
        sub.add_argument(
            "--reason",
            action="append",
            default=[],
            help=f"filter by reason ({', '.join(DEAD_LETTER_REASONS)}, or the "
            "host's, e.g. MaxDeliveryCountExceeded); repeatable",
        )
        sub.add_argument("--event", action="append", default=[], help="filter by event name")
    listing.add_argument("--limit", type=int, default=100, help="show at most N (default 100)")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    resend.add_argument("--id", action="append", default=[], help="a message id; repeatable")
    resend.add_argument("--all", action="store_true", help="every dead letter (with filters)")
    resend.add_argument("--dry-run", action="store_true", help="show what would be replayed")
    return parser


def load_settings_file(path: Path) -> None:
    """Copy a local.settings.json file's Values into the environment, without overriding it."""
    document = json.loads(path.read_text(encoding="utf-8-sig"))
    values = document.get("Values", {}) if isinstance(document, dict) else {}
    for name, value in values.items():
        if isinstance(value, str):
            os.environ.setdefault(name, value)  # the environment wins over the file


class Console:
    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self.out, self.err = out, err

    def print(self, text: str = "") -> None:
        print(text, file=self.out)

    def error(self, text: str) -> None:
        print(text, file=self.err)


def _runtime(console: Console) -> Runtime | None:
    try:
        return current_runtime()
    except ConfigurationError as error:
        console.error("configuration error:")
        for problem in error.problems:
            console.error(f"  - {problem}")
        return None


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    report = validate()
    if args.json:
        document = {
            "ok": report.ok,
            "problems": report.problems,
            "notes": report.notes,
            "rules": report.rules,
        }
        console.print(json.dumps(document, indent=2))
        return EXIT_OK if report.ok else EXIT_PROBLEMS
    if report.settings is not None:
        settings = report.settings
        mode = "queue" if settings.queue_mode else "direct"
        console.print(
            f"settings: MoEngage DC {settings.data_center}, workspace "
            f"{settings.moengage_app_id}, {mode} mode, zone {settings.kognitiv_timezone}"
        )
    if report.rules:
        console.print(f"mapping rules: {', '.join(report.rules)}")
    for note in report.notes:
        console.print(f"note: {note}")
    for problem in report.problems:
        console.print(f"PROBLEM: {problem}")
    console.print("OK" if report.ok else f"{len(report.problems)} problem(s)")
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_preview(args: argparse.Namespace, console: Console) -> int:
    runtime = _runtime(console)
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
    """A tqdm bar (rate, ETA) on a terminal; a plain line every few seconds otherwise."""

    def __init__(self, total: int, stream: IO[str], enabled: bool = True) -> None:
        self.stream = stream
        self.enabled = enabled
        self.bar = None
        self.started = time.monotonic()
        self.last = 0.0
        if enabled and stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="B", unit_scale=True, file=stream, desc="replay")
        self.position = 0

    def __call__(self, offset: int, summary: ReplaySummary, final: bool = False) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(offset - self.bar.n)
            self.bar.set_postfix(
                delivered=summary.delivered, failed=summary.failed_total, refresh=final
            )
            return
        now = time.monotonic()
        if final or now - self.last >= 5:
            self.last = now
            rate = summary.lines / max(now - self.started, 1e-9)
            line = (
                f"replay: {summary.lines} lines, {summary.delivered} delivered, "
                f"{summary.failed_total} failed, {rate:.0f} lines/s"
            )
            print(line, file=self.stream)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def _replay(args: argparse.Namespace, runtime: Runtime, console: Console) -> int:
    from delivery import MoEngageSender, RetryPolicy
    from delivery.http import new_client

    options = ReplayOptions(
        path=args.file,
        dry_run=args.dry_run,
        rate_per_minute=args.rate,
        failed_path=args.failed,
        checkpoint_path=args.checkpoint,
        restart=args.restart,
    )
    progress = ProgressReporter(args.file.stat().st_size, console.err, not args.no_progress)
    async with new_client() as client:
        policy = RetryPolicy(attempts=8, max_backoff=30.0, budget=120.0)
        sender = MoEngageSender(runtime.target, client, policy, gate=runtime.gate)
        replayer = Replayer(runtime, sender, options, progress)
        try:
            summary = await replayer.run()
        except CredentialsRefused as error:
            progress.close()
            console.error(f"stopped: {error}; fix the settings and run again to resume")
            return EXIT_CREDENTIALS
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


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    runtime = _runtime(console)
    if runtime is None:
        return EXIT_USAGE
    if not args.file.is_file():
        console.error(f"no such file: {args.file}")
        return EXIT_USAGE
    if args.rate <= 0:
        console.error("--rate must be positive")
        return EXIT_USAGE
    return asyncio.run(_replay(args, runtime, console))


async def _deadletters(args: argparse.Namespace, gateway: QueueGateway, console: Console) -> int:
    from bridge.deadletters import list_letters, replay_letters

    if args.action == "list":
        letters = await list_letters(gateway, args.reason, args.event, args.limit)
        if args.json:
            for letter in letters:
                console.print(json.dumps(letter.as_dict()))
            return EXIT_OK
        console.print(f"{'ID':<40} {'REASON':<26} {'EVENT':<22} {'AGE':>6}  DESCRIPTION")
        for letter in letters:
            console.print(
                f"{letter.id[:40]:<40} {letter.reason[:26]:<26} "
                f"{letter.event[:22]:<22} {letter.age:>6}  {letter.description[:80]}"
            )
        console.print(f"{len(letters)} dead letter(s)")
        return EXIT_OK
    if not (args.id or args.reason or args.event or args.all):
        console.error("choose what to replay: --id, --reason, --event or --all")
        return EXIT_USAGE
    done = await replay_letters(gateway, args.id, args.reason, args.event, args.dry_run)
    verb = "would replay" if args.dry_run else "replayed"
    for letter in done:
        console.print(f"{verb} {letter.id} ({letter.reason}, {letter.event})")
    console.print(f"{verb} {len(done)} message(s)")
    return EXIT_OK


def cmd_deadletters(
    args: argparse.Namespace, console: Console, gateway: QueueGateway | None
) -> int:
    if gateway is None:
        runtime = _runtime(console)
        if runtime is None:
            return EXIT_USAGE
        if not runtime.settings.queue_mode:
            console.error(
                "deadletters needs KOGNITIV_SERVICE_BUS (or "
                "KOGNITIV_SERVICE_BUS__fullyQualifiedNamespace) and "
                "KOGNITIV_SERVICE_BUS_QUEUE"
            )
            return EXIT_USAGE
        gateway = ServiceBusGateway(ServiceBusConfig.from_settings(runtime.settings))
    return asyncio.run(_deadletters(args, gateway, console))


def main(
    argv: Sequence[str] | None = None,
    *,
    gateway: QueueGateway | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run one command; returns the exit code."""
    console = Console(stdout or sys.stdout, stderr or sys.stderr)
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
        return cmd_deadletters(args, console, gateway)
    except KeyboardInterrupt:
        console.error("interrupted (replay resumes from its checkpoint)")
        return EXIT_INTERRUPTED
    except (OSError, ValueError) as error:
        console.error(f"error: {error}")
        return EXIT_USAGE
