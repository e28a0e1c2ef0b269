"""The User-Agent MoEngage sees names the app and its version; `delivery/` gets it handed in and
imports nothing from the app (`bridge/`), so the sending layer stays reusable and testable alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge.common.version import USER_AGENT, VERSION
from delivery.http import ClientProvider, new_client
from tests.conftest import call_webhook, fixture_body, http_request

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.mark.usefixtures("settings_env")
async def test_the_webhook_path_announces_the_app_and_its_version(moengage):
    status, _, _ = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )
    assert status == 200
    [sent] = moengage.requests
    assert sent.headers["user-agent"] == f"kognitiv-moengage-bridge/{VERSION}" == USER_AGENT


async def test_the_client_sends_the_agent_it_is_given():
    async with new_client("probe/1") as client:
        assert client.headers["user-agent"] == "probe/1"
    provider = ClientProvider("probe/2")
    assert provider.get().headers["user-agent"] == "probe/2"
    await provider.aclose()


def test_delivery_imports_nothing_from_the_app():
    imports = []
    for path in sorted((ROOT / "delivery").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imports.append((path.name, node.module))
            elif isinstance(node, ast.Import):
                imports += [(path.name, alias.name) for alias in node.names]
    assert [(name, module) for name, module in imports if module.split(".")[0] == "bridge"] == []
    assert ("http.py", "httpx") in imports  # the check reads the modules' imports at all
