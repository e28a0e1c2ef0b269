"""The command line's own dependencies (tqdm, aiolimiter: requirements-cli.txt) are never
deployed with the function app, and the function app never imports them."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
EXTRAS = ("tqdm", "aiolimiter")


def requirement_names(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line.split(">")[0].split("<")[0].split("=")[0] for line in lines if line]


def test_extras_are_listed_for_the_command_line_only():
    assert not set(EXTRAS) & set(requirement_names(ROOT / "requirements.txt"))
    assert requirement_names(ROOT / "requirements-cli.txt") == [*EXTRAS, "azure-monitor-query"]
    assert "-r requirements-cli.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    assert dynamic["optional-dependencies"] == {"cli": {"file": ["requirements-cli.txt"]}}
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.usefixtures("settings_env")
def test_the_function_app_and_its_modules_never_import_the_extras():
    done = python(
        "import importlib, pkgutil, sys\n"
        "import function_app\n"
        "assert len(function_app.app.get_functions()) == 5\n"
        "for package in ('bridge', 'delivery', 'mapping'):\n"
        "    for module in pkgutil.walk_packages([package], package + '.'):\n"
        "        if module.name != 'bridge.__main__':\n"
        "            importlib.import_module(module.name)\n"
        f"print(sorted(name for name in {EXTRAS!r} if name in sys.modules))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"


@pytest.mark.usefixtures("settings_env")
def test_the_function_app_and_validate_work_without_the_extras_installed():
    done = python(
        "import sys\n"
        f"for name in {EXTRAS!r}:\n"
        "    sys.modules[name] = None  # any import of it fails, as when not installed\n"
        "import function_app\n"
        "from bridge.cli import main\n"
        "sys.exit(main(['validate']))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("OK\n")
