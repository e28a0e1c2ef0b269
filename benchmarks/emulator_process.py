"""The MoEngage emulator in its own process, pinned to its own core, so its work (parsing and
checking every request) is not counted on the bridge's core. Prints its base URL, then serves
until standard input closes.

`--latency-ms` is MoEngage's answer time as the bridge sees it: each /v1 answer leaves no
sooner than that long after its request arrived, and the emulator's own parsing and checking
happen inside that time, as MoEngage's own work happens inside its latency. (The emulator's
`latency` setting sleeps first and checks after: the answer time would be the latency plus the
time the emulator's Python takes on a core other work shares, which is the test rig's, not
MoEngage's and not the bridge's.) Both sides of `--compare` run this file."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

from benchmarks.harness import pin
from moengage_emulator import Emulator
from moengage_emulator import server as emulator_server

_arrival = threading.local()  # one handler thread per connection


def answer_after(latency: float) -> bool:
    """Make every /v1 answer leave `latency` seconds after its request arrived; False when the
    emulator of this tree has no place to do it (its own `latency` is used instead)."""
    handler = getattr(emulator_server, "_Handler", None)
    if handler is None or not hasattr(handler, "_v1") or not hasattr(handler, "_send"):
        return False
    v1, send = handler._v1, handler._send

    def timed_v1(self: Any, *args: Any, **kwargs: Any) -> None:
        _arrival.at = time.monotonic()
        try:
            v1(self, *args, **kwargs)
        finally:
            _arrival.at = None

    def timed_send(self: Any, *args: Any, **kwargs: Any) -> None:
        arrived = getattr(_arrival, "at", None)
        if arrived is not None:
            remaining = arrived + latency - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
        send(self, *args, **kwargs)

    handler._v1, handler._send = timed_v1, timed_send
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_process")
    parser.add_argument("--core", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--quota-per-minute", type=int, default=None)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args(argv)
    pin(args.core)
    latency = args.latency_ms / 1000
    answered_in_time = latency > 0 and answer_after(latency)
    emulator = Emulator(
        app_id=args.app_id,
        api_key=args.api_key,
        latency=0.0 if answered_in_time else latency,
        quota_per_minute=args.quota_per_minute,
    )
    with emulator:
        print(emulator.base_url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
