"""The benchmark suite keeps working: `python -m benchmarks --quick` runs every figure at tiny
sizes in a few seconds. No timing is ever asserted here (see BENCHMARKS.md for the numbers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import FIGURES
from benchmarks.fig_executions import simulate

ROOT = Path(__file__).resolve().parent.parent.parent


def test_quick_run_produces_every_figure(tmp_path: Path) -> None:
    results = tmp_path / "results.json"

    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    document = json.loads(results.read_text())
    assert document["failed"] == []
    assert [figure["key"] for figure in document["figures"]] == list(FIGURES)
    assert all(isinstance(figure["value"], int | float) for figure in document["figures"])
    assert "target" in done.stdout  # the results table was printed


def test_batching_model_follows_the_host_settings() -> None:
    # steady load fills a minimum batch at once; a trickle waits maxBatchWaitTime per batch
    assert simulate(500.0, 10_000, 100, 500, 5.0) == (100, 100.0)
    executions, mean = simulate(2.0, 1_000, 100, 500, 5.0)
    assert 9 <= mean <= 11
    assert round(executions * mean) == 1_000
