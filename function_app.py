"""Azure Functions entry point: triggers and bindings only; the work happens in `bridge`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, List  # noqa: UP035 - the worker refuses PEP 585 generics

import azure.functions as func
import msgspec

from bridge.config.workspaces import DEFAULT_WORKSPACE
from bridge.deployment.runtime import warm_up
from bridge.webhook.handler import WebhookRequest, WebhookResponse, handle_webhook

if TYPE_CHECKING:  # the queue trigger's and the health report's modules load on first use
    from bridge.durable.messages import IncomingMessage

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
warm_up()


_ENCODE = msgspec.json.Encoder().encode


def _json(body: dict[str, object]) -> bytes:
    """The answer as compact UTF-8 JSON (msgspec; the standard library for what it refuses).
    A dry run's request bodies are `msgspec.Raw`: embedded as the bytes MoEngage would get."""
    try:
        return _ENCODE(body)
    except (TypeError, ValueError, OverflowError):
        return json.dumps(body, default=_raw_value).encode()


def _raw_value(value: object) -> object:
    if isinstance(value, msgspec.Raw):
        return json.loads(bytes(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_HEADERS = type(func.HttpResponse().headers)  # the library's own headers type (werkzeug's)


class JsonResponse(func.HttpResponse):
    """A `func.HttpResponse` carrying UTF-8 JSON: what `func.HttpResponse(body, status_code=...,
    headers=..., mimetype="application/json", charset="utf-8")` gives, at less than half its
    cost (that constructor was a tenth of a dry-run webhook, its `Headers([])` alone 4 %). Every
    public member of `func.HttpResponse` is defined here (a test holds it so), so nothing reads
    the parent's private state, which this constructor does not set."""

    def __init__(self, body: bytes, status_code: int, headers: Mapping[str, str]) -> None:
        self._body = body
        self._status_code = status_code
        self._headers = _HEADERS()
        for name, value in headers.items():
            self._headers.add(name, value)

    @property
    def status_code(self) -> int:
        return self._status_code

    @property
    def mimetype(self) -> str:
        return "application/json"

    @property
    def charset(self) -> str:
        return "utf-8"

    @property
    def headers(self) -> Any:  # the library's werkzeug headers
        return self._headers

    def get_body(self) -> bytes:
        return self._body


def _to_http_response(response: WebhookResponse) -> func.HttpResponse:
    return JsonResponse(_json(response.body), response.status, response.headers)


def _to_incoming(messages: list[func.ServiceBusMessage]) -> list[IncomingMessage]:
    from bridge.durable.messages import IncomingMessage  # loaded by queue mode only

    # By position (body, message_id, properties, delivery_count, enqueued_time,
    # sequence_number): keyword arguments to a class cost a dict per message on Python 3.11.
    return [
        IncomingMessage(
            message.get_body() or b"",
            message.message_id or "",
            dict(message.application_properties or message.user_properties or {}),
            message.delivery_count or 1,
            message.enqueued_time_utc,
            message.sequence_number,
        )
        for message in messages
    ]


def _to_webhook_request(
    req: func.HttpRequest, workspace: str = DEFAULT_WORKSPACE
) -> WebhookRequest:
    # In field order, without keywords: a class called with keywords builds a dict each time.
    return WebhookRequest(
        req.get_body() or b"",  # body
        req.headers,  # headers
        req.params,  # params
        req.route_params.get("event"),  # route_event
        workspace,
    )


@app.route(route="kognitiv/{event?}", methods=["POST", "PUT"])
async def kognitiv_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """The Kognitiv webhook URL of the workspace `default`: POST /api/kognitiv/{event?}."""
    return _to_http_response(await handle_webhook(_to_webhook_request(req)))


@app.route(route="kognitiv/{workspace}/{event}", methods=["POST", "PUT"])
async def kognitiv_workspace_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """One workspace's Kognitiv webhook URL: POST /api/kognitiv/{workspace}/{event}."""
    workspace = req.route_params.get("workspace") or ""
    return _to_http_response(await handle_webhook(_to_webhook_request(req, workspace)))


@app.route(route="live", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def live(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/live: for keyless probes (availability tests). Anonymous, so it says nothing
    but "alive"."""
    return _to_http_response(WebhookResponse(200, {"status": "alive"}))


@app.route(route="health", methods=["GET"])
def health(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/health: settings validity, mode, data center, rules, last MoEngage problem."""
    from bridge.webhook.health import health_report  # loaded by the first health check

    status, body = health_report()
    return _to_http_response(WebhookResponse(status, body))


@app.service_bus_queue_trigger(
    arg_name="messages",
    queue_name="%KOGNITIV_SERVICE_BUS_QUEUE%",
    connection="KOGNITIV_SERVICE_BUS",
    cardinality=func.Cardinality.MANY,
)
async def kognitiv_service_bus(messages: List[func.ServiceBusMessage]) -> None:  # noqa: UP006
    """The durable path: Kognitiv bodies from the queue, delivered in bulk."""
    from bridge.queue.trigger import process_queue_batch  # loaded by queue mode only

    await process_queue_batch(_to_incoming(messages))
