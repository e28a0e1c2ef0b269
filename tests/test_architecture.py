"""The import arrows between bridge/'s folders run one way (README "Inside `bridge/`"), and the
pure layers stay free of the app: `delivery/` and `mapping/` import nothing from `bridge/`.

Every import counts, also the ones inside functions (kept lazy for cold start)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# top to bottom: a folder may import itself and the folders after it
LAYERS = ["cli", "ops", "queue", "webhook", "deployment", "durable", "config", "common"]


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_every_bridge_module_is_in_a_layer() -> None:
    strays = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "bridge").rglob("*.py")
        if path.parent != ROOT / "bridge"
        and path.relative_to(ROOT / "bridge").parts[0] not in LAYERS
    ]
    loose = sorted(
        path.name
        for path in (ROOT / "bridge").glob("*.py")
        if path.name not in {"__init__.py", "__main__.py"}
    )
    assert strays == []
    assert loose == [], "a module directly in bridge/: give it a folder"


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_layers_below_it(layer: str) -> None:
    allowed = set(LAYERS[LAYERS.index(layer) :])
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in sorted((ROOT / "bridge" / layer).rglob("*.py"))
        for line, target in imports(path)
        if target.startswith("bridge.") and target.split(".")[1] not in allowed
    ]
    assert wrong == []


@pytest.mark.parametrize("package", ["delivery", "mapping"])
def test_the_pure_layers_do_not_import_the_app(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, target in imports(path)
        if target == "bridge" or target.startswith("bridge.")
    ]
    assert wrong == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from bridge.cli.app import main\n")
    assert imports(module) == [(2, "bridge.cli.app.main")]
