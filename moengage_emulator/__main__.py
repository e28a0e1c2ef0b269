"""``python -m moengage_emulator``: run the emulator standalone so the app can be tried offline."""

from __future__ import annotations

import argparse
import signal
import threading

from moengage_emulator.server import Emulator

EPILOG = """\
Point the function app at it (app settings MOENGAGE_API_BASE_URL = the printed URL,
MOENGAGE_APP_ID = --app-id, MOENGAGE_API_KEY = --api-key), then inspect what MoEngage got:
  curl http://HOST:PORT/_emulator/accepted     accepted / dropped / rejected elements, violations
  curl http://HOST:PORT/_emulator/requests     request log (no headers, no bodies)
  curl -X POST http://HOST:PORT/_emulator/faults -d '{"status": 429, "times": 2}'
  curl -X PUT http://HOST:PORT/_emulator/latency -d '{"seconds": 0.02}'
  curl -X POST http://HOST:PORT/_emulator/reset
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m moengage_emulator",
        description="Emulate the MoEngage Data API (event, customer, transition) on loopback.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8081, help="0 = any (default: %(default)s)")
    parser.add_argument(
        "--app-id", default="local-workspace", help="workspace id to accept (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", default="local-key", help="data API key to accept (default: %(default)s)"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay before every /v1 answer (default: 0)"
    )
    parser.add_argument(
        "--quota-per-minute",
        type=int,
        default=None,
        metavar="N",
        help="answer 429 once N elements were accepted in a minute (default: no quota)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = Emulator(
        app_id=args.app_id,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        latency=args.latency_ms / 1000,
        quota_per_minute=args.quota_per_minute,
        quiet=False,
    )
    with emulator:
        url = emulator.base_url
        print(f"MoEngage emulator on {url} (workspace {args.app_id!r}); Ctrl-C to stop", flush=True)
        print(
            f"set MOENGAGE_API_BASE_URL={url}; inspect: curl {url}/_emulator/accepted", flush=True
        )
        stopping = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopping.set())  # `kill` stops cleanly too
        try:
            while not stopping.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
