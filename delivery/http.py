"""The process's HTTP client for MoEngage: one per event loop (one loop per worker process in
Azure), explicit timeouts, no redirects, no proxies or hosts from the environment."""

from __future__ import annotations

import asyncio
import zlib

import httpx

TIMEOUT = httpx.Timeout(connect=3.0, read=8.0, write=5.0, pool=3.0)
LIMITS = httpx.Limits(max_connections=32, max_keepalive_connections=16, keepalive_expiry=60)
MAX_RESPONSE_BYTES = 64 * 1024


def new_client(user_agent: str) -> httpx.AsyncClient:
    """A client that announces itself as `user_agent` (the app passes its name and version)."""
    return httpx.AsyncClient(
        timeout=TIMEOUT,
        limits=LIMITS,
        follow_redirects=False,
        verify=True,
        trust_env=False,
        # identity: a compressed answer could expand far past MAX_RESPONSE_BYTES in memory
        headers={"User-Agent": user_agent, "Accept-Encoding": "identity"},
    )


class ClientProvider:
    """Reuses one AsyncClient while the running loop stays the same."""

    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop or self._client.is_closed:
            self._client, self._loop = new_client(self._user_agent), loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


async def read_capped(response: httpx.Response, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """Read at most `limit` bytes of a response body: MoEngage's answers are small.

    The cap applies to the bytes on the wire and to the decoded body: httpx would inflate a
    gzip chunk whole (a 64 KB chunk can become 60 MB), so raw bytes are read and decoded here
    with a bound. An encoding other than gzip or deflate reads as an empty body."""
    if response.is_stream_consumed:  # read already (a test double): it can only be trimmed
        return response.content[:limit]
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return _decoded(b"".join(chunks), response.headers.get("content-encoding", ""), limit)


def _decoded(raw: bytes, content_encoding: str, limit: int) -> bytes:
    codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
    for coding in reversed(codings):  # applied in order, so undone from the last one
        if coding == "identity":
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            return b""
        wbits = zlib.MAX_WBITS | 16 if coding != "deflate" else zlib.MAX_WBITS
        try:
            raw = zlib.decompressobj(wbits).decompress(raw, limit)
        except zlib.error:
            return b""
    return raw
