"""The MoEngage emulator's own request handler, called in process on a request's HTTP/1.1 bytes:
the same routing, contract, recording and injected faults as over loopback, without sockets or
threads. For the durable simulation (tests/durable_simulation.py), whose runs must replay
exactly from a seed: over real sockets, which of two concurrent requests is answered first
depends on thread timing. Every other test talks to the emulator over real sockets."""

from __future__ import annotations

import io
from types import SimpleNamespace

import httpx

from moengage_emulator import Emulator
from moengage_emulator.server import _Handler


class _NoSocket:
    """What a dropped connection's `shutdown` is called on."""

    def shutdown(self, how: int) -> None:
        pass


class _InProcessHandler(_Handler):
    """One request in, one response (or nothing: a dropped connection) out."""

    def __init__(self, raw: bytes, emulator: Emulator) -> None:  # no socketserver set-up
        self.rfile = io.BytesIO(raw)
        self.wfile = io.BytesIO()
        self.server = SimpleNamespace(emulator=emulator)  # type: ignore[assignment]
        self.client_address = ("127.0.0.1", 0)
        self.request = self.connection = _NoSocket()
        self.close_connection = True
        self.handle_one_request()


class InProcessEmulator(httpx.AsyncBaseTransport):
    """An httpx transport answering from `emulator` in process."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        target = request.url.raw_path.decode()
        lines = [f"{request.method} {target} HTTP/1.1"]
        lines += [f"{name.decode()}: {value.decode()}" for name, value in request.headers.raw]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        output = _InProcessHandler(raw, self.emulator).wfile.getvalue()
        if not output:  # the fault dropped the connection
            raise httpx.RemoteProtocolError("Server disconnected without response", request=request)
        head, _, content = output.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = [tuple(line.split(": ", 1)) for line in header_lines if ": " in line]
        return httpx.Response(
            int(status_line.split(" ")[1]), headers=headers, content=content, request=request
        )
