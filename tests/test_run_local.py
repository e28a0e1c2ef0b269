"""`./scripts/run-local` checks for Azure Functions Core Tools 4 before installing anything and
says what works without it. Run from a copy of the script, with a PATH of known tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUIDANCE = """\
Install Core Tools 4, then run ./scripts/run-local again:
  npm install -g azure-functions-core-tools@4
  (or Microsoft's packages: https://learn.microsoft.com/azure/azure-functions/functions-run-local)
Without it, the MoEngage emulator and the command line work (mapping and delivery as the app does):
  python3.11 -m venv .venv && .venv/bin/pip install -e '.[cli]'
  .venv/bin/python -m moengage_emulator &
  .venv/bin/kognitiv-bridge preview rewards_issued tests/fixtures/kognitiv/rewards_issued.json \
--settings local.settings.example.json
  .venv/bin/kognitiv-bridge replay BODIES.jsonl --settings local.settings.example.json
"""


def fake_tool(directory: Path, name: str, script: str) -> None:
    tool = directory / name
    tool.write_text("#!/bin/sh\n" + script + "\n")
    tool.chmod(0o755)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the script in a project directory, and a bin/ with only what it may use: any
    call of python (which would install) leaves a mark."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "run-local", project / "scripts" / "run-local")
    shutil.copy2(ROOT / "local.settings.example.json", project)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for python in ("python3.11", "python3", "python"):
        fake_tool(bin_dir, python, f': > "{tmp_path}/python-was-run"; exit 1')
    return project


def run_local(project: Path) -> subprocess.CompletedProcess:
    bin_dir = project.parent / "bin"
    return subprocess.run(
        [str(bin_dir / "bash"), str(project / "scripts" / "run-local")],
        env={"PATH": str(bin_dir), "HOME": str(project.parent)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_without_core_tools_it_says_how_to_get_them_and_installs_nothing(project):
    done = run_local(project)

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "run-local: Azure Functions Core Tools (func) not found; nothing was installed.\n"
        + GUIDANCE
    )
    assert sorted(p.name for p in project.iterdir()) == ["local.settings.example.json", "scripts"]
    assert not (project.parent / "python-was-run").exists()


def test_core_tools_other_than_version_4_are_refused_before_installing(project):
    fake_tool(project.parent / "bin", "func", 'echo "3.0.3904"')

    done = run_local(project)

    assert done.returncode == 1
    assert done.stderr == (
        "run-local: Azure Functions Core Tools 4 is needed, found '3.0.3904'; "
        "nothing was installed.\n" + GUIDANCE
    )
    assert sorted(p.name for p in project.iterdir()) == ["local.settings.example.json", "scripts"]
    assert not (project.parent / "python-was-run").exists()


def test_with_core_tools_4_it_goes_on_to_set_up(project):
    fake_tool(project.parent / "bin", "func", 'echo "4.0.6610"')

    done = run_local(project)

    assert done.returncode == 1  # the fake python fails the set-up: it was reached
    assert (project.parent / "python-was-run").exists()
