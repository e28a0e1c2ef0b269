"""`kognitiv-bridge replay`: send a JSON-lines file of webhook bodies to MoEngage."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from contextlib import nullcontext
from datetime import UTC, datetime
from functools import partial
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
from bridge.ops.replay import (
    CREDENTIALS_REFUSED,
    DEFAULT_RATE_PER_MINUTE,
    UNCONFIRMED,
    Replayer,
    ReplayOptions,
    ReplaySummary,
    count_lines,
)
from bridge.ops.run_files import AlreadyRun, CredentialsRefused, Interrupted

STOP_MESSAGES = {
    "finishing": "stopping: waiting for the MoEngage requests in flight to finish so their "
    "outcome is recorded (Ctrl-C again to abandon them)",
    "stopping": "stopping: nothing was in flight; saving the checkpoint",
    "abandoning": "abandoning the requests in flight: their lines are recorded as "
    f"{UNCONFIRMED} in the failed file and are not sent again",
}


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
                else stop_on_signals(
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


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    one_workspace: argparse.ArgumentParser,
) -> None:
    """The `replay` subcommand and its arguments."""
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
    file_run_options(
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


def cmd_replay(args: argparse.Namespace, console: Console) -> int:
    refused = file_run_preflight(args, console)
    if refused is not None:
        return refused
    runtime = workspace_runtime(console, args.workspace)
    if runtime is None:
        return EXIT_USAGE
    return asyncio.run(_replay(args, runtime, console))
