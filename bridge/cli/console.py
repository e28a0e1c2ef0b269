"""What the commands share: the console, exit codes, the settings file, the command-line extras
and a workspace's runtime."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from bridge.config.settings import ConfigurationError
from bridge.config.workspaces import DEFAULT_WORKSPACE
from bridge.deployment.runtime import Runtime, UnknownWorkspace, current_workspace
from bridge.ops.run_files import Interrupted, StoppableRun

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_CREDENTIALS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

DEAD_LETTER_REASONS = (
    "invalid_payload",
    "mapping_failed",
    "moengage_rejected",
    "retries_exhausted",
    "unknown_workspace",
)

CLI_EXTRAS = ("tqdm", "aiolimiter")  # requirements-cli.txt: never deployed with the function app


def file_run_options(
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


def configuration_error(console: Console, error: ConfigurationError) -> None:
    console.error("configuration error:")
    for problem in error.problems:
        console.error(f"  - {problem}")


def workspace_runtime(console: Console, workspace: str = DEFAULT_WORKSPACE) -> Runtime | None:
    try:
        return current_workspace(workspace)
    except ConfigurationError as error:
        configuration_error(console, error)
    except UnknownWorkspace as error:
        console.error(f"error: {error}")
    return None


@contextmanager
def stop_on_signals(
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


def file_run_preflight(args: argparse.Namespace, console: Console) -> int | None:
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
