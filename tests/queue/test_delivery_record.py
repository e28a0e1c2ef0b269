"""The durable record of delivered keys, on Azurite (the Azure Storage emulator from npm, set
up in .tools/ by scripts/test): a batch redelivered after a restart, or on another instance, is
not sent to MoEngage again; a record that cannot be written loses nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import function_app
from bridge.deployment import runtime
from bridge.deployment.runtime import current_runtime
from bridge.durable.delivery_record import TableDeliveryRecord
from bridge.durable.messages import EVENT
from bridge.durable.tables import StorageConfig
from bridge.queue import settlement
from delivery import RateLimitGate
from tests.conftest import QUEUE, fixture_body
from tests.fakes import VirtualClock
from tests.servicebus_model import FunctionHost, ServiceBusModel

AZURITE = Path(__file__).parent.parent.parent / ".tools" / "node_modules" / ".bin" / "azurite-table"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def storage_connection(port: int) -> str:
    return (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )


@pytest.fixture(scope="module")
def azurite(tmp_path_factory) -> Iterator[str]:
    """An Azurite table service on a free loopback port; yields its connection string."""
    if not AZURITE.exists():
        reason = f"Azurite is not installed at {AZURITE}: run ./scripts/test (npm install)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    port = _free_port()
    workspace = tmp_path_factory.mktemp("azurite")
    process = subprocess.Popen(
        [str(AZURITE), "--tableHost", "127.0.0.1", "--tablePort", str(port), "--location",
         str(workspace), "--silent", "--skipApiVersionCheck", "--disableTelemetry"],
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        started = time.monotonic()
        while True:  # wait for the listener (start-up only; no test measures time)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() - started > 60:
                    error = process.stderr.read().decode() if process.stderr else ""
                    pytest.fail(f"Azurite did not start: {error[-500:]}")
                time.sleep(0.1)
        yield storage_connection(port)
    finally:
        process.terminate()
        process.wait(timeout=10)


def restart(clock: VirtualClock, monkeypatch) -> None:
    """A new worker process: settings, caches and the in-memory delivered keys rebuilt."""
    monkeypatch.setattr(runtime, "_cache", None)
    current_runtime().gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)


def publish(
    bus: ServiceBusModel, member: str, message_id: str, event: str = "rewards_issued"
) -> None:
    body = {**fixture_body("rewards_issued"), "memberId": member}
    bus.queue(QUEUE).accept(message_id, json.dumps(body).encode(), {EVENT: event})


def delivered(moengage) -> list[str]:
    return sorted(element["customer_id"] for element in moengage.accepted)


async def test_recorded_keys_are_found_and_unknown_ones_are_not(azurite):
    record = TableDeliveryRecord(StorageConfig(connection_string=azurite), table="roundtrip")
    keys = [f"rewards_issued:{index}" for index in range(150)] + ["x" * 2000, "a/b#c?d\\e"]

    await record.add(keys)

    assert await record.find([*keys, "never-delivered"]) == set(keys)


async def test_a_redelivered_batch_is_not_sent_again_after_a_restart(
    azurite, bus, clock, moengage, monkeypatch, settings_env
):
    settings_env.setenv("AzureWebJobsStorage", azurite)
    restart(clock, monkeypatch)
    host = FunctionHost(bus, QUEUE, function_app.kognitiv_service_bus.build().get_user_function())
    publish(bus, "8101", "m8101")
    publish(bus, "8102", "m8102")
    publish(bus, "8103", "m8103", event="no_such_event")  # its dead letter cannot be written
    bus.faults.refuse_sends = settlement.SETTLE_ATTEMPTS

    await host.run_once()
    restart(clock, monkeypatch)
    await host.drain()

    assert [type(error).__name__ for error in host.errors] == ["SettlementError"]
    assert [e.delivery_counts for e in host.executions] == [[1, 1, 1], [2, 2, 2]]
    assert delivered(moengage) == ["8101", "8102"]
    assert [s.message_id for s in bus.queue(f"{QUEUE}-deadletter").all()] == ["m8103"]


async def test_an_unwritable_record_loses_nothing(bus, clock, moengage, monkeypatch, settings_env):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings_env.setenv("AzureWebJobsStorage", storage_connection(port))
    restart(clock, monkeypatch)
    host = FunctionHost(bus, QUEUE, function_app.kognitiv_service_bus.build().get_user_function())
    publish(bus, "8201", "m8201")

    await host.drain()

    assert host.errors == []
    assert delivered(moengage) == ["8201"]
    assert bus.queue(QUEUE).all() == []
