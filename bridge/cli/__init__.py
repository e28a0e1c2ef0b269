"""Operator command line: `python -m bridge` or `kognitiv-bridge`; one module per command, its
arguments beside it."""

from bridge.cli.app import main

__all__ = ["main"]
