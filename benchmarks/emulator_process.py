"""The MoEngage emulator in its own process, pinned to its own core, so its work (parsing and
checking every request) is not counted on the bridge's core. Prints its base URL, then serves
until standard input closes."""

from __future__ import annotations

import argparse
import sys

from benchmarks.harness import pin
from moengage_emulator import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_process")
    parser.add_argument("--core", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--quota-per-minute", type=int, default=None)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args(argv)
    pin(args.core)
    emulator = Emulator(
        app_id=args.app_id,
        api_key=args.api_key,
        latency=args.latency_ms / 1000,
        quota_per_minute=args.quota_per_minute,
    )
    with emulator:
        print(emulator.base_url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
