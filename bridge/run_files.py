"""Where a command-line run over an input file keeps its side files (checkpoint, failed lines,
report), and how a checkpoint recognises its run.

A run is one file sent to one workspace: the same file replayed or erased for another workspace
is another run, with its own side files and a checkpoint that never resumes the first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bridge.workspaces import DEFAULT_WORKSPACE


class CredentialsRefused(RuntimeError):
    """MoEngage refused the key or account: stop, keep the checkpoint, fix the settings."""


def side_file(path: Path, workspace: str, suffix: str) -> Path:
    """`FILE<suffix>` for the default workspace (unchanged names), `FILE.<workspace><suffix>`
    for the others."""
    infix = "" if workspace == DEFAULT_WORKSPACE else f".{workspace}"
    return path.with_name(f"{path.name}{infix}{suffix}")


def run_fingerprint(path: Path, workspace: str) -> dict[str, object]:
    """What a checkpoint must match to be resumed: the same file, sent to the same workspace."""
    stat = path.stat()
    return {"path": str(path.resolve()), "inode": stat.st_ino, "workspace": workspace}


@dataclass
class FileRunOptions:
    """What `replay` and `erase` share: the input (None: standard input, read once, with no
    checkpoint and no resume), the pace, the checkpoint and the workspace."""

    CHECKPOINT_SUFFIX: ClassVar[str]

    path: Path | None
    rate_per_minute: float
    checkpoint_path: Path | None = None
    restart: bool = False
    workspace: str = DEFAULT_WORKSPACE

    def side_file(self, suffix: str, standard_input: Path) -> Path:
        """This run's `suffix` file, or the fixed name used for standard input."""
        return standard_input if self.path is None else side_file(self.path, self.workspace, suffix)

    @property
    def checkpoint(self) -> Path | None:
        if self.path is None:
            return None
        return self.checkpoint_path or side_file(self.path, self.workspace, self.CHECKPOINT_SUFFIX)
