"""Two MoEngage workspaces on two emulators standing for two data centers (EU on 02, US on 01),
configured through MOENGAGE_WORKSPACES next to the default workspace of `settings_env` (the
fixtures `eu`, `us` and `workspaces_env` are in conftest.py)."""

from __future__ import annotations

import base64
import json

import azure.functions as func

from moengage_emulator import Emulator

EU_APP, EU_KEY = "eu-app", "eu-key-5f1b2c3d4e"
US_APP, US_KEY = "us-app", "us-key-9a8b7c6d5e"


def table(eu: Emulator, us: Emulator, /, **extra: dict) -> dict[str, dict]:
    """The workspace table: EU on data center 02, US on 01, each key in its own setting; each
    accepts the default program's Kognitiv credentials ("inherit": true) unless `extra` gives
    it its own."""
    workspaces = {
        "eu": {
            "app_id": EU_APP,
            "data_center": "02",
            "api_key_setting": "EU_MOENGAGE_KEY",
            "api_base_url": eu.base_url,
            "inherit": True,
        },
        "us": {
            "app_id": US_APP,
            "data_center": "01",
            "api_key_setting": "US_MOENGAGE_KEY",
            "api_base_url": us.base_url,
            "inherit": True,
        },
    }
    for name, changes in extra.items():
        entry = {**workspaces.get(name, {}), **changes}
        if "inherit" not in changes and any(key.startswith("auth_") for key in entry):
            entry.pop("inherit", None)
        workspaces[name] = entry
    return workspaces


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def workspace_request(
    workspace: str,
    event: str,
    body: dict | bytes,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    """A request to POST /api/kognitiv/{workspace}/{event}, as the host builds it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return func.HttpRequest(
        "POST",
        f"http://localhost:7071/api/kognitiv/{workspace}/{event}",
        headers=headers or {},
        params=params or {},
        route_params={"workspace": workspace, "event": event},
        body=raw,
    )


async def call_workspace_webhook(request: func.HttpRequest) -> tuple[int, dict]:
    """Call `kognitiv_workspace_webhook` exactly as the host does."""
    import function_app

    handler = function_app.kognitiv_workspace_webhook.build().get_user_function()
    response = await handler(request)
    return response.status_code, json.loads(response.get_body())


def members(emulator: Emulator) -> list[str]:
    return sorted(element["customer_id"] for element in emulator.accepted)
