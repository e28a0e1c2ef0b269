"""A guard against the cold start growing again, without timing anything: the modules of our own
code that `import function_app` loads (direct mode, the benchmark's settings) and the size of
their source, held to tests/fixtures/cold_start_budget.json. On a run-from-package deployment
every one of them is compiled at each start (BENCHMARKS.md, figure 7), so the queue path, the
durable tables, the operator tools, the health report, the workspace table's entry model and the
compiled passthrough load on first use instead."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import ROOT, settings_environment

BUDGET = json.loads(
    (Path(__file__).resolve().parent.parent / "fixtures" / "cold_start_budget.json").read_text()
)
OURS = ("function_app", "bridge", "mapping", "delivery")
_REPORT = (
    "import json, sys\n"
    "{imports}\n"
    "ours = {{n: m.__file__ for n, m in sys.modules.items() if n.split('.')[0] in {ours!r}}}\n"
    "print(json.dumps(ours))\n"
)


def loaded_by(*imports: str) -> dict[str, int]:
    """Our modules a fresh interpreter loads for `imports`, with their source size in bytes."""
    environment = settings_environment()
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    code = _REPORT.format(imports="\n".join(f"import {name}" for name in imports), ours=OURS)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    files = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: len(Path(path).read_bytes()) for name, path in files.items()}


def over_budget(loaded: dict[str, int]) -> list[str]:
    """Each way `loaded` exceeds the budget: a module not on the list, or too much source."""
    problems = [
        f"{name} is loaded at import" for name in sorted(set(loaded) - set(BUDGET["modules"]))
    ]
    total = sum(loaded.values())
    if total > BUDGET["source_bytes"]:
        problems.append(f"{total} bytes of source compiled at import > {BUDGET['source_bytes']}")
    return problems


def test_import_function_app_loads_only_the_budgeted_modules() -> None:
    loaded = loaded_by("function_app")
    assert over_budget(loaded) == []
    # what the HTTP path does not need at start-up stays out
    for lazy in (
        "bridge.queue.trigger",
        "bridge.durable.messages",
        "bridge.durable.gateway",
        "bridge.durable.idempotency",
        "bridge.durable.tables",
        "bridge.webhook.health",
        "bridge.config.workspace_entries",
        "mapping.passthrough_compiled",
        "mapping.codegen",
    ):
        assert lazy not in loaded


def test_the_guard_catches_a_module_back_on_the_import_path() -> None:
    """The queue mode's gateway imported at start-up again: named, and over the byte budget."""
    problems = over_budget(loaded_by("function_app", "bridge.durable.gateway"))
    assert "bridge.durable.gateway is loaded at import" in problems
    assert problems[-1].endswith(f"compiled at import > {BUDGET['source_bytes']}")
