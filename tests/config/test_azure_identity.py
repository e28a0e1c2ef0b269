"""Identity-based Service Bus and Table Storage must get a token in Azure, where aiohttp (the
async credentials' default transport) is not installed: the credential is asked for a token
through App Service's managed-identity endpoint, played by a loopback server, with aiohttp made
unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

HEADER_SECRET = "identity-header-secret"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def identity_endpoint() -> Iterator[tuple[str, list[dict]]]:
    """App Service's managed-identity endpoint: GET with X-IDENTITY-HEADER, answers a token."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)
            seen.append({"header": self.headers.get("X-IDENTITY-HEADER"), **query})
            body = json.dumps(
                {
                    "access_token": "token-from-identity",
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": query.get("resource", [""])[0],
                    "token_type": "Bearer",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/msi/token", seen
    finally:
        server.shutdown()


def test_user_assigned_identity_gets_a_token_without_aiohttp(identity_endpoint):
    endpoint, seen = identity_endpoint
    script = (
        "import asyncio, sys\n"
        "sys.modules['aiohttp'] = None  # not deployed: importing it fails as in Azure\n"
        "from bridge.common.azure_identity import identity_credential\n"
        "async def main():\n"
        f"    credential = identity_credential({CLIENT_ID!r})\n"
        "    async with credential:\n"
        "        token = await credential.get_token('https://servicebus.azure.net/.default')\n"
        "    print(token.token)\n"
        "asyncio.run(main())\n"
    )
    environment = {
        "PATH": "/usr/bin:/bin",
        "IDENTITY_ENDPOINT": endpoint,
        "IDENTITY_HEADER": HEADER_SECRET,
        "NO_PROXY": "127.0.0.1",
    }

    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=environment,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "token-from-identity"
    [request] = seen
    assert request["header"] == HEADER_SECRET
    assert request["client_id"] == [CLIENT_ID]
    assert request["resource"] == ["https://servicebus.azure.net"]
