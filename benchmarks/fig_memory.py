"""Figure 8: peak memory (ru_maxrss) of `python -m bridge replay` run as a child process on the
bridge's core against the emulator (which runs, and keeps what it receives, in its own process),
for 10,000 and 100,000 bodies. Flat means the larger file does not need more memory.

The child is started from a small launcher (benchmarks/peak_rss.py): Linux starts a child's
ru_maxrss at its parent's RSS, and the benchmark process itself is larger than the replay."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bodies import BodyFactory
from benchmarks.fig_requests import replay_file
from benchmarks.harness import ROOT, Context, EmulatorProcess, Figure, settings_environment

TARGET_MB = 100.0
UNLIMITED_RATE = "100000000"  # elements/min: memory, not pacing, is measured here


def replay_peak(base_url: str, path: Path) -> tuple[float, float, dict[str, object]]:
    """(peak RSS in MB, seconds, summary) of one `python -m bridge replay` child."""
    report = path.with_suffix(".rss.json")
    launcher = [sys.executable, "-m", "benchmarks.peak_rss", str(report)]
    replay = [sys.executable, "-m", "bridge", "replay", str(path), "--no-progress", "--restart"]
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our interpreter, fixed arguments
        [*launcher, *replay, "--rate", UNLIMITED_RATE],
        cwd=ROOT,
        env=settings_environment(base_url),
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"replay exited with {done.returncode}: {done.stderr[-500:]!r}")
    peak = json.loads(report.read_text())["maxrss_kb"] / 1024
    return peak, seconds, json.loads(done.stdout)


def run(context: Context) -> Figure:
    small, large = context.size(10_000, 200), context.size(100_000, 2_000)
    factory = BodyFactory(seed=8)
    peaks: dict[int, float] = {}
    seconds: dict[int, float] = {}
    with EmulatorProcess() as emulator, tempfile.TemporaryDirectory() as directory:
        for count in (small, large):
            path = replay_file(list(factory.stream(count)), Path(directory), f"{count}.jsonl")
            peak, elapsed, summary = replay_peak(emulator.base_url, path)
            if summary["delivered"] != count:
                raise RuntimeError(f"replay delivered {summary['delivered']} of {count}")
            peaks[count], seconds[count] = peak, elapsed
            emulator.reset()
    growth = peaks[large] - peaks[small]
    return Figure(
        key="memory",
        title=f"peak RSS replaying {large:,} bodies (child process, to the emulator)",
        value=round(peaks[large], 1),
        unit="MB",
        target=f"≤ {TARGET_MB:g} MB, flat",
        met=peaks[large] <= TARGET_MB and growth <= 0.1 * peaks[small],
        anchor=f"{small:,} bodies: {peaks[small]:.1f} MB",
        details={
            "peak_mb": {str(k): round(v, 1) for k, v in peaks.items()},
            "growth_mb": round(growth, 1),
            "seconds": {str(k): round(v, 1) for k, v in seconds.items()},
            "mode": "delivered to the emulator (not --dry-run)",
        },
        note=f"{small:,}: {peaks[small]:.1f} MB, {large:,}: {peaks[large]:.1f} MB",
    )
