"""Azure Functions entry point: triggers and bindings only; the work happens in `bridge`."""

from __future__ import annotations

import json

import azure.functions as func

from bridge.webhook import WebhookRequest, WebhookResponse, handle_webhook

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def _to_http_response(response: WebhookResponse) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(response.body),
        status_code=response.status,
        headers=response.headers,
        mimetype="application/json",
        charset="utf-8",
    )


@app.route(route="kognitiv/{event?}", methods=["POST", "PUT"])
async def kognitiv_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """The Kognitiv webhook URL: POST /api/kognitiv/{event?}."""
    request = WebhookRequest(
        body=req.get_body() or b"",
        headers=req.headers,
        params=req.params,
        route_event=req.route_params.get("event"),
    )
    return _to_http_response(await handle_webhook(request))
