"""Read a webhook body: any content type, as long as it is a JSON object (KLS sends "raw text").
Every way a body can be bad is a 400 (or 413), never an exception that escapes."""

from __future__ import annotations

import json
import math

import msgspec

from bridge.common.errors import BridgeError

MAX_BODY_BYTES = 128 * 1024
MAX_DEPTH = 32


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400 overflows to Infinity, which MoEngage refuses
        raise ValueError("number out of range")
    return value


# Built once: what json.loads(text, parse_constant=..., parse_float=...) builds on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
# msgspec reads the common body several times faster. Whatever it refuses (a BOM, NaN, 1e400,
# a lone surrogate, a number too long, invalid UTF-8, deep nesting) is read again by the standard
# library above, so every answer and error message stays what that reader gives.
_FAST_DECODE = msgspec.json.Decoder().decode


def _depth_exceeds(value: object, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_body(raw: bytes) -> dict[str, object]:
    """The body as a dict, or BridgeError(400/413) saying what is wrong with it."""
    if len(raw) > MAX_BODY_BYTES:
        raise BridgeError(
            413, "body_too_large", f"the body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}"
        )
    try:
        body = _FAST_DECODE(raw)
    except Exception:  # the standard reader below says what is wrong
        body = None
    if type(body) is dict and (
        raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH or not _depth_exceeds(body, MAX_DEPTH)
    ):
        return body
    return _parse_standard(raw)


def _parse_standard(raw: bytes) -> dict[str, object]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BridgeError(400, "invalid_encoding", "the body is not valid UTF-8") from None
    if not text.strip():
        raise BridgeError(400, "empty_body", "the body is empty: send the webhook's JSON object")
    try:
        body = _DECODER.decode(text)
    except RecursionError:
        raise BridgeError(400, "too_deeply_nested", "the body is nested too deeply") from None
    except ValueError as error:
        where = f" (line {error.lineno}, column {error.colno})" if hasattr(error, "lineno") else ""
        raise BridgeError(
            400, "invalid_json", f"the body is not valid JSON{where}: check the webhook template"
        ) from None
    if not isinstance(body, dict):
        raise BridgeError(
            400, "not_an_object", f"the body must be a JSON object, not {type(body).__name__}"
        )
    # Nesting needs an opening bracket per level: with few brackets the walk cannot find any.
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth_exceeds(body, MAX_DEPTH):
        raise BridgeError(
            400, "too_deeply_nested", f"the body is nested deeper than {MAX_DEPTH} levels"
        )
    return body
