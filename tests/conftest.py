"""Shared fixtures: a MoEngage emulator on loopback and the function app wired to it."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import azure.functions as func
import pytest

from bridge.common.observations import DEAD_LETTERS
from bridge.durable.gateway import GATEWAYS
from bridge.queue import trigger as queue_trigger
from bridge.queue.trigger import TriggerClock
from moengage_emulator import Emulator
from tests.fakes import FakeGateway, VirtualClock
from tests.servicebus_model import ServiceBusModel
from tests.workspaces import EU_APP, EU_KEY, US_APP, US_KEY, table

APP_ID = "test-app"
API_KEY = "test-key-0123456789"
FIXTURES = Path(__file__).parent / "fixtures" / "kognitiv"
SETTING_PREFIXES = ("MOENGAGE_", "KOGNITIV_", "AzureWebJobsStorage")
QUEUE = "kognitiv"
DEAD = "kognitiv-deadletter"
CONNECTION = "Endpoint=sb://model.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"


def fixture_body(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture
def moengage() -> Iterator[Emulator]:
    """A fresh emulator per test, answering instantly unless a test injects faults."""
    with Emulator(app_id=APP_ID, api_key=API_KEY) as emulator:
        yield emulator


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, moengage: Emulator) -> pytest.MonkeyPatch:
    """App settings pointing at the emulator; every other bridge setting cleared."""
    import os

    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MOENGAGE_APP_ID", APP_ID)
    monkeypatch.setenv("MOENGAGE_API_KEY", API_KEY)
    monkeypatch.setenv("MOENGAGE_DATA_CENTER", "01")
    monkeypatch.setenv("MOENGAGE_API_BASE_URL", moengage.base_url)
    monkeypatch.setenv("MOENGAGE_DIRECT_TIME_BUDGET_SECONDS", "3")
    return monkeypatch


@pytest.fixture
def eu() -> Iterator[Emulator]:
    """The MoEngage workspace `eu` (data center 02)."""
    with Emulator(app_id=EU_APP, api_key=EU_KEY) as emulator:
        yield emulator


@pytest.fixture
def us() -> Iterator[Emulator]:
    """The MoEngage workspace `us` (data center 01)."""
    with Emulator(app_id=US_APP, api_key=US_KEY) as emulator:
        yield emulator


@pytest.fixture
def workspaces_env(
    settings_env: pytest.MonkeyPatch, eu: Emulator, us: Emulator
) -> pytest.MonkeyPatch:
    """The default workspace (on `moengage`) plus `eu` and `us` in MOENGAGE_WORKSPACES, each
    key in its own app setting."""
    settings_env.setenv("EU_MOENGAGE_KEY", EU_KEY)
    settings_env.setenv("US_MOENGAGE_KEY", US_KEY)
    settings_env.setenv("MOENGAGE_WORKSPACES", json.dumps(table(eu, us)))
    return settings_env


def http_request(
    body: bytes | str | dict,
    event: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> func.HttpRequest:
    """A real azure.functions request, as the host would build it."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    route = {"event": event} if event else {}
    url = "http://localhost:7071/api/kognitiv" + (f"/{event}" if event else "")
    return func.HttpRequest(
        "POST", url, headers=headers or {}, params=params or {}, route_params=route, body=body
    )


async def call_webhook(request: func.HttpRequest) -> tuple[int, dict, func.HttpResponse]:
    """Call the decorated function exactly as the host does; return status, JSON, response."""
    import function_app

    handler = function_app.kognitiv_webhook.build().get_user_function()
    response = await handler(request)
    return response.status_code, json.loads(response.get_body()), response


@pytest.fixture
def clock() -> VirtualClock:
    """Virtual time: waits and schedules advance it, nothing sleeps."""
    return VirtualClock()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def bus(settings_env, clock, monkeypatch):
    """Queue mode on a Service Bus model (queue `kognitiv`, dead letters in
    `kognitiv-deadletter`); the queue trigger's clock is the virtual one."""
    settings_env.setenv("KOGNITIV_SERVICE_BUS", CONNECTION)
    settings_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", QUEUE)
    model = ServiceBusModel(clock)
    GATEWAYS.install(model.gateway(QUEUE, DEAD))
    monkeypatch.setattr(queue_trigger, "CLOCK", TriggerClock(clock.wall, clock.sleep))
    DEAD_LETTERS.clear()
    yield model
    GATEWAYS.install(None)
    DEAD_LETTERS.clear()


@contextlib.contextmanager
def bridge_log(handler: logging.Handler, level: int = logging.DEBUG) -> Iterator[logging.Handler]:
    """`handler` on the bridge's logger, and the logger at `level`, while the block runs."""
    logger = logging.getLogger("kognitiv_bridge")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


class KeptRecords(logging.Handler):
    """Every record handed to it, in order."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def lines() -> Iterator[list[logging.LogRecord]]:
    """Every record the bridge's logger hands to its handlers (the logger at DEBUG)."""
    with bridge_log(KeptRecords()) as kept:
        yield kept.records
