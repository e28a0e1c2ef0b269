"""`python -m benchmarks.peak_rss REPORT COMMAND...`: run COMMAND and write its ru_maxrss (KB)
and exit code to REPORT as JSON; COMMAND's output passes through.

Why a launcher: on Linux a child's ru_maxrss starts at its parent's RSS at the moment of
fork/exec, so measured straight from the (large) benchmark process every child would look at
least as big as the benchmark itself. From this small launcher the floor is a few MB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    report, *command = argv if argv is not None else sys.argv[1:]
    child = subprocess.Popen(command)  # noqa: S603 - the benchmark's own command line
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = code = os.waitstatus_to_exitcode(status)
    Path(report).write_text(json.dumps({"maxrss_kb": usage.ru_maxrss, "exit_code": code}))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
