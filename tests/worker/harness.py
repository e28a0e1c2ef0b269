"""Builds what the real-worker tests need and runs the host driver.

- the deployment package, as Core Tools builds it: the project's files minus `.funcignore`,
  plus `requirements.txt` (and nothing else) installed into `.python_packages/lib/site-packages`,
  as remote build does;
- the worker: `azure-functions-runtime` (the library behind the host's Python worker for 3.13+)
  in its own virtual environment, with the host's message types compiled by grpcio-tools from
  `function_rpc.proto`;
- a scenario run: `host_driver.py` in the worker's interpreter, in isolated mode, with the
  package as its app folder.

Slow parts (virtual environment, installs) are cached under `.venv-worker/`, keyed by what they
were built from, so only the first run of a machine pays for them."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.funcignore_rules import git_packaged

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = ROOT / ".venv-worker"
WORKER_PACKAGES = ("azure-functions-runtime>=1.3,<2", "grpcio-tools>=1.66,<2")
WORKER_VERSION = (3, 13)


class WorkerUnavailable(RuntimeError):
    """No Python 3.13+ interpreter on this machine."""


def worker_python() -> str:
    """A Python 3.13+ interpreter: under pyenv, or `python3.13` on PATH (pyenv's shims are on
    PATH but fail when 3.13 is not the selected version, so each candidate is tried)."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"), reverse=True)
    candidates.append(shutil.which("python3.13") or "")
    probe = "import sys; print(sys.version_info >= (3, 13))"
    for candidate in filter(None, candidates):
        answer = subprocess.run(
            [candidate, "-c", probe], capture_output=True, text=True, check=False
        )
        if answer.stdout.strip() == "True":
            return candidate
    raise WorkerUnavailable("no Python 3.13 found (PATH or $PYENV_ROOT/versions/3.13*)")


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])} ... failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def _pip(python: str, *args: str) -> None:
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args])


def worker_environment() -> tuple[Path, Path]:
    """(worker interpreter, folder of the compiled host messages), built once."""
    base = worker_python()
    proto = (HERE / "function_rpc.proto").read_bytes()
    key = _digest(base.encode(), "\n".join(WORKER_PACKAGES).encode(), proto)
    venv = CACHE / f"worker-{key}"
    python = venv / "bin" / "python"
    rpc = venv / "rpc"
    if not (rpc / "function_rpc_pb2.py").exists():
        shutil.rmtree(venv, ignore_errors=True)
        _run([base, "-m", "venv", str(venv)])
        _pip(str(python), *WORKER_PACKAGES)
        rpc.mkdir()
        includes = _run(
            [
                str(python),
                "-c",
                "import grpc_tools, os; print(os.path.dirname(grpc_tools.__file__))",
            ]
        ).stdout.strip()
        _run(
            [
                str(python),
                "-m",
                "grpc_tools.protoc",
                f"-I{HERE}",
                f"-I{includes}/_proto",
                f"--python_out={rpc}",
                "function_rpc.proto",
            ]
        )
    return python, rpc


def packaged_files(source: Path) -> list[str]:
    """The files published from `source`: `.funcignore` applied with git's rules, negation
    included (tests/funcignore_rules.py, which also checks Core Tools' and azd's matchers)."""
    return git_packaged(source)


def installed_requirements(python: Path, requirements: Path = ROOT / "requirements.txt") -> Path:
    """`requirements.txt` installed with `pip --target` (as remote build does), cached by its
    content."""
    key = _digest(str(python).encode(), requirements.read_bytes())
    target = CACHE / f"site-packages-{key}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        _pip(str(python), "--target", str(target), "-r", str(requirements))
        (target / ".complete").touch()
    return target


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
