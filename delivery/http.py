"""The process's HTTP client for MoEngage: one per event loop (one loop per worker process in
Azure), explicit timeouts, no redirects, no proxies or hosts from the environment."""

from __future__ import annotations

import asyncio

import httpx

TIMEOUT = httpx.Timeout(connect=3.0, read=8.0, write=5.0, pool=3.0)
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60)
MAX_RESPONSE_BYTES = 64 * 1024
USER_AGENT = "kognitiv-moengage-bridge/1.0"


def new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=TIMEOUT,
        limits=LIMITS,
        follow_redirects=False,
        verify=True,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


class ClientProvider:
    """Reuses one AsyncClient while the running loop stays the same."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client, self._loop = new_client(), loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def read_capped(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """Read at most `limit` bytes of a response body: MoEngage's answers are small."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return b"".join(chunks)
