"""Where a command-line run over an input file keeps its side files (checkpoint, failed lines,
report), and how a checkpoint recognises its run.

A run is one file sent to one workspace: the same file replayed or erased for another workspace
is another run, with its own side files and a checkpoint that never resumes the first."""

from __future__ import annotations

from pathlib import Path

from bridge.workspaces import DEFAULT_WORKSPACE


def side_file(path: Path, workspace: str, suffix: str) -> Path:
    """`FILE<suffix>` for the default workspace (unchanged names), `FILE.<workspace><suffix>`
    for the others."""
    infix = "" if workspace == DEFAULT_WORKSPACE else f".{workspace}"
    return path.with_name(f"{path.name}{infix}{suffix}")


def run_fingerprint(path: Path, workspace: str) -> dict[str, object]:
    """What a checkpoint must match to be resumed: the same file, sent to the same workspace."""
    stat = path.stat()
    return {"path": str(path.resolve()), "inode": stat.st_ino, "workspace": workspace}
