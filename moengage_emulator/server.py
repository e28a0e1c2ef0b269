"""A loopback HTTP server that speaks the MoEngage Data API, records requests and fails on demand.

Real sockets (not a mocked transport) so the bridge's HTTP client, timeouts, keep-alive and
retries are exercised exactly as in production. Contract rules live in ``contract``; this module
only adds transport, recording, injected faults, latency and the per-minute quota.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from moengage_emulator import contract

MAX_BODY = 1024 * 1024  # read cap: anything bigger is refused before reading it
DEFAULT_LIMIT = 60000  # x-ratelimit-limit when no quota is configured (bulk import's limit)
WINDOW = 60.0
IDLE_TIMEOUT = 60.0  # closes idle keep-alive connections so handler threads do not pile up
# Delete User: "deleted after a default buffer of 24 hours. During this buffer period, the user
# will still be active … You can update users in the buffer period." (data.yaml, Delete Users)
DELETE_BUFFER = 24 * 3600.0
# GDPR erasure: the user "can be recreated only after this 24-hour period has passed" (MoEngage
# help centre, "Why Creating a User Again After Deletion Using the Open GDPR API Is Not Possible")
ERASURE_HOLD = 24 * 3600.0
DELETE_PATH = "/v1/customer/delete"


@dataclass(frozen=True)
class RecordedRequest:
    """One /v1 request as the server saw it; ``status`` is 0 when a fault dropped the socket."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int
    response: dict[str, Any] | None


@dataclass
class Fault:
    """A scripted misbehaviour, consumed FIFO by the next ``times`` matching /v1 requests.

    ``status`` None with ``drop`` False only adds ``latency`` before the normal answer.
    ``body`` None means MoEngage's failure envelope; a dict/list is sent as JSON, str/bytes raw.
    """

    status: int | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    latency: float = 0.0
    drop: bool = False
    path_prefix: str | None = None

    def __post_init__(self) -> None:
        if self.status is not None and (
            not isinstance(self.status, int) or not 200 <= self.status <= 599
        ):
            raise ValueError("status must be an HTTP status 200..599 or None")
        if not isinstance(self.times, int) or isinstance(self.times, bool) or self.times < 1:
            raise ValueError("times must be a positive integer")
        if not isinstance(self.latency, int | float) or self.latency < 0:
            raise ValueError("latency must be a non-negative number of seconds")
        if not isinstance(self.headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.headers.items()
        ):
            raise ValueError("headers must map strings to strings")
        if not isinstance(self.drop, bool):
            raise ValueError("drop must be a boolean")
        if self.path_prefix is not None and not isinstance(self.path_prefix, str):
            raise ValueError("path_prefix must be a string or None")

    def matches(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def payload(self, path: str = "") -> dict[str, Any] | list[Any] | bytes:
        """The body to send: the given one, else an envelope typed like MoEngage's (Delete
        User's own title/description shape for its 429 and 5xx)."""
        if isinstance(self.body, str):
            return self.body.encode()
        if self.body is not None:
            return self.body
        status = self.status or 200
        if path.startswith(DELETE_PATH) and (status == 429 or status >= 500):
            return contract.delete_failure_body(status)
        if status == 429:
            return contract.fail_body(None, "Rate limit exceeded", "Rate Limits Exceeded")
        if status >= 500:
            return contract.fail_body(None, "Internal server error", "InternalServerError")
        return contract.fail_body(None, HTTPStatus(status).phrase, _error_type(status))


def _error_type(status: int) -> str:
    if status == 401:
        return "AuthenticationError"
    return HTTPStatus(status).phrase.replace(" ", "").replace("-", "") + "Error"


class Emulator:
    """The MoEngage Data API on loopback; use as a context manager or start()/stop()."""

    def __init__(
        self,
        app_id: str = "local-workspace",
        api_key: str = "local-key",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        quota_per_minute: int | None = None,
        clock: Callable[[], float] = time.time,
        quiet: bool = True,
    ) -> None:
        self.app_id, self.api_key, self.host, self.port = app_id, api_key, host, port
        self.latency = latency  # seconds slept before every /v1 answer; settable at runtime
        self.quota_per_minute = quota_per_minute
        self.clock, self.quiet = clock, quiet
        self._elapsed = 0.0  # time moved forward by elapse(), added to clock()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._clear()

    def _clear(self) -> None:
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._accepted: list[dict[str, Any]] = []
        self._dropped: list[Any] = []
        self._rejected: list[tuple[Any, str]] = []
        self._violations: list[str] = []
        self._profiles: dict[str, dict[str, Any]] = {}
        self._merges: list[tuple[str, str]] = []
        self._deletions: list[tuple[str, str]] = []
        self._deleting: dict[str, float] = {}  # customer_id -> when its buffer ends
        self._erasures: list[str] = []
        self._erased: dict[str, float] = {}  # customer_id -> until when it cannot be re-created
        self._window: int | None = None
        self._used = 0

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> Emulator:
        """Bind now (so base_url is known) and serve from a daemon thread."""
        if self._server is None:
            self._server = _Server((self.host, self.port), self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="moengage-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close the listening socket and cut open keep-alive connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # scripting and inspection ------------------------------------------------------------------
    def now(self) -> float:
        """The emulator's clock: clock() plus what elapse() moved it by."""
        return self.clock() + self._elapsed

    def elapse(self, seconds: float) -> None:
        """Move the emulator's clock forward (e.g. past Delete User's 24-hour buffer)."""
        with self._lock:
            self._elapsed += seconds
            self._settle_deletions()

    def inject(
        self,
        status: int | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        latency: float = 0.0,
        drop: bool = False,
        path_prefix: str | None = None,
    ) -> Fault:
        """Queue a fault for the next ``times`` /v1 requests whose path starts with path_prefix."""
        fault = Fault(status, times, dict(headers or {}), body, latency, drop, path_prefix)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Drop pending faults (an outage ends) but keep what was recorded."""
        with self._lock:
            self._faults = []

    def reset(self) -> None:
        """Forget records, pending faults and quota usage (latency is kept)."""
        with self._lock:
            self._clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def accepted(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._accepted)

    @property
    def dropped(self) -> list[Any]:
        with self._lock:
            return copy.deepcopy(self._dropped)

    @property
    def rejected_elements(self) -> list[tuple[Any, str]]:
        with self._lock:
            return copy.deepcopy(self._rejected)

    @property
    def violations(self) -> list[str]:
        with self._lock:
            return list(self._violations)

    @property
    def profiles(self) -> dict[str, dict[str, Any]]:
        """User attributes by customer_id, as accepted elements, merges and deletions left them:
        a deleted user stays (and takes updates) until its 24-hour buffer ends on the
        emulator's clock, then goes; an update after that is a new profile. A merge moves the
        merged user's attributes to the retained user (its own values for the rest)."""
        with self._lock:
            self._settle_deletions()
            return copy.deepcopy(self._profiles)

    @property
    def deleting(self) -> dict[str, float]:
        """Users accepted for deletion and still in their buffer: customer_id -> its end."""
        with self._lock:
            self._settle_deletions()
            return dict(self._deleting)

    @property
    def erasures(self) -> list[str]:
        """Every customer_id (identity type ID) a GDPR erasure request named, in order."""
        with self._lock:
            return list(self._erasures)

    @property
    def merges(self) -> list[tuple[str, str]]:
        """Every (merged_user, retained_user) pair applied, in order."""
        with self._lock:
            return list(self._merges)

    @property
    def deletions(self) -> list[tuple[str, str]]:
        """Every (identity_type, identity_value) deleted, in order."""
        with self._lock:
            return list(self._deletions)

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return copy.deepcopy(self._faults)

    # used by the handler -------------------------------------------------------------------------
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(path):
                    fault.times -= 1
                    if fault.times == 0:
                        del self._faults[index]
                    return fault
        return None

    def _reserve(self, count: int) -> tuple[bool, dict[str, str], int]:
        """All-or-nothing quota in fixed windows of clock(); returns (ok, headers, window)."""
        with self._lock:
            now = self.clock() + self._elapsed
            window = math.floor(now / WINDOW)
            if window != self._window:
                self._window, self._used = window, 0
            limit = self.quota_per_minute or DEFAULT_LIMIT
            reset = max(1, math.ceil((window + 1) * WINDOW - now))
            ok = self.quota_per_minute is None or self._used + count <= limit
            if ok:
                self._used += count
            remaining = max(0, limit - self._used) if ok else 0
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": str(reset),
            }
            return ok, headers, window

    def _release(self, window: int, count: int) -> None:
        """Give back quota reserved by a request that was then refused."""
        with self._lock:
            if self._window == window:
                self._used = max(0, self._used - count)

    def _keep(self, verdict: contract.Verdict) -> contract.Verdict:
        """Record what MoEngage would keep; a deletion of an unknown customer_id becomes the
        documented 400 "Not Found" instead."""
        with self._lock:
            self._settle_deletions()
            if verdict.deletion is not None and not self._delete(*verdict.deletion):
                message = f"User doesn't exists with customer id {verdict.deletion[1]}"
                return contract.Verdict(400, contract.fail_body(None, message, "Not Found"))
            if verdict.erasure is not None:
                self._erase(verdict.erasure)
            self._accepted.extend(verdict.accepted)
            self._dropped.extend(verdict.dropped)
            self._rejected.extend(verdict.rejected)
            self._violations.extend(verdict.violations)
            for element in verdict.accepted:
                self._update_profile(element)
            for merged, retained in verdict.merges:
                self._merge(merged, retained)
            return verdict

    def _update_profile(self, element: dict[str, Any]) -> None:
        kind, user = element.get("type"), str(element.get("customer_id"))
        if self._erased.get(user, 0.0) > self.now():
            return  # erased under GDPR: not re-created before the hold ends
        if kind == "event":
            self._profiles.setdefault(user, {})
        elif kind == "customer":
            if user not in self._profiles and element.get("update_existing_only") is True:
                return
            profile = self._profiles.setdefault(user, {})
            profile.update(element.get("attributes") or {})
            for name in _unset_names(element):
                profile.pop(name, None)

    def _merge(self, merged: str, retained: str) -> None:
        """A pair naming a user that does not exist (merged or retained) is skipped, as
        MoEngage skips failed pairs ("only registered users can be merged")."""
        if merged == retained or merged not in self._profiles or retained not in self._profiles:
            return
        self._profiles.setdefault(retained, {}).update(self._profiles.pop(merged))
        self._merges.append((merged, retained))

    def _delete(self, identity_type: str, value: str) -> bool:
        """Start the user's 24-hour buffer (it stays, and takes updates, until then); False
        when a customer_id is unknown (a moengage_id cannot be checked: the emulator assigns
        none). A second delete within the buffer is accepted and keeps the first end."""
        if identity_type == "customer_id":
            if value not in self._profiles:
                return False
            self._deleting.setdefault(value, self.now() + DELETE_BUFFER)
        self._deletions.append((identity_type, value))
        return True

    def _erase(self, user: str) -> None:
        """GDPR erasure of the user named by ID: its profile goes, and it cannot be created
        again for 24 hours."""
        self._erasures.append(user)
        self._profiles.pop(user, None)
        self._deleting.pop(user, None)
        self._erased[user] = self.now() + ERASURE_HOLD

    def _settle_deletions(self) -> None:
        """Hard-delete the users whose buffer has ended (called with the lock held)."""
        now = self.now()
        for user, end in list(self._deleting.items()):
            if end <= now:
                self._profiles.pop(user, None)
                del self._deleting[user]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _log(self, method: str, path: str, status: int, elements: int | str) -> None:
        if not self.quiet:
            print(f"{method} {path} {status} {elements}", flush=True)

    def _snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "accepted": copy.deepcopy(self._accepted),
                "dropped": copy.deepcopy(self._dropped),
                "rejected": [{"element": e, "reason": r} for e, r in self._rejected],
                "violations": list(self._violations),
            }

    def _profile_snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._settle_deletions()
            return {
                "profiles": copy.deepcopy(self._profiles),
                "merges": [list(pair) for pair in self._merges],
                "deletions": [list(pair) for pair in self._deletions],
                "deleting": dict(self._deleting),
                "erasures": list(self._erasures),
            }

    def _request_log(self) -> list[dict[str, Any]]:
        """Requests without headers or bodies: credentials never leave through the control API."""
        with self._lock:
            return [
                {
                    "method": r.method,
                    "path": r.path,
                    "status": r.status,
                    "size": len(r.body),
                    "response": r.response,
                }
                for r in self._requests
            ]


class _Server(ThreadingHTTPServer):
    """Tracks open connections so stop() can cut keep-alive sockets too."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (or stop() cutting them) is normal here, not worth a traceback."""
        if not self.emulator.quiet:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stall
    timeout = IDLE_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the emulator logs its own one-line summaries instead."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON errors for requests the stdlib refuses; its 501 (no do_X method) is our 405."""
        code = 405 if code == 501 else code
        body = contract.fail_body(None, message or HTTPStatus(code).phrase, _error_type(code))
        self._send(code, body, close=True)

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        path, query = split.path, split.query
        body = self._read_body(path, query)
        if body is None:
            return
        if path == "/_emulator" or path.startswith("/_emulator/"):
            _control(self, path, body)
        elif path.startswith("/v1/"):
            self._v1(path, query, body)
        else:
            self._send(404, contract.fail_body(None, "Not Found", "NotFoundError"))
            self.server.emulator._log(self.command, path, 404, "-")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self, path: str, query: str) -> bytes | None:
        """Exactly Content-Length bytes, so keep-alive framing stays intact; refuse the rest."""
        problem: tuple[int, str] | None = None
        length = 0
        if self.headers.get("Transfer-Encoding"):
            problem = (411, "Content-Length is required")
        else:
            try:
                length = int(self.headers.get("Content-Length", "0"))
                if length < 0:
                    raise ValueError(length)
            except ValueError:
                problem = (400, "Invalid Content-Length")
        if problem is None and length > MAX_BODY:
            problem = (413, "The payload can not exceed 128KB")
        if problem is None:
            return self.rfile.read(length)
        status, message = problem
        response = contract.fail_body(None, message, _error_type(status))
        if path.startswith("/v1/"):
            self._record(path, query, b"", status, response)
        self._send(status, response, close=True)
        return None

    def _v1(self, path: str, query: str, body: bytes) -> None:
        """Faults and latency first, then routing, quota and the contract."""
        em = self.server.emulator
        fault = em._take_fault(path)
        delay = em.latency + (fault.latency if fault else 0.0)
        if delay > 0:
            time.sleep(delay)
        route = contract.match_route(path, query)
        count: int | str = contract.element_count(route[0], body) if route else "-"
        if fault and fault.drop:
            self._record(path, query, body, 0, None)
            em._log(self.command, path, 0, count)
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client is already gone
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        headers: dict[str, str] = {}
        if fault and fault.status is not None:
            status, response, headers = fault.status, fault.payload(path), fault.headers
        elif route is None:
            status, response = 404, contract.fail_body(None, "Not Found", "NotFoundError")
        elif self.command != "POST":
            status, headers = 405, {"Allow": "POST"}
            response = contract.fail_body(None, "Method Not Allowed", "MethodNotAllowedError")
        else:
            status, response, headers = self._answer(route, path, body, int(count))
        self._record(path, query, body, status, response)  # before answering: no race for tests
        self._send(status, response, headers)
        em._log(self.command, path, status, count)

    def _answer(
        self, route: tuple[str, str | None], path: str, body: bytes, count: int
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        em = self.server.emulator
        ok, quota_headers, window = em._reserve(count)
        if not ok:
            if path.startswith(DELETE_PATH):
                return 429, contract.delete_failure_body(429), quota_headers
            message = f"Rate limit of {em.quota_per_minute} elements per minute exceeded"
            return 429, contract.fail_body(None, message, "Rate Limits Exceeded"), quota_headers
        headers = {k.lower(): v for k, v in self.headers.items()}
        verdict = contract.check_request(
            *route, headers, body, app_id=em.app_id, api_key=em.api_key, now=em.now()
        )
        if verdict.status == 200:
            verdict = em._keep(verdict)
        if verdict.status != 200:
            em._release(window, count)
            return verdict.status, verdict.body, {}
        return 200, verdict.body, quota_headers

    def _record(self, path: str, query: str, body: bytes, status: int, response: Any) -> None:
        parsed = response if isinstance(response, dict) else None
        if isinstance(response, bytes):
            try:
                parsed = json.loads(response)
            except ValueError:
                parsed = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.emulator._record(
            RecordedRequest(self.command, path, query, headers, body, status, parsed)
        )

    def _send(
        self,
        status: int,
        payload: dict[str, Any] | list[Any] | bytes,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        """Always JSON, always with Content-Length (keep-alive depends on it)."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-length", "content-type", "connection"):
                self.send_header(name, value)
        has_body = status not in (204, 304)
        if has_body:
            self.send_header("Content-Length", str(len(data)))
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if has_body and self.command != "HEAD":
            self.wfile.write(data)


def _unset_names(element: dict[str, Any]) -> list[str]:
    """The attributes a customer element clears: Track User's `unset_attributes`, items
    `{"type": "equals", "attr": NAME}` (data.yaml CreateUserRequest; Early Access)."""
    rules = element.get("unset_attributes")
    if not isinstance(rules, list):
        return []
    return [
        rule["attr"]
        for rule in rules
        if isinstance(rule, dict)
        and rule.get("type") == "equals"
        and isinstance(rule.get("attr"), str)
    ]


def _control(handler: _Handler, path: str, body: bytes) -> None:
    """The /_emulator API, for standalone runs where the Python API is out of reach."""
    em, method = handler.server.emulator, handler.command
    routes: dict[str, tuple[str, Callable[[Any], tuple[int, Any]]]] = {
        "/_emulator/health": ("GET", lambda _: (200, {"status": "ok"})),
        "/_emulator/accepted": ("GET", lambda _: (200, em._snapshot())),
        "/_emulator/requests": ("GET", lambda _: (200, em._request_log())),
        "/_emulator/profiles": ("GET", lambda _: (200, em._profile_snapshot())),
        "/_emulator/faults": ("POST", lambda data: _add_fault(em, data)),
        "/_emulator/reset": ("POST", lambda _: _reset(em)),
        "/_emulator/latency": ("PUT", lambda data: _set_latency(em, data)),
        "/_emulator/elapse": ("POST", lambda data: _elapse(em, data)),
    }
    status: int
    if path not in routes:
        status, response = 404, contract.fail_body(None, "Not Found", "NotFoundError")
    elif method != routes[path][0]:
        status = 405
        response = contract.fail_body(None, "Method Not Allowed", "MethodNotAllowedError")
    else:
        try:
            data = contract.parse_json(body) if body.strip() else {}
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict):
            status, response = routes[path][1](data)
        else:
            status = 400
            response = contract.fail_body(None, "Body must be a JSON object", "BadRequestError")
    handler._send(status, response)
    em._log(method, path, status, "-")


def _add_fault(em: Emulator, data: dict[str, Any]) -> tuple[int, Any]:
    try:
        fault = em.inject(**data)
    except (TypeError, ValueError) as error:
        return 400, contract.fail_body(None, str(error), "BadRequestError")
    return 201, {"status": "created", "fault": asdict(fault)}


def _reset(em: Emulator) -> tuple[int, Any]:
    em.reset()
    return 200, {"status": "ok"}


def _set_latency(em: Emulator, data: dict[str, Any]) -> tuple[int, Any]:
    seconds = data.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        message = "seconds must be a non-negative number"
        return 400, contract.fail_body("seconds", message, "BadRequestError")
    em.latency = float(seconds)
    return 200, {"latency": em.latency}


def _elapse(em: Emulator, data: dict[str, Any]) -> tuple[int, Any]:
    seconds = data.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        message = "seconds must be a non-negative number"
        return 400, contract.fail_body("seconds", message, "BadRequestError")
    em.elapse(float(seconds))
    return 200, {"elapsed": em._elapsed}
