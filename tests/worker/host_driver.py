"""Plays the Functions host against the real Python worker library, in its own interpreter.

Run by `tests/worker/harness.py` with the worker's Python (3.13+, `azure-functions-runtime`).
Reads a scenario as JSON on stdin, answers JSON on stdout:

    {"app_dir": ..., "rpc_dir": ..., "settings": {...}, "invocations": [...]}
    -> {"init": {...}, "metadata": {...}, "loads": {...}, "invocations": [...]}

The host's side of the exchange is `dev_server/worker_host.py` (what `./scripts/run-local`
serves HTTP with when Core Tools is missing), loaded by path: the checkout stays off the
worker's import path, so the app is imported from the package under test only."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

WORKER_HOST = Path(__file__).resolve().parents[2] / "dev_server" / "worker_host.py"


def _worker_host() -> Any:
    spec = importlib.util.spec_from_file_location("worker_host", WORKER_HOST)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["worker_host"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


async def run(scenario: dict[str, Any]) -> dict[str, Any]:
    worker_host = _worker_host()
    host = worker_host.WorkerHost(scenario["app_dir"], scenario["rpc_dir"], scenario["settings"])
    started = await host.start()
    answer: dict[str, Any] = {"init": host.init}
    if not host.metadata:
        return answer
    answer["metadata"] = host.metadata
    answer["loads"] = host.loads
    results = []
    if started:
        for invocation in scenario.get("invocations", []):
            outcome = await host.invoke(
                invocation["function"], invocation["inputs"], invocation.get("trigger_metadata")
            )
            results.append(outcome.as_dict())
    answer["invocations"] = results
    return answer


def main() -> None:
    scenario = json.load(sys.stdin)
    answer = asyncio.run(run(scenario))
    sys.stdout.write("\n" + json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
