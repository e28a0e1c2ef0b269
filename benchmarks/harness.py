"""What every figure shares: core pinning, app settings, the emulator process, timing, results."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_CORE = 0
APP_ID = "bench-workspace"
API_KEY = "bench-key-0123456789"
KOGNITIV_TOKEN = "bench-kognitiv-token"  # noqa: S105 - a benchmark's made-up token
SETTING_PREFIXES = ("MOENGAGE_", "KOGNITIV_")


def pin(core: int | None) -> str:
    """Pin this process to `core` when the machine has it; say what was done."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    try:
        os.sched_setaffinity(0, {core})
    except OSError:
        return f"not pinned (no core {core})"
    return f"core {core}"


def other_core() -> int | None:
    """The emulator's core: one the bridge does not use, if there is one."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    cores = sorted(set(range(os.cpu_count() or 1)) - {BENCH_CORE})
    return cores[0] if cores else None


def settings_environment(base_url: str | None = None, **extra: str) -> dict[str, str]:
    """The app settings of a benchmarked deployment (Kognitiv bearer token configured)."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(SETTING_PREFIXES)
    }
    environment.update(
        MOENGAGE_APP_ID=APP_ID,
        MOENGAGE_API_KEY=API_KEY,
        MOENGAGE_DATA_CENTER="01",
        KOGNITIV_AUTH_TOKEN=KOGNITIV_TOKEN,
        **extra,
    )
    if base_url:
        environment["MOENGAGE_API_BASE_URL"] = base_url
    return environment


def use_settings(base_url: str | None = None, **extra: str) -> None:
    """Apply the settings to this process (the runtime rebuilds on the next request)."""
    wanted = settings_environment(base_url, **extra)
    for name in [n for n in os.environ if n.startswith(SETTING_PREFIXES)]:
        del os.environ[name]
    os.environ.update({k: v for k, v in wanted.items() if k.startswith(SETTING_PREFIXES)})


def quiet_logging() -> None:
    """As in the Functions worker: INFO records are created and handed to a handler (which here
    discards them, where the worker would ship them to the host)."""
    root = logging.getLogger()
    root.handlers[:] = [logging.NullHandler()]
    root.setLevel(logging.INFO)


class EmulatorProcess:
    """`python -m benchmarks.emulator_process` on the other core; controlled over HTTP."""

    def __init__(self, latency_ms: float = 0.0, quota_per_minute: int | None = None) -> None:
        command = [
            sys.executable,
            "-m",
            "benchmarks.emulator_process",
            "--latency-ms",
            str(latency_ms),
            "--app-id",
            APP_ID,
            "--api-key",
            API_KEY,
        ]
        core = other_core()
        if core is not None:
            command += ["--core", str(core)]
        if quota_per_minute is not None:
            command += ["--quota-per-minute", str(quota_per_minute)]
        self.core = core
        self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            self.close()
            raise RuntimeError("the emulator process did not start")

    def _call(self, method: str, path: str, data: dict[str, Any] | None = None) -> Any:
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(self.base_url + path, body, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def reset(self) -> None:
        self._call("POST", "/_emulator/reset", {})

    def requests(self) -> list[dict[str, Any]]:
        """The request log: method, path, status, size (no bodies, no headers)."""
        return self._call("GET", "/_emulator/requests")

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Figure:
    """One row of the results table."""

    key: str
    title: str
    value: float
    unit: str
    target: str
    met: bool | None
    anchor: str
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    """Run-wide options handed to every figure."""

    quick: bool
    emulator_core: int | None = field(default_factory=other_core)

    def size(self, full: int, quick: int) -> int:
        return quick if self.quick else full


def cpu_clock() -> float:
    """Seconds of CPU this thread has used. CPU-bound figures are timed with it, not the wall
    clock: on a shared VM the wall clock also counts the turns of other processes."""
    return time.thread_time()


def best_time(function: Callable[[], object], rounds: int) -> float:
    """The fastest of `rounds` calls, in CPU seconds: the least disturbed measurement."""
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        started = cpu_clock()
        function()
        best = min(best, cpu_clock() - started)
    return best
