"""Benchmarks of the Kognitiv → MoEngage bridge: `python -m benchmarks` (see BENCHMARKS.md)."""
