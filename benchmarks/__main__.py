"""`python -m benchmarks`: run every figure on one core and print the results table.

python -m benchmarks                  # the full run (about five minutes)
python -m benchmarks --quick          # tiny sizes: proves the suite runs; numbers mean nothing
python -m benchmarks --only handler --only mapping
python -m benchmarks --json results.json
python -m benchmarks --compare fdba771      # this tree against a git ref, interleaved, ratios
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

from benchmarks.harness import BENCH_CORE, Context, Figure, other_core, pin, quiet_logging

FIGURES = {
    "mapping": "benchmarks.fig_mapping",
    "handler": "benchmarks.fig_handler",
    "direct": "benchmarks.fig_direct",
    "queue": "benchmarks.fig_queue",
    "requests": "benchmarks.fig_requests",
    "executions": "benchmarks.fig_executions",
    "rate-limit": "benchmarks.fig_ratelimit",
    "cold-start": "benchmarks.fig_coldstart",
    "memory": "benchmarks.fig_memory",
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _status(figure: Figure) -> str:
    return {True: "met", False: "NOT MET", None: "-"}[figure.met]


def table(figures: list[Figure]) -> str:
    rows = [("#", "figure", "result", "target", "status", "anchor")]
    for number, figure in enumerate(figures, 1):
        value = f"{figure.value:,}" if isinstance(figure.value, int) else f"{figure.value:g}"
        rows.append(
            (
                str(number),
                figure.title,
                f"{value} {figure.unit}",
                figure.target,
                _status(figure),
                figure.anchor,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(FIGURES),
        metavar="NAME",
        help=f"run only this figure ({', '.join(FIGURES)}); repeatable",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    parser.add_argument(
        "--compare",
        metavar="REF",
        help="run the figures on git REF (a temporary worktree) and on this tree, interleaved, "
        "and print the ratios",
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs per side with --compare (best kept)"
    )
    args = parser.parse_args(argv)
    if args.compare:
        return _compare(args)
    pinned = pin(BENCH_CORE)
    quiet_logging()
    context = Context(quick=args.quick)
    names = args.only or list(FIGURES)
    emulator = "unpinned" if context.emulator_core is None else f"on core {context.emulator_core}"
    print(
        f"{_cpu_model()}, Python {platform.python_version()}; bridge on {pinned}, emulator "
        f"{emulator}{'; QUICK (numbers are meaningless)' * args.quick}",
        flush=True,
    )
    figures: list[Figure] = []
    failed: list[str] = []
    for name in names:
        started = time.perf_counter()
        try:
            figure = importlib.import_module(FIGURES[name]).run(context)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        figures.append(figure)
        print(
            f"[{name}] {figure.value} {figure.unit} ({figure.note}) "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
    print()
    print(table(figures))
    if args.json:
        document = {
            "machine": {"cpu": _cpu_model(), "python": platform.python_version()},
            "bridge_core": pinned,
            "emulator_core": other_core(),
            "quick": args.quick,
            "figures": [figure.as_dict() for figure in figures],
            "failed": failed,
        }
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 1 if failed else 0


def _compare(args: argparse.Namespace) -> int:
    from benchmarks import compare

    names = args.only or list(FIGURES)
    print(f"{_cpu_model()}, Python {platform.python_version()}; {args.compare} against this tree")
    snapshot, rows = compare.compare(args.compare, names, args.quick, args.repeats)
    print(f"\nthis tree: snapshot {snapshot[:12]} of the working tree")
    print(compare.table(args.compare, rows))
    if args.json:
        document = {
            "reference": args.compare,
            "snapshot": snapshot,
            "rows": [{**vars(row), "ratio": row.ratio, "verdict": row.verdict} for row in rows],
        }
        args.json.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0 if len(rows) >= len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
