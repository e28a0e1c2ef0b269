"""Benchmarks of the Kognitiv → MoEngage bridge: `python -m benchmarks` (see BENCHMARKS.md)."""

import sys

# An editable install maps `bridge`, `mapping`, ... to the checkout it was made from, also for
# submodules the tree being measured does not have: `--compare` would then measure that
# checkout's code in the other tree's name. Only the tree the benchmarks run in is imported
# (it is the working directory, first on `sys.path`).
sys.meta_path[:] = [
    finder
    for finder in sys.meta_path
    if not getattr(finder, "__module__", "").startswith("__editable__")
]
