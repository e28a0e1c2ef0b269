"""Serves the app's HTTP functions on localhost through the real Python worker library: each
request becomes the InvocationRequest the Functions host would send, and the worker's HTTP
answer goes back to the client. Runs in the worker's interpreter (Python 3.13+), started by
`python -m dev_server`.

As Core Tools does locally, function keys are not checked (any `code` or `x-functions-key`, or
none, is accepted), `local.settings.json`'s `Values` become environment variables unless the
environment already sets them, and only `127.0.0.1` is listened on. Triggers other than HTTP do
not run: the Service Bus trigger needs Core Tools and a namespace."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LOG = logging.getLogger("dev_server")
MAX_BODY = 100 * 1024 * 1024  # the host's default request size limit (100 MB)
HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}
WHY_NOT_RUN = {"serviceBusTrigger": "needs Core Tools and a namespace"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", required=True)
    parser.add_argument("--rpc-dir", required=True)
    parser.add_argument("--site-packages", required=True)
    parser.add_argument("--settings", required=True, help="local.settings.json")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--missing", default="", help="why Core Tools does not run")
    return parser.parse_args(argv)


def local_settings(path: Path, environment: dict[str, str]) -> dict[str, str]:
    """`Values` of local.settings.json minus what the environment already sets (as Core
    Tools, which says so for each skipped value)."""
    if not path.exists():
        print(f"{path} not found: the app runs on the environment's settings", file=sys.stderr)
    values = json.loads(path.read_text()).get("Values", {}) if path.exists() else {}
    settings = {}
    for key, value in values.items():
        if key in environment:
            print(
                f"Skipping '{key}' from local settings as it's already defined in current "
                "environment variables.",
                file=sys.stderr,
            )
        else:
            settings[key] = str(value)
    return settings


def _json(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, {"content-type": "application/json; charset=utf-8"}, body


class DevHost:
    """The worker on its own event loop (a thread), and the translation HTTP <-> invocation."""

    def __init__(self, worker_host: Any, routes_module: Any, app_dir: Path) -> None:
        self.worker = worker_host
        self.routes_module = routes_module
        self.app_dir = app_dir
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="worker-loop", daemon=True).start()
        self.routes: list[Any] = []

    def _on_loop(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result()

    def start(self) -> bool:
        started = self._on_loop(self.worker.start())
        if started:
            prefix = self.routes_module.route_prefix(self.app_dir / "host.json")
            self.routes = self.routes_module.http_routes(self.worker.bindings(), prefix)
        return bool(started)

    def not_run(self) -> list[str]:
        """Functions with another trigger than HTTP, with why they do not run here."""
        skipped = []
        for function, bindings in self.worker.bindings().items():
            triggers = [b["type"] for b in bindings if b.get("type", "").endswith("Trigger")]
            if triggers and triggers[0] != "httpTrigger":
                why = WHY_NOT_RUN.get(triggers[0], "needs Core Tools")
                skipped.append(f"{function} ({triggers[0]}: {why})")
        return skipped

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes, base_url: str
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body) for one request."""
        split = urlsplit(target)
        found = self.routes_module.match(self.routes, split.path)
        allowed = [(route, values) for route, values in found if route.allows(method)]
        if not allowed:
            takes = "; ".join(f"{r.template} takes {', '.join(r.methods)}" for r, _ in found)
            detail = f" ({takes})" if takes else ""
            return _json(404, "not_found", f"no function answers {method} {split.path}{detail}")
        route, values = allowed[0]
        query: dict[str, str] = {}
        for key, value in parse_qsl(split.query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        spec = {
            "method": method,
            "url": base_url + target,
            "headers": headers,
            "params": values,
            "query": query,
            "body_bytes": body,
        }
        try:
            outcome = self._on_loop(
                self.worker.invoke(route.function, {route.binding: {"http": spec}})
            )
        except Exception:
            LOG.exception("invoking %s failed", route.function)
            return _json(500, "host_error", f"the dev server could not invoke {route.function}")
        if outcome.http is not None:
            kept = {k: v for k, v in outcome.http.headers.items() if k not in HOP_BY_HOP}
            return outcome.http.status_code, kept, outcome.http.body
        if outcome.succeeded:
            return 204, {}, b""
        LOG.error("%s failed: %s", route.function, outcome.exception)
        return _json(500, "function_failed", f"{route.function} failed; see the dev server's log")


def handler_for(host: DevHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "kognitiv-dev-host"

        def _serve(self) -> None:
            started = time.perf_counter()
            length = self.headers.get("content-length")
            if "chunked" in self.headers.get("transfer-encoding", "").lower():
                status, headers, body = _json(411, "length_required", "send a Content-Length")
                self.close_connection = True
            elif length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                status, headers, body = _json(
                    413, "body_too_large", f"bodies up to {MAX_BODY} bytes, with a Content-Length"
                )
                self.close_connection = True
            else:
                payload = self.rfile.read(int(length)) if length else b""
                request_headers: dict[str, str] = {}
                for key, value in self.headers.items():
                    merged = request_headers.get(key)
                    request_headers[key] = f"{merged}, {value}" if merged else value
                base = f"http://{self.headers.get('host') or 'localhost'}"
                status, headers, body = host.answer(
                    self.command, self.path, request_headers, payload, base
                )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            elapsed = (time.perf_counter() - started) * 1000
            path = urlsplit(self.path).path  # never the query: it may hold a function key
            self.log_message('"%s %s" %d (%.0f ms)', self.command, path, status, elapsed)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # _serve logs once, with the time taken

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler


def _stop(server: ThreadingHTTPServer) -> Callable[..., None]:
    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    return stop


def banner(host: DevHost, port: int, missing: str) -> str:
    """One line: which host runs, what it does not do, and why."""
    runtime = metadata.version("azure-functions-runtime")
    why = f"no Core Tools: {missing}" if missing else "Core Tools not used"
    not_run = "; ".join(host.not_run()) or "none"
    return (
        f"run-local: host = Python worker dev server (azure-functions-runtime {runtime}, Python "
        f"{platform.python_version()}) on http://localhost:{port} ({why}); HTTP triggers only, "
        f"any function key or none accepted; not run: {not_run}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    app_dir = Path(args.app_dir).resolve()
    # The app folder first, as the host does; the app's requirements, installed for this
    # interpreter, after it.
    sys.path[:0] = [str(app_dir), args.site_packages]
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s"
    )
    from dev_server import routes, worker_host

    settings = local_settings(Path(args.settings), dict(os.environ))
    try:
        server = ThreadingHTTPServer((args.host, args.port), BaseHTTPRequestHandler)
    except OSError as error:
        print(f"run-local: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    worker = worker_host.WorkerHost(str(app_dir), args.rpc_dir, settings)
    host = DevHost(worker, routes, app_dir)
    if not host.start():
        problem = worker.init.get("result") or worker.metadata.get("result")
        print(f"run-local: the worker refused the app: {problem}", file=sys.stderr)
        server.server_close()
        return 1
    server.RequestHandlerClass = handler_for(host)
    server.daemon_threads = True
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop(server))
    print(banner(host, args.port, args.missing), flush=True)
    for route in sorted(host.routes, key=lambda route: route.template):
        methods = ",".join(route.methods) or "ANY"
        print(f"  {route.function}: [{methods}] http://localhost:{args.port}/{route.template}")
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
