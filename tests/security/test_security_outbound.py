"""Outbound safety: where the bridge sends the MoEngage key, and what it accepts back.

The MoEngage host comes only from the data-center table or MOENGAGE_API_BASE_URL (never from a
body, a redirect or a proxy variable); TLS certificates and host names are verified; an answer is
read with a byte cap that a huge or compressed body cannot get around."""

from __future__ import annotations

import datetime as dt
import gzip
import ipaddress
import json
import re
import ssl
import threading
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bridge.common.version import USER_AGENT
from bridge.config.settings import ConfigurationError, load_settings
from bridge.deployment.runtime import Runtime
from delivery import (
    DATA_CENTERS,
    MoEngageRejected,
    MoEngageSender,
    MoEngageTarget,
    MoEngageUnavailable,
    RetryPolicy,
    api_base_url,
    normalise_data_center,
)
from delivery.http import MAX_RESPONSE_BYTES, new_client, read_capped
from delivery.ratelimit import MAX_WAIT_SECONDS, seconds_until_reset
from moengage_emulator import Emulator
from tests.conftest import API_KEY, APP_ID, call_webhook, fixture_body, http_request

ELEMENT = {"type": "customer", "customer_id": "M-1001", "attributes": {"first_name": "Ana"}}
TABLE_HOST = re.compile(r"https://api-(01|02|03|04|05|06|101)\.moengage\.com")
QUICK = RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.02, budget=2.0)
PROPERTY = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture
def elsewhere() -> Iterator[Emulator]:
    """A second MoEngage lookalike: whatever reaches it went somewhere it must not."""
    with Emulator(app_id=APP_ID, api_key=API_KEY) as emulator:
        yield emulator


def sender_for(origin: str, client: httpx.AsyncClient) -> MoEngageSender:
    return MoEngageSender(
        MoEngageTarget(APP_ID, SecretStr(API_KEY), base_url=origin), client, QUICK
    )


# --- where the key goes ----------------------------------------------------------------------


@pytest.mark.parametrize("data_center", sorted(DATA_CENTERS))
def test_every_data_center_is_its_moengage_host(settings_env, data_center):
    settings_env.delenv("MOENGAGE_API_BASE_URL")
    settings_env.setenv("MOENGAGE_DATA_CENTER", f"DC-{data_center}")

    target = Runtime.from_settings(load_settings()).target

    for kind in ("event", "customer", "transition"):
        expected = f"https://api-{data_center}.moengage.com/v1/{kind}/{APP_ID}"
        assert target.url(kind) == expected


@PROPERTY
@given(
    raw=st.one_of(
        st.text(max_size=40),
        st.builds(
            "{}{}{}".format,
            st.sampled_from(["", "https://", "http://", "api-", "dc", "dashboard-", "DC-"]),
            st.sampled_from(["01", "1", "02", "06", "101", "7", "99", "001"]),
            st.sampled_from(["", ".moengage.com", ".moengage.com.evil.example", "@evil.example"]),
        ),
    )
)
@example(raw="01.evil.example")
@example(raw="https://api-01.moengage.com.evil.example")
@example(raw="api-01.moengage.com@evil.example")
@example(raw="https://evil.example/api-01.moengage.com")
def test_a_data_center_setting_can_only_name_a_host_from_the_table(raw):
    try:
        code = normalise_data_center(raw)
    except ValueError:
        return
    assert code in DATA_CENTERS
    assert TABLE_HOST.fullmatch(api_base_url(code))


@pytest.mark.parametrize(
    "base_url",
    [
        "http://admin:base-url-secret@evil.example",
        "https://admin@evil.example",
        "https://:base-url-secret@api-01.moengage.com",
        "https://evil.example\\@api-01.moengage.com",
        "https://api-01.moengage.com/v1/event/other-workspace",
        "https://api-01.moengage.com?redirect=https://evil.example",
        "https://api-01.moengage.com#fragment",
        "file:///etc/passwd",
        "ftp://evil.example",
        "javascript:alert(1)",
        "//evil.example",
        "api-01.moengage.com",
        "https://",
        "https://api-01.moengage.com:99999",
        "https://api-01.moengage.com\r\nX-Injected: 1",
    ],
)
def test_base_urls_other_than_scheme_host_port_are_refused(settings_env, base_url):
    settings_env.setenv("MOENGAGE_API_BASE_URL", base_url)

    with pytest.raises(ConfigurationError) as raised:
        load_settings()

    assert all(problem.startswith("MOENGAGE_API_BASE_URL") for problem in raised.value.problems)
    assert "base-url-secret" not in str(raised.value)


HOSTILE_REQUESTS = [
    (
        {
            "type": "event",
            "customer_id": "../../customer/other-workspace",
            "actions": [{"action": "x/../../../transition/other", "attributes": {"url": "//e"}}],
        },
        None,
    ),
    (
        {
            "type": "customer",
            "customer_id": "M-1001?app_id=other#",
            "attributes": {"host": "evil.example", "base_url": "https://evil.example"},
        },
        None,
    ),
    ({"memberId": "M-1001\r\nHost: evil.example", "rewardName": "http://e"}, "rewards_issued"),
    ({"memberId": "M-1001", "event": "../../transition/other"}, None),
    ({"memberId": "M-1001"}, "rewards_issued/../../../v1/customer/other"),
]


@pytest.mark.usefixtures("settings_env")
@pytest.mark.parametrize(("body", "event"), HOSTILE_REQUESTS)
async def test_bodies_and_event_names_cannot_steer_the_request(moengage, elsewhere, body, event):
    request = http_request(body, event, params={"host": elsewhere.base_url, "path": "/v1/x"})

    status, _, _ = await call_webhook(request)

    assert status in (200, 404)
    origin = moengage.base_url.removeprefix("http://")
    for sent in moengage.requests:
        assert re.fullmatch(rf"/v1/(event|customer|transition)/{APP_ID}", sent.path)
        assert sent.query == ""
        assert sent.headers["host"] == origin
    assert len(moengage.requests) == (status == 200)
    assert elsewhere.requests == []


# --- redirects and proxies -------------------------------------------------------------------


@pytest.mark.usefixtures("settings_env")
@pytest.mark.parametrize("redirect", [301, 302, 303, 307, 308])
async def test_a_redirect_from_moengage_is_never_followed(moengage, elsewhere, redirect):
    location = f"{elsewhere.base_url}/v1/event/{APP_ID}"
    moengage.inject(status=redirect, headers={"Location": location}, body={})

    status, body, _ = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 502
    assert body["error"]["code"] == "moengage_rejected"
    assert body["error"]["moengage_status"] == redirect
    assert elsewhere.base_url not in json.dumps(body)
    assert len(moengage.requests) == 1
    assert elsewhere.requests == []


@pytest.mark.usefixtures("settings_env")
async def test_proxy_and_certificate_variables_are_ignored(monkeypatch, moengage, elsewhere):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, elsewhere.base_url)
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    status, _, _ = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 200
    assert len(moengage.accepted) == 1
    assert elsewhere.requests == []


# --- TLS -------------------------------------------------------------------------------------


async def test_the_client_verifies_certificates_and_host_names():
    client = new_client(USER_AGENT)
    try:
        transport = client._transport_for_url(httpx.URL("https://api-01.moengage.com/v1/"))
        context: ssl.SSLContext = transport._pool._ssl_context  # httpx 0.28 / httpcore 1.x
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
        assert client.follow_redirects is False
        assert client.trust_env is False
        assert client._mounts == {}
    finally:
        await client.aclose()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost that no trust store knows."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """An HTTPS server with a self-signed certificate; yields (origin, cert, requests seen)."""
    cert_path, key_path = _self_signed(tmp_path)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(self.path)
            body = json.dumps({"status": "success", "request_id": "tls"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}", cert_path, seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_an_untrusted_certificate_stops_delivery_before_any_request(untrusted_https):
    origin, cert_path, seen = untrusted_https
    client = new_client(USER_AGENT)
    try:
        with pytest.raises(MoEngageUnavailable) as raised:
            await sender_for(origin, client).deliver([ELEMENT])
    finally:
        await client.aclose()

    assert "connection failed" in raised.value.reason
    assert seen == []
    # the same server, trusted explicitly, is reachable: the refusal was certificate checking
    trusted = httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(cert_path)))
    async with trusted:
        report = await sender_for(origin, trusted).deliver([ELEMENT])
    assert report.delivered == 1
    assert seen == [f"/v1/customer/{APP_ID}"]


# --- what is read back ------------------------------------------------------------------------


class _CountingStream(httpx.AsyncByteStream):
    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.count, self.produced = chunk, count, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.produced += len(self.chunk)
            yield self.chunk


@pytest.mark.parametrize("chunk_size", [1, 1000, 16 * 1024, MAX_RESPONSE_BYTES + 1])
async def test_read_capped_stops_pulling_at_the_cap(chunk_size):
    stream = _CountingStream(b"x" * chunk_size, count=(4 * MAX_RESPONSE_BYTES) // chunk_size + 2)
    response = httpx.Response(200, stream=stream)

    body = await read_capped(response)

    assert len(body) == MAX_RESPONSE_BYTES
    assert stream.produced <= MAX_RESPONSE_BYTES + chunk_size


class _CountingTransport(httpx.AsyncBaseTransport):
    """The real transport, counting response bytes handed to the client."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.received = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        outer = self

        class Counted(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in response.stream:
                    outer.received += len(chunk)
                    yield chunk

            async def aclose(self) -> None:
                await response.aclose()

        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=Counted(),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("fault_status", [400, 500])
async def test_a_huge_moengage_answer_is_not_read_past_the_cap(moengage, fault_status):
    huge = b'{"status": "fail", "error": {"type": "' + b"A" * (8 * 1024 * 1024) + b'"}}'
    moengage.inject(status=fault_status, body=huge, times=5)
    transport = _CountingTransport()

    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises((MoEngageRejected, MoEngageUnavailable)) as raised:
            await sender_for(moengage.base_url, client).deliver([ELEMENT])

    requests = len(moengage.requests)
    # httpcore reads the socket 64 KB at a time: the cap plus one read per request at most
    assert transport.received <= requests * (MAX_RESPONSE_BYTES + 64 * 1024)
    assert "AAAAAAAA" * 20 not in raised.value.message


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", lambda data: gzip.compress(data, 9)),
        ("deflate", lambda data: zlib.compress(data, 9)),
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data, 9), 9)),
    ],
    ids=["gzip", "deflate", "gzip-twice"],
)
async def test_a_compressed_answer_cannot_expand_past_the_cap(moengage, encoding, compress):
    bomb = compress(b" " * (64 * 1024 * 1024))  # 64 MB of spaces, about 64 KB on the wire
    moengage.inject(status=400, body=bomb, headers={"Content-Encoding": encoding})

    async with httpx.AsyncClient() as client:  # httpx's default Accept-Encoding: gzip, deflate
        sender = sender_for(moengage.base_url, client)
        tracemalloc.start()
        try:
            with pytest.raises(MoEngageRejected):
                await sender.deliver([ELEMENT])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert peak < 16 * 1024 * 1024, f"{peak / 1e6:.0f} MB held while reading one answer"


async def test_compressed_answers_are_still_understood():
    payload = {"status": "fail", "error": {"type": "AuthenticationError", "request_id": "gzOk"}}
    raw = gzip.compress(json.dumps(payload).encode())
    stream = _CountingStream(raw, count=1)
    response = httpx.Response(401, stream=stream, headers={"Content-Encoding": "gzip"})

    assert json.loads(await read_capped(response)) == payload


async def test_the_bridge_asks_moengage_for_uncompressed_answers(settings_env, moengage):
    await call_webhook(http_request(fixture_body("rewards_issued"), "rewards_issued"))

    [sent] = moengage.requests
    assert sent.headers["accept-encoding"] == "identity"


# --- rate-limit headers are MoEngage's input too --------------------------------------------

header_values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "1" * 400, "0", "-5", " 30 "]),
    st.floats().map(repr),
    st.integers().map(str),
    st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S GMT")),
)


@PROPERTY
@given(
    reset=st.one_of(st.none(), header_values),
    retry_after=st.one_of(st.none(), header_values),
    now=st.floats(min_value=0, max_value=4e9),
)
@example(reset=None, retry_after="Fri, 31 Dec 9999 23:59:59 GMT", now=0.0)
@example(reset=None, retry_after="Mon, 01 Jan 0001 00:00:00 GMT", now=1.8e9)
@example(reset=None, retry_after="Mon, 01 Jan 2001 00:00:00 +9999", now=1.8e9)
def test_rate_limit_headers_give_a_bounded_wait_or_none(reset, retry_after, now):
    headers = {
        name: value
        for name, value in (("x-ratelimit-reset", reset), ("retry-after", retry_after))
        if value is not None
    }

    wait = seconds_until_reset(headers, now=now)

    assert wait is None or 0.0 <= wait <= MAX_WAIT_SECONDS
