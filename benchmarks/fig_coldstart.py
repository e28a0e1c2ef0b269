"""Figure 7: cold start. Importing `function_app` (which builds the settings and compiles the
mapping rules at import, via bridge.deployment.runtime.warm_up) ÷ importing its third-party
dependencies alone. Each import runs in a fresh interpreter, the two kinds alternating; the median
of the import times measured inside the child is kept (interpreter start-up, the same for both, is
reported separately).

Two bytecode situations are measured:
- headline, "run from package": our modules have no bytecode cache and are compiled at every
  start, the dependencies have theirs (pip compiles them at install). That is a consumption-plan
  app deployed with WEBSITE_RUN_FROM_PACKAGE: the package is mounted read-only, so the worker
  cannot write __pycache__. Children run with PYTHONDONTWRITEBYTECODE=1 so the suite never
  writes caches into the repository either (`repo_bytecode_present` says if some exist).
- "all cached": every module, ours included, loads from a bytecode cache (PYTHONPYCACHEPREFIX
  in a temporary directory, primed by one run)."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

from benchmarks.harness import ROOT, Context, Figure, settings_environment

TARGET = 1.3
DEPENDENCIES = "azure.functions, httpx, msgspec, pydantic, pydantic_settings, tenacity, zoneinfo"
OURS = ("function_app", "bridge", "mapping", "delivery")
_TIMED = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _environment(cache: str | None) -> dict[str, str]:
    environment = settings_environment()
    environment.pop("PYTHONPYCACHEPREFIX", None)
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    if cache is not None:
        environment["PYTHONPYCACHEPREFIX"] = cache
        del environment["PYTHONDONTWRITEBYTECODE"]
    return environment


def _child(modules: str, cache: str | None) -> tuple[float, float]:
    """(import seconds measured inside the child, the child's whole wall time)."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our interpreter, fixed code
        [sys.executable, "-c", _TIMED.format(modules)],
        cwd=ROOT,
        env=_environment(cache),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def _series(runs: int, cache: str | None, prime: bool = True) -> dict[str, float]:
    app: list[tuple[float, float]] = []
    dependencies: list[tuple[float, float]] = []
    if prime:  # the disk cache (and the bytecode cache, if any)
        _child("function_app", cache)
        _child(DEPENDENCIES, cache)
    for _ in range(runs):
        app.append(_child("function_app", cache))
        dependencies.append(_child(DEPENDENCIES, cache))
    app_ms = statistics.median(a for a, _ in app) * 1000
    dependencies_ms = statistics.median(d for d, _ in dependencies) * 1000
    return {
        "ratio": round(app_ms / dependencies_ms, 3),
        "function_app_import_ms": round(app_ms, 1),
        "dependencies_import_ms": round(dependencies_ms, 1),
        "function_app_process_ms": round(statistics.median(w for _, w in app) * 1000, 1),
        "dependencies_process_ms": round(statistics.median(w for _, w in dependencies) * 1000, 1),
    }


def our_import_costs(top: int = 8) -> dict[str, float]:
    """`python -X importtime`: self time (ms) of our own modules, largest first."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import function_app"],
        cwd=ROOT,
        env=_environment(None),
        capture_output=True,
        text=True,
        check=True,
    )
    costs: dict[str, float] = defaultdict(float)
    for match in _IMPORTTIME.finditer(done.stderr):
        name = match.group(4)
        if name.split(".")[0] in OURS:
            costs[name] += int(match.group(1)) / 1000
    ranked = sorted(costs.items(), key=lambda item: -item[1])
    return {name: round(ms, 2) for name, ms in ranked[:top]} | {
        "all of ours (self)": round(sum(costs.values()), 2)
    }


def run(context: Context) -> Figure:
    runs = context.size(15, 1)
    from_package = _series(runs, None, prime=not context.quick)
    with tempfile.TemporaryDirectory() as cache:
        cached = _series(runs, cache)
    ratio = from_package["ratio"]
    present = any(
        (ROOT / package / "__pycache__").exists() for package in ("bridge", "mapping", "delivery")
    )
    return Figure(
        key="cold-start",
        title="cold start: import function_app ÷ import its dependencies",
        value=round(ratio, 2),
        unit="x",
        target=f"≤ {TARGET}",
        met=ratio <= TARGET,
        anchor=f"dependencies alone {from_package['dependencies_import_ms']:.0f} ms",
        details={
            "runs": runs,
            "run_from_package": from_package,
            "all_cached": cached,
            "repo_bytecode_present": present,
            "our_modules_self_ms": our_import_costs() if not context.quick else {},
        },
        note=(
            f"our code compiled at start: {from_package['function_app_import_ms']:.0f} ms vs "
            f"{from_package['dependencies_import_ms']:.0f} ms; all cached: {cached['ratio']:.2f}x"
        ),
    )
