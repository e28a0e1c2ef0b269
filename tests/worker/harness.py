"""Builds what the real-worker tests need and runs the host driver.

- the worker: `dev_server.worker_env` (shared with `./scripts/run-local`'s dev server): Python
  3.13+ with `azure-functions-runtime` in its own virtual environment, the host's message types
  compiled from `dev_server/function_rpc.proto`, cached under `.venv-worker/`;
- the deployment package, as Core Tools builds it: the project's files minus `.funcignore`,
  plus `requirements.txt` (and nothing else) installed into `.python_packages/lib/site-packages`,
  as remote build does;
- a scenario run: `host_driver.py` in the worker's interpreter, in isolated mode, with the
  package as its app folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from dev_server.worker_env import (
    ROOT,
    WorkerUnavailable,
    installed_requirements,
    worker_environment,
)
from tests.funcignore_rules import git_packaged

HERE = Path(__file__).resolve().parent
__all__ = ["WorkerUnavailable", "installed_requirements", "worker_environment"]


def packaged_files(source: Path) -> list[str]:
    """The files published from `source`: `.funcignore` applied with git's rules, negation
    included (tests/funcignore_rules.py, which also checks Core Tools' and azd's matchers)."""
    return git_packaged(source)


def build_package(source: Path, destination: Path, python: Path) -> Path:
    """Copy what would be published, then add the remote-built packages."""
    for relative in packaged_files(source):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)
    installed = installed_requirements(python, source / "requirements.txt")
    site = destination / ".python_packages" / "lib" / "site-packages"
    shutil.copytree(
        installed, site, copy_function=os.link, ignore=shutil.ignore_patterns(".complete")
    )
    return destination


def example_settings() -> dict[str, str]:
    """The app settings of `local.settings.example.json`, as the host sets them."""
    values = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    return {key: str(value) for key, value in values.items()}


def run_scenario(
    python: Path,
    rpc: Path,
    app_dir: Path,
    settings: dict[str, str],
    invocations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the host driver in the worker's interpreter and return its answer."""
    scenario = {
        "app_dir": str(app_dir),
        "rpc_dir": str(rpc),
        "settings": settings,
        "invocations": invocations or [],
    }
    result = subprocess.run(
        [str(python), "-I", str(HERE / "host_driver.py")],
        input=json.dumps(scenario),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"host driver failed ({result.returncode}):\n{result.stderr[-4000:]}")
    answer = json.loads(lines[-1])
    answer["stderr"] = result.stderr
    return answer


if __name__ == "__main__":  # pragma: no cover - a manual check: python tests/worker/harness.py
    worker, compiled = worker_environment()
    print(worker, compiled, file=sys.stderr)
