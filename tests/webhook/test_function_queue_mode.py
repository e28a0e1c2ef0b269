"""The HTTP trigger in queue mode: validate and map first, enqueue the raw body, answer 202; send
the same message again when Service Bus did not confirm it, 503 when it never does."""

from __future__ import annotations

import json

import pytest

from bridge.deployment.runtime import current_runtime
from bridge.durable.messages import message_id_for
from tests.conftest import call_webhook, fixture_body, http_request
from tests.fakes import FakeGateway


@pytest.fixture
def gateway(settings_env) -> FakeGateway:
    settings_env.setenv(
        "KOGNITIV_SERVICE_BUS",
        "Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=x",
    )
    settings_env.setenv("KOGNITIV_SERVICE_BUS_QUEUE", "kognitiv-webhooks")
    fake = FakeGateway()
    current_runtime().gateway = fake
    return fake


async def test_webhook_is_enqueued_raw_and_answered_202(gateway, moengage):
    raw = json.dumps(fixture_body("rewards_issued"), indent=2).encode()

    status, body, _ = await call_webhook(http_request(raw, "rewards_issued"))

    assert status == 202
    assert body["status"] == "queued"
    [queued] = gateway.queue
    assert body["id"] == queued.message_id
    assert queued.body == raw
    assert queued.properties["event"] == "rewards_issued"
    assert queued.properties["attempt"] == 0
    assert queued.properties["received_utc"].endswith("Z")
    assert moengage.requests == []


async def test_message_id_is_stable_for_a_repeated_delivery(gateway):
    body = fixture_body("rewards_issued")
    compact = json.dumps(body).encode()
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=4).encode()
    changed = json.dumps({**body, "memberId": "999"}).encode()

    ids = []
    for raw in (compact, compact, reordered, changed):
        _, answer, _ = await call_webhook(http_request(raw, "rewards_issued"))
        ids.append(answer["id"])

    assert ids[0] == ids[1] == ids[2]
    assert ids[3] != ids[0]
    assert ids[0].startswith("rewards_issued:")


async def test_message_id_uses_the_id_field_the_mapping_names(settings_env, gateway):
    rule = {
        "rewards_issued": {
            "id": "{{rewardId}}",
            "elements": [
                {
                    "type": "event",
                    "customer_id": "{{memberId | required}}",
                    "actions": [{"action": "rewards_issued"}],
                }
            ],
        }
    }
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(rule))
    current_runtime().gateway = gateway

    _, answer, _ = await call_webhook(
        http_request({"memberId": "1001", "rewardId": "R-77"}, "rewards_issued")
    )

    assert answer["id"] == message_id_for("rewards_issued", "R-77")


@pytest.mark.parametrize(
    ("raw", "event", "status"),
    [(b"nope", "rewards_issued", 400), (b'{"memberId": "1"}', "unknown_event", 404),
     (b'{"rewardType": "Choice"}', "rewards_issued", 422)],
)  # fmt: skip
async def test_bad_input_is_refused_at_once_and_never_enqueued(gateway, raw, event, status):
    answer_status, _, _ = await call_webhook(http_request(raw, event))

    assert answer_status == status
    assert gateway.queue == []
    assert gateway.dead == []


async def test_a_failed_enqueue_is_sent_again_never_delivered_directly(gateway, moengage):
    gateway.send_failures = 1

    status, body, _ = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 202
    assert body["status"] == "queued"
    assert [m.message_id for m in gateway.queue] == [body["id"]]
    assert moengage.requests == []


async def test_503_when_the_queue_refuses_every_attempt(gateway, moengage):
    gateway.send_failures = 2

    status, body, response = await call_webhook(
        http_request(fixture_body("rewards_issued"), "rewards_issued")
    )

    assert status == 503
    assert body["error"]["code"] == "queue_unavailable"
    assert response.headers["Retry-After"] == "30"
    assert moengage.requests == []
    assert gateway.queue == []


async def test_passthrough_body_is_queued_without_an_event_property(gateway):
    status, _, _ = await call_webhook(http_request(fixture_body("guide-rendered")))

    assert status == 202
    [queued] = gateway.queue
    assert "event" not in queued.properties
