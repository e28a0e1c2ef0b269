"""`python -m benchmarks --compare REF`: this working tree against a git ref, in one run.

REF and a snapshot of this working tree (`git stash create`: uncommitted edits included) are
checked out to temporary git worktrees, and the snapshot's `benchmarks/` is copied over REF's:
both sides are measured by the same benchmark code, only the product differs. Every figure runs
in a fresh process for each side, alternating (REF, this tree, REF, this tree, ...), so both
sides see the same machine at the same moments; each side keeps its best run. The table gives
both values and the ratio this tree ÷ REF, with which way is better."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import ROOT

# Which way each figure is better; the rest are costs (lower is better).
HIGHER_IS_BETTER = frozenset({"handler", "queue"})
# Details worth their own row: (figure, detail key, label, higher is better).
DETAIL_ROWS = (
    ("handler", "json_ratio", "HTTP handler dry run ÷ JSON round trip", False),
    (
        "handler",
        "json_ratio_without_info_lines",
        "the same, INFO lines off (Python's default level)",
        False,
    ),
    ("direct", "p99_ms", "direct path: p99 latency the bridge adds (ms)", False),
)


@dataclass
class Row:
    label: str
    reference: float
    current: float
    higher_is_better: bool

    @property
    def ratio(self) -> float:
        return self.current / self.reference if self.reference else float("inf")

    @property
    def verdict(self) -> str:
        if self.reference == self.current:
            return "same"
        better = (self.current > self.reference) == self.higher_is_better
        return "better" if better else "worse"


def _worktree(ref: str, directory: Path) -> None:
    subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", "worktree", "add", "--detach", "--quiet", str(directory), ref],  # noqa: S607
        cwd=ROOT,
        check=True,
    )


def _remove_worktree(directory: Path) -> None:
    subprocess.run(  # noqa: S603
        ["git", "worktree", "remove", "--force", str(directory)],  # noqa: S607
        cwd=ROOT,
        check=False,
        capture_output=True,
    )


def _run(tree: Path, name: str, quick: bool, output: Path) -> dict[str, Any] | None:
    """One figure in a fresh interpreter in `tree`; its JSON figure, None when it failed or the
    tree does not have it."""
    command = [sys.executable, "-m", "benchmarks", "--only", name, "--json", str(output)]
    if quick:
        command.append("--quick")
    done = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        command, cwd=tree, capture_output=True, text=True, check=False
    )
    if not output.exists():
        sys.stderr.write(f"[{name} in {tree}] failed:\n{done.stderr[-2000:]}\n")
        return None
    figures = json.loads(output.read_text())["figures"]
    output.unlink()
    if not figures:
        sys.stderr.write(f"[{name} in {tree}] failed:\n{done.stderr[-2000:]}\n")
        return None
    return figures[0]


def _best(runs: list[dict[str, Any]], key: str, higher: bool) -> float:
    values = [run["value"] if key == "value" else run["details"][key] for run in runs]
    return max(values) if higher else min(values)


def snapshot() -> str:
    """A commit of the working tree as it is now (uncommitted changes included, nothing in the
    working tree or the index touched): edits made while the comparison runs do not leak in."""
    stash = subprocess.run(
        ["git", "stash", "create"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return stash or "HEAD"


def compare(ref: str, names: list[str], quick: bool, repeats: int) -> tuple[str, list[Row]]:
    """Run `names` on REF and on a snapshot of this tree, alternating, `repeats` times each;
    (the snapshot's commit, the rows)."""
    current_commit = snapshot()
    with tempfile.TemporaryDirectory(prefix="bench-compare-") as scratch:
        reference, current = Path(scratch) / "reference", Path(scratch) / "current"
        _worktree(ref, reference)
        try:
            _worktree(current_commit, current)
            try:
                shutil.copytree(
                    current / "benchmarks",
                    reference / "benchmarks",
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
                rows = _compare_trees(reference, current, names, quick, repeats, Path(scratch))
                return current_commit, rows
            finally:
                _remove_worktree(current)
        finally:
            _remove_worktree(reference)


def _compare_trees(
    reference: Path, current: Path, names: list[str], quick: bool, repeats: int, scratch: Path
) -> list[Row]:
    rows: list[Row] = []
    for name in names:
        runs: dict[str, list[dict[str, Any]]] = {"ref": [], "current": []}
        for repeat in range(repeats):
            for side, where in (("ref", reference), ("current", current)):
                figure = _run(where, name, quick, scratch / f"{side}-{name}-{repeat}.json")
                if figure is not None:
                    runs[side].append(figure)
            print(f"[compare {name} {repeat + 1}/{repeats}]", flush=True)
        if not runs["ref"] or not runs["current"]:
            continue
        higher = name in HIGHER_IS_BETTER
        title = runs["current"][0]["title"]
        unit = runs["current"][0]["unit"]
        rows.append(
            Row(
                f"{title} ({unit})",
                _best(runs["ref"], "value", higher),
                _best(runs["current"], "value", higher),
                higher,
            )
        )
        for figure, key, label, detail_higher in DETAIL_ROWS:
            if figure != name:
                continue
            if all(key in run["details"] for run in runs["ref"] + runs["current"]):
                rows.append(
                    Row(
                        label,
                        _best(runs["ref"], key, detail_higher),
                        _best(runs["current"], key, detail_higher),
                        detail_higher,
                    )
                )
    return rows


def table(ref: str, rows: list[Row]) -> str:
    header = ("figure", ref, "this tree", "this ÷ ref", "")
    body = [
        (row.label, f"{row.reference:,.4g}", f"{row.current:,.4g}", f"{row.ratio:.2f}", row.verdict)
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)
