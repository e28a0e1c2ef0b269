"""`.funcignore` keeps everything but the app out of the deployment package, under each
packager's own matching rules (tests/funcignore_rules.py), on the repository's files plus what an
operator and a developer leave beside them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.funcignore_rules import (
    azd_packaged,
    check_supported,
    core_tools_packaged,
    git_packaged,
)

ROOT = Path(__file__).resolve().parent.parent.parent
APP_FILES = ("function_app.py", "host.json", "requirements.txt")
APP_PACKAGES = ("bridge", "mapping", "delivery")

# What an operator or a developer may leave beside the app: erase and replay runs with their
# side files, environment files, exports, archives, local settings, caches and tool folders.
PLANTED = (
    "ids.txt",
    "ids.txt.erase.checkpoint",
    "ids.txt.erase.checkpoint.tmp",
    "ids.txt.erasure.jsonl",
    "ids.txt.eu.erase.checkpoint",
    "members.jsonl",
    "members.jsonl.checkpoint.json",
    "members.jsonl.failed.jsonl",
    "stdin.erasure.jsonl",
    ".env",
    ".env.production",
    "members-export.csv",
    "export.xlsx",
    "members.zip",
    "backup.tar.gz",
    "notes",
    "dump.sql",
    "id_rsa",
    "certs/kognitiv.pfx",
    "operator/ids.txt",
    "local.settings.json",
    "local.settings.production.json",
    ".azure/production/.env",
    ".venv/bin/python",
    ".venv-tools/bin/python",
    ".vscode/settings.json",
    ".git/config",
    ".pytest_cache/v/cache/nodeids",
    "__pycache__/function_app.cpython-311.pyc",
    "tests/fixtures/members.jsonl",
)
# Bytecode of the app's own modules. Core Tools ships it (its `!` lines win over any later line),
# git's rules and azd leave it out; remote build compiles again either way.
OWN_BYTECODE = (
    "bridge/__pycache__/settings.cpython-311.pyc",
    "mapping/__pycache__/rules.cpython-311.pyc",
)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files, then the planted ones."""
    root = tmp_path_factory.mktemp("checkout")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for relative in filter(None, tracked.split("\0")):
        if (ROOT / relative).is_file():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, root / relative)
    # The working tree's .funcignore, committed or not.
    shutil.copy2(ROOT / ".funcignore", root / ".funcignore")
    for relative in PLANTED + OWN_BYTECODE:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text('{"memberEmail": "ana@example.com"}\n')
    return root


@pytest.fixture(scope="module")
def app(checkout: Path) -> list[str]:
    """The app's own files: what must ship, exactly."""
    files = [name for name in APP_FILES if (checkout / name).is_file()]
    for package in APP_PACKAGES:
        files += [
            path.relative_to(checkout).as_posix()
            for path in (checkout / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ]
    return sorted(files)


def test_the_app_is_what_it_should_be(app: list[str]) -> None:
    assert {"function_app.py", "host.json", "requirements.txt"} <= set(app)
    assert "mapping/default_mappings.json" in app
    assert "bridge/config/settings.py" in app
    assert not [name for name in app if name.endswith(".pyc")]


def test_every_line_is_one_the_matchers_reproduce() -> None:
    check_supported((ROOT / ".funcignore").read_text())
    with pytest.raises(ValueError, match="not covered"):
        check_supported("docs/?.md\n")


def test_git_rules_ship_the_app_and_nothing_else(checkout: Path, app: list[str]) -> None:
    assert git_packaged(checkout) == app


def test_azd_ships_the_app_and_nothing_else(checkout: Path, app: list[str]) -> None:
    assert azd_packaged(checkout) == app


def test_core_tools_ships_the_app_and_nothing_an_operator_left(
    checkout: Path, app: list[str]
) -> None:
    assert core_tools_packaged(checkout) == sorted([*app, *OWN_BYTECODE])


def test_azd_before_1_23_13_would_ship_nothing(checkout: Path) -> None:
    """Why azure.yaml requires azd >= 1.23.13: older releases leave out every path a `!` line
    matches, and every path of an allow-list is matched by one."""
    assert azd_packaged(checkout, negation_includes=False) == []


def test_a_planted_file_the_allow_list_missed_would_fail_the_suite(tmp_path: Path) -> None:
    """The matchers see operator files: with a deny-list that forgets `*.txt`, ids.txt ships."""
    (tmp_path / ".funcignore").write_text("*.jsonl\nlocal.settings*.json\n")
    for name in ("function_app.py", "ids.txt", "members.jsonl", "local.settings.json"):
        (tmp_path / name).write_text("x")
    assert git_packaged(tmp_path) == [".funcignore", "function_app.py", "ids.txt"]
    assert azd_packaged(tmp_path) == ["function_app.py", "ids.txt"]
    assert core_tools_packaged(tmp_path) == ["function_app.py", "ids.txt"]


def test_core_tools_reads_allow_lines_as_prefixes(tmp_path: Path) -> None:
    """The limit infra/README.md states: Core Tools ships a name starting with an app file's."""
    shutil.copy2(ROOT / ".funcignore", tmp_path / ".funcignore")
    for name in ("requirements.txt", "requirements.txt.bak"):
        (tmp_path / name).write_text("x")
    assert core_tools_packaged(tmp_path) == ["requirements.txt", "requirements.txt.bak"]
    assert azd_packaged(tmp_path) == ["requirements.txt"]
    assert git_packaged(tmp_path) == ["requirements.txt"]
