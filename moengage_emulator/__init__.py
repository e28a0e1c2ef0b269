"""MoEngage Data API emulator: a loopback server for tests, offline runs and benchmarks.

Stdlib only, so it runs anywhere the function app runs, without extra installs.
"""

from moengage_emulator.server import Emulator, Fault, RecordedRequest

__all__ = ["Emulator", "Fault", "RecordedRequest"]
