"""The worker's side of the machine: a Python 3.13+ interpreter with `azure-functions-runtime`
(the library behind the host's Python worker for 3.13+) in its own virtual environment, the
host's message types compiled by grpcio-tools from `function_rpc.proto`, and the app's
`requirements.txt` installed for that interpreter with `pip --target`, as remote build does.

Everything is cached under `.venv-worker/` (or `$KOGNITIV_WORKER_CACHE`), keyed by what it was
built from, so only the first run of a machine pays for it. Standard library only: it runs on
the app's own Python before the worker's exists."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER_PACKAGES = ("azure-functions-runtime>=1.3,<2", "grpcio-tools>=1.66,<2")
WORKER_VERSION = (3, 13)


class WorkerUnavailable(RuntimeError):
    """No Python 3.13+ interpreter on this machine."""


def cache_dir() -> Path:
    """Where the worker's environment and installs are kept."""
    return Path(os.environ.get("KOGNITIV_WORKER_CACHE") or ROOT / ".venv-worker")


def worker_python() -> str:
    """A Python 3.13+ interpreter: under pyenv, or `python3.13` on PATH (pyenv's shims are on
    PATH but fail when 3.13 is not the selected version, so each candidate is tried)."""
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/3.13*/bin/python3.13"), reverse=True)
    candidates.append(shutil.which("python3.13") or "")
    probe = f"import sys; print(sys.version_info >= {WORKER_VERSION!r})"
    for candidate in filter(None, candidates):
        answer = subprocess.run(  # noqa: S603 - a found interpreter, fixed code
            [candidate, "-c", probe], capture_output=True, text=True, check=False
        )
        if answer.stdout.strip() == "True":
            return candidate
    raise WorkerUnavailable("no Python 3.13 found (PATH or $PYENV_ROOT/versions/3.13*)")


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - venv, pip and protoc with our arguments
        command, capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[:4])} ... failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def _pip(python: str, *args: str) -> None:
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args])


def _environment_paths() -> tuple[str, Path, Path, Path]:
    base = worker_python()
    proto = (HERE / "function_rpc.proto").read_bytes()
    key = _digest(base.encode(), "\n".join(WORKER_PACKAGES).encode(), proto)
    venv = cache_dir() / f"worker-{key}"
    return base, venv, venv / "bin" / "python", venv / "rpc"


def worker_environment_built() -> bool:
    """Whether `worker_environment` has nothing to build."""
    return (_environment_paths()[3] / "function_rpc_pb2.py").exists()


def worker_environment() -> tuple[Path, Path]:
    """(worker interpreter, folder of the compiled host messages), built once."""
    base, venv, python, rpc = _environment_paths()
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


def requirements_target(python: Path, requirements: Path = ROOT / "requirements.txt") -> Path:
    """Where `installed_requirements` keeps this interpreter's install of `requirements`
    (complete when it holds `.complete`)."""
    key = _digest(str(python).encode(), requirements.read_bytes())
    return cache_dir() / f"site-packages-{key}"


def installed_requirements(python: Path, requirements: Path = ROOT / "requirements.txt") -> Path:
    """`requirements.txt` installed with `pip --target` (as remote build does), cached by its
    content."""
    target = requirements_target(python, requirements)
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        _pip(str(python), "--target", str(target), "-r", str(requirements))
        (target / ".complete").touch()
    return target
