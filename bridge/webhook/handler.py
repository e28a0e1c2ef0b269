"""The HTTP webhook, without Azure: authenticate, read, map, then dry-run or deliver.

Every answer is JSON. Bad input is refused before anything is sent, so a 4xx never leaves a
half-sent batch behind."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridge.common import telemetry
from bridge.common.errors import BridgeError
from bridge.common.frozen import fills_dict
from bridge.common.telemetry import mask_member_id
from bridge.config.settings import ConfigurationError
from bridge.config.workspaces import DEFAULT_WORKSPACE, NAME
from bridge.deployment.runtime import CLIENTS, Runtime, UnknownWorkspace, current_workspace
from bridge.webhook.body import parse_body
from delivery import MoEngageRejected, MoEngageUnavailable, plan_requests
from delivery.payloads import encode_element
from mapping import PASSTHROUGH, MappingError, MappingResult
from mapping.policy import element_members

log = logging.getLogger("kognitiv_bridge")
MAX_ELEMENT_BYTES = 128_000  # MoEngage's track APIs refuse bodies over 128 KB
MAY_OUTGROW_BYTES = 40_000  # smaller bodies cannot grow past it (escaping at most triples text)
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
DEFAULT_RETRY_AFTER = 30
ENQUEUE_TIMEOUT_SECONDS = 5.0  # per attempt; two attempts stay inside a webhook sender's patience
ENQUEUE_ATTEMPTS = 2
EVENT_NAME = re.compile(r"[a-z0-9_.-]{1,64}")


@fills_dict  # one per webhook and per queue message
@dataclass(frozen=True)
class WebhookRequest:
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    route_event: str | None = None
    workspace: str = DEFAULT_WORKSPACE


@fills_dict  # one per webhook
@dataclass(frozen=True)
class WebhookResponse:
    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)
    log_fields: dict[str, object] = field(default_factory=dict, compare=False, repr=False)
    # The mapped body the line names (event, rule, members): worked out only if it is written.
    mapped: MappingResult | None = field(default=None, compare=False, repr=False)


def _error(error: BridgeError, headers: dict[str, str] | None = None) -> WebhookResponse:
    return WebhookResponse(error.status, error.body(), headers or {})


def _unauthorized(runtime: Runtime) -> WebhookResponse:
    schemes = []
    if runtime.auth.basic:
        schemes.append('Basic realm="kognitiv-webhook"')
    if runtime.auth.tokens:
        schemes.append("Bearer")
    message = "missing or wrong credentials: send the Authorization header configured in Kognitiv"
    return _error(
        BridgeError(401, "unauthorized", message), {"WWW-Authenticate": ", ".join(schemes)}
    )


def map_request(
    runtime: Runtime, request: WebhookRequest, *, identify: bool = False
) -> tuple[dict[str, object], MappingResult]:
    """Parse and map the body (BridgeError on any input problem): the one code path shared
    by the HTTP trigger and the queue trigger. `identify`: also render the rule's event
    identity (only an enqueue needs it)."""
    body = parse_body(request.body)
    event = (request.route_event or "").strip() or None
    try:
        result = runtime.mapper.map(body, event, identify=identify)
    except MappingError as error:
        raise BridgeError.from_mapping(error) from None
    if len(request.body) > MAY_OUTGROW_BYTES:
        _check_element_sizes(result)
    return body, result


def _check_element_sizes(result: MappingResult) -> None:
    """Dates normalised or text escaped can make an element bigger than the body it came from;
    refuse what MoEngage would refuse (413) before anything is sent."""
    for index, element in enumerate(result.elements):
        size = len(encode_element(element))
        if size > MAX_ELEMENT_BYTES:
            raise BridgeError(
                413,
                "element_too_large",
                f"element {index} would be {size} bytes once converted for MoEngage; MoEngage "
                f"accepts at most {MAX_ELEMENT_BYTES}: send fewer or shorter values",
            )


def describe_plan(
    runtime: Runtime, result: MappingResult, *, raw: bool = False
) -> list[dict[str, object]]:
    """The exact requests MoEngage would receive (dry runs and previews share this). `raw`:
    each body as its bytes (`msgspec.Raw`), for an HTTP answer that embeds them as they are."""
    requests = plan_requests([result.elements])
    if len(requests) == 1:  # most webhooks (no list comprehension's call)
        request = requests[0]
        return [request.describe(runtime.target.path(request.kind), raw=raw)]
    return [request.describe(runtime.target.path(request.kind), raw=raw) for request in requests]


def dry_run_response(runtime: Runtime, result: MappingResult) -> WebhookResponse:
    body = {
        "status": "dry_run",
        "event": result.event,
        "rule": result.rule,
        "requests": describe_plan(runtime, result, raw=True),
        "warnings": result.warnings,
    }
    return WebhookResponse(200, body, {}, {}, result)  # by position: no keyword dict per call


def result_members(result: MappingResult) -> list[str]:
    """The members a mapped body is about, as a log line may name them (masked, sorted)."""
    elements = result.elements
    if len(elements) == 1 and elements[0].get("type") != "merge":  # one member, no set to sort
        return [mask_member_id(str(elements[0].get("customer_id")))]
    return sorted({mask_member_id(member) for e in elements for member in element_members(e)})


async def deliver_direct(runtime: Runtime, result: MappingResult) -> WebhookResponse:
    """Send to MoEngage within the direct-mode time budget and translate the outcome."""
    sender = runtime.sender(CLIENTS)
    fields: dict[str, object] = {}
    try:
        report = await sender.deliver(result.elements)
    except MoEngageRejected as error:
        runtime.health.saw_rejection(error)
        fields.update(outcome="rejected", moengage_status=error.status, detail=error.message)
        return WebhookResponse(
            502,
            {
                "error": {
                    "code": "moengage_rejected",
                    "message": error.message,
                    "moengage_status": error.status,
                    "delivered_elements": error.delivered,
                }
            },
            log_fields=fields,
            mapped=result,
        )
    except MoEngageUnavailable as error:
        retry_after = max(1, math.ceil(error.retry_after or DEFAULT_RETRY_AFTER))
        fields.update(outcome="unavailable", detail=error.reason, attempts=sender.http_requests)
        body = {
            "error": {
                "code": "moengage_unavailable",
                "message": f"{error.message}; retry after {retry_after} s",
                "delivered_elements": error.delivered,
            }
        }
        return WebhookResponse(503, body, {"Retry-After": str(retry_after)}, fields, result)
    fields.update(
        outcome="delivered",
        attempts=report.http_requests,
        moengage_request_ids=report.request_ids,
        elements=report.delivered,
    )
    body = {
        "status": "delivered",
        "event": result.event,
        "elements": report.delivered,
        "moengage_requests": report.http_requests,
        "moengage_request_ids": report.request_ids,
        "warnings": result.warnings,
    }
    return WebhookResponse(200, body, log_fields=fields, mapped=result)


async def enqueue(
    runtime: Runtime,
    request: WebhookRequest,
    result: MappingResult,
    correlation_id: str,
) -> WebhookResponse:
    """Queue mode: answer 202 only once Service Bus has the raw body. A send that failed or
    timed out may still have arrived, so it is repeated with the same MessageId (duplicate
    detection drops a second copy) rather than delivered directly, which could deliver the
    event twice; 503 only when every attempt failed."""
    # queue mode only: the message format is not compiled at start-up in direct mode
    from bridge.durable.messages import first_message, message_id_for

    event = None if result.rule == PASSTHROUGH else result.rule
    message_id = message_id_for(result.rule, result.idempotency_key, runtime.name)
    message = first_message(
        request.body, message_id, event, correlation_id, datetime.now(UTC), runtime.name
    )
    failures: list[str] = []
    for _ in range(ENQUEUE_ATTEMPTS):
        try:
            async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
                await runtime.gateway.send([message])
            break
        except Exception as error:  # any Service Bus failure: send the same message again
            failures.append(type(error).__name__)
            log.warning("Service Bus enqueue failed (%s) for event %s", failures[-1], result.event)
    else:
        fields = {"outcome": "queue_unavailable", "detail": failures}
        recognised = result.idempotency_key is not None
        error = {
            "code": "queue_unavailable",
            "message": _unconfirmed_text(result.rule, recognised),
            "repeat_recognised": recognised,
        }
        return WebhookResponse(
            503, {"error": error}, {"Retry-After": str(DEFAULT_RETRY_AFTER)}, fields, result
        )
    fields: dict[str, object] = {"outcome": "queued", "message_id": message_id}
    if failures:
        fields["enqueue_retries"] = failures
    body = {"status": "queued", "id": message_id, "event": result.event}
    answer = {**body, "warnings": result.warnings}
    return WebhookResponse(202, answer, log_fields=fields, mapped=result)


def _unconfirmed_text(rule: str, recognised: bool) -> str:
    """What a 503 `queue_unavailable` may promise: the queue may still hold the event (a send
    that timed out can have arrived), so a repeat is safe only when the rule declares the
    event's identity (same MessageId: Service Bus drops the second copy)."""
    if recognised:
        return (
            "the queue did not confirm the event and nothing was delivered yet; send it again "
            f"(safe: a repeat is recognised); retry after {DEFAULT_RETRY_AFTER} s"
        )
    return (
        "the queue did not confirm the event, which may still have been queued; sending it "
        f'again may deliver it twice: the rule "{rule}" declares no event identity ("id" in '
        f"the mapping rule), so a repeat cannot be recognised; retry after "
        f"{DEFAULT_RETRY_AFTER} s"
    )


async def handle_webhook(
    request: WebhookRequest, runtime_source: Callable[[str], Runtime] = current_workspace
) -> WebhookResponse:
    """Answer one Kognitiv delivery for `request.workspace`. Never raises."""
    started = time.perf_counter()
    correlation_id = new_correlation_id()
    try:
        response = await _handle(request, runtime_source, correlation_id)
    except Exception:  # a bug: answer JSON, keep the traceback for the logs
        log.exception("internal error answering webhook %s", correlation_id)
        message = f"unexpected error (correlation id {correlation_id}); nothing was delivered"
        response = _error(BridgeError(500, "internal_error", message))
    response.headers.setdefault("X-Correlation-Id", correlation_id)
    level = logging.WARNING if response.status >= 400 else logging.INFO
    if log.isEnabledFor(level):  # the bridge's logger: that of `telemetry`
        _log_line(request, response, correlation_id, started, level)
    return response


def _log_line(
    request: WebhookRequest,
    response: WebhookResponse,
    correlation_id: str,
    started: float,
    level: int,
) -> None:
    """The webhook's structured line: what happened, never the body's contact data. Its dict
    is built here, in the line's order and without None values (`telemetry.write_fields`)."""
    # milliseconds to a tenth: `round(seconds * 1000, 1)`'s value, without its decimal rounding
    latency_ms = round((time.perf_counter() - started) * 10_000) / 10
    body = response.body
    logged = response.log_fields
    data: dict[str, object] = {
        "kind": "webhook",
        "status_code": response.status,
        "workspace": _WORKSPACE_LABELS.get(request.workspace)
        or _workspace_label(request.workspace),
        "correlation_id": correlation_id,
        "latency_ms": latency_ms,
        "outcome": logged.get("outcome") or body.get("status") or _failure_outcome(response.status),
    }
    error = body.get("error")
    if isinstance(error, dict) and error.get("code") is not None:
        data["error_code"] = error["code"]
    mapped = response.mapped
    if mapped is None:  # a refused body still names its event
        event = _route_event(request.route_event)
        if event is not None:
            data["event"] = event
    else:
        if mapped.event is not None:
            data["event"] = mapped.event
        data["rule"] = mapped.rule
        data["members"] = result_members(mapped)
    plain = True  # every value above is text, a number or a list of text
    for key, value in logged.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
            plain = plain and telemetry.plain_value(value)
    if data.get("outcome") == "delivered":
        data["lag_ms"] = latency_ms  # direct mode: arrival to MoEngage's answer
    telemetry.write_fields(level, data, plain)


# Correlation ids only have to be unique, not secret: drawn from a generator seeded by the OS
# (again in a forked child) instead of a system call per webhook.
_IDS = random.Random()
if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_IDS.seed)
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)  # version and variant bits
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_correlation_id() -> str:
    """A random (version 4) UUID as 32 hex digits: what `uuid.uuid4().hex` gives, without
    building a UUID object for every webhook."""
    # its 16 bytes in hex: `f"{n:032x}"` of a 128-bit number costs ten times as much
    return (_IDS.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET).to_bytes(16, "big").hex()


_WORKSPACE_LABELS: dict[str, str] = {}  # workspace in the URL -> what the log line says


def _workspace_label(workspace: str) -> str:
    """The workspace named in the URL, or "(invalid)" when it is not a workspace name (it is
    caller input). Remembered for the first 64 names: real deployments have a handful."""
    label = _WORKSPACE_LABELS.get(workspace)
    if label is None:
        label = workspace if NAME.fullmatch(workspace) else "(invalid)"
        if len(_WORKSPACE_LABELS) < 64:
            _WORKSPACE_LABELS[workspace] = label
    return label


_EVENT_LABELS: dict[str | None, str | None] = {}  # event in the URL -> what the log line says


def _route_event(event: str | None) -> str | None:
    """The event named in the URL, when it looks like an event name (it is caller input).
    Remembered for the first 64 names, as workspaces are."""
    try:
        return _EVENT_LABELS[event]
    except KeyError:
        name = (event or "").strip().lower()
        label = name if EVENT_NAME.fullmatch(name) else None
        if len(_EVENT_LABELS) < 64:
            _EVENT_LABELS[event] = label
        return label


def _failure_outcome(status: int) -> str:
    """A 4xx refused the delivery (nothing was sent); anything else is the bridge's error."""
    return "refused" if 400 <= status < 500 else "error"


async def _handle(
    request: WebhookRequest, runtime_source: Callable[[str], Runtime], correlation_id: str
) -> WebhookResponse:
    try:
        runtime = runtime_source(request.workspace)
    except ConfigurationError as error:
        message = "the function app is misconfigured: " + "; ".join(error.problems)
        return _error(BridgeError(503, "configuration_error", message))
    except UnknownWorkspace as error:
        return _error(BridgeError(404, "unknown_workspace", str(error)))
    if not runtime.auth.allows(request.headers):
        return _unauthorized(runtime)
    try:
        _, result = map_request(runtime, request, identify=runtime.settings.queue_mode)
    except BridgeError as error:
        return _error(error)
    for warning in result.warnings:
        log.warning("event %s: %s", result.event, warning)
    if str(request.params.get("dry_run", "")).strip().lower() in TRUE_WORDS:
        return dry_run_response(runtime, result)
    if runtime.settings.queue_mode:
        return await enqueue(runtime, request, result, correlation_id)
    return await deliver_direct(runtime, result)
