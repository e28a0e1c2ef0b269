"""`function_app.JsonResponse`, the HTTP triggers' answer type, is what `func.HttpResponse` would
be for the same JSON answer, down to what the worker's own converter sends to the host."""

from __future__ import annotations

import azure.functions as func
import pytest
from azure.functions.http import HttpResponseConverter

from function_app import JsonResponse


def public_members(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def test_every_public_member_of_the_library_response_is_its_own() -> None:
    """The constructor sets none of the parent's private state: a member inherited from a
    newer azure-functions would read what is not there. Such an upgrade fails here."""
    inherited = {
        name for name in public_members(func.HttpResponse) if name not in vars(JsonResponse)
    }
    assert inherited == set()


CASES = [
    (200, {"X-Correlation-Id": "6fba912e602d4b61a3d7732494ff67e3"}, b'{"status":"dry_run"}'),
    (401, {"WWW-Authenticate": 'Basic realm="kognitiv-webhook", Bearer'}, b'{"error":{}}'),
    (503, {"Retry-After": "30", "X-Correlation-Id": "abc"}, b"{}"),
    (204, {}, b""),
]


@pytest.mark.parametrize(("status", "headers", "body"), CASES)
def test_it_answers_what_the_library_response_answers(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    ours = JsonResponse(body, status, headers)
    library = func.HttpResponse(
        body, status_code=status, headers=headers, mimetype="application/json", charset="utf-8"
    )

    assert isinstance(ours, func.HttpResponse)
    assert (ours.status_code, ours.mimetype, ours.charset, ours.get_body()) == (
        library.status_code,
        library.mimetype,
        library.charset,
        library.get_body(),
    )
    assert list(ours.headers.items()) == list(library.headers.items())
    assert type(ours.headers) is type(library.headers)
    sent = HttpResponseConverter.encode(ours, expected_type=None)
    expected = HttpResponseConverter.encode(library, expected_type=None)
    assert sent.type == expected.type == "http"
    assert sent.value == expected.value
    assert sent.value["headers"]["content-type"].value == "application/json"


def test_each_response_has_headers_of_its_own() -> None:
    first = JsonResponse(b"{}", 200, {"X-Correlation-Id": "a"})
    second = JsonResponse(b"{}", 200, {"X-Correlation-Id": "b"})
    first.headers["X-Extra"] = "1"

    assert second.headers.get("X-Extra") is None
    assert second.headers["X-Correlation-Id"] == "b"
