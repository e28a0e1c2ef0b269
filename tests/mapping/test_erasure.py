"""Member erasure and merges from mapping rules: Delete User and Merge User calls sent in the
order Kognitiv's deliveries imply, checked against the emulator's end state (its profiles), over
real sockets."""

from __future__ import annotations

import json
import logging
from zoneinfo import ZoneInfo

import pytest

from bridge.deployment.runtime import CLIENTS, current_runtime
from bridge.durable.messages import EVENT, IncomingMessage
from bridge.queue import processor as queue_processor
from bridge.queue.outcomes import Outcome
from bridge.webhook.handler import WebhookRequest, describe_plan, map_request
from delivery import MoEngageSender, RateLimitGate, RetryPolicy, plan_requests
from mapping import RuleError, compile_rules
from mapping.converters import ConversionContext
from moengage_emulator.server import DELETE_BUFFER
from tests.conftest import APP_ID, call_webhook, fixture_body, http_request

pytestmark = pytest.mark.usefixtures("settings_env")
UTC_MDY = ConversionContext(ZoneInfo("UTC"), "MDY")

RULES = {
    "member_deleted": {
        "description": "A member was deleted or anonymised in Kognitiv.",
        "elements": [{"type": "delete", "customer_id": "{{memberId | required}}"}],
    },
    "member_merged": {
        "description": "Kognitiv merged two member records; memberId survives.",
        "elements": [
            {
                "type": "merge",
                "merged_customer_id": "{{oldMemberId | required}}",
                "retained_customer_id": "{{memberId | required}}",
            }
        ],
    },
    "member_closed": {
        "description": "A last profile update, then the erasure.",
        "elements": [
            {"type": "customer", "customer_id": "{{memberId | required}}",
             "attributes": {"member_status": "closed"}},
            {"type": "delete", "customer_id": "{{memberId | required}}"},
        ],
    },
    "member_recreated": {
        "description": "The erasure, then a new profile under the same id.",
        "elements": [
            {"type": "delete", "customer_id": "{{memberId | required}}"},
            {"type": "customer", "customer_id": "{{memberId | required}}",
             "attributes": {"first_name": "{{memberFirstName}}"}},
        ],
    },
}  # fmt: skip


@pytest.fixture(autouse=True)
def erasure_rules(settings_env):
    settings_env.setenv("KOGNITIV_MAPPINGS", json.dumps(RULES))


def enrolled(member: str, first_name: str = "Ana") -> dict:
    return {**fixture_body("member_enrolled"), "memberId": member, "memberFirstName": first_name}


async def send(event: str, body: dict) -> tuple[int, dict]:
    status, answer, _ = await call_webhook(http_request(body, event))
    return status, answer


# --- rules ------------------------------------------------------------------------------------


def test_delete_and_merge_rules_produce_moengage_s_documented_requests():
    runtime = current_runtime()
    _, deleted = map_request(
        runtime, WebhookRequest(b'{"memberId": " M-1 "}', {}, {}, "member_deleted")
    )
    body = b'{"memberId": "M-2", "oldMemberId": "M-1"}'
    _, merged = map_request(runtime, WebhookRequest(body, route_event="member_merged"))

    assert describe_plan(runtime, deleted) == [
        {
            "method": "POST",
            "path": f"/v1/customer/delete?app_id={APP_ID}",
            "body": {"identity_type": "customer_id", "identity_value": "M-1"},
        }
    ]
    assert describe_plan(runtime, merged) == [
        {
            "method": "POST",
            "path": f"/v1/customer/merge?app_id={APP_ID}",
            "body": {"merge_data": [{"merged_user": "M-1", "retained_user": "M-2"}]},
        }
    ]


def test_a_delete_or_a_merge_splits_a_delivery_into_phases_in_order():
    def customer(member: str) -> dict:
        return {"type": "customer", "customer_id": member, "attributes": {"a": 1}}

    def merge(merged: str, retained: str) -> dict:
        return {"type": "merge", "merged_customer_id": merged, "retained_customer_id": retained}

    event = {"type": "event", "customer_id": "B", "actions": [{"action": "x"}]}
    units = [
        [customer("A")],
        [{"type": "delete", "customer_id": "A"}, {"type": "delete", "customer_id": "C"}],
        [event, customer("B")],
        [merge("X", "Y")],
        [merge("Z", "W")],
    ]

    requests = plan_requests(units)

    assert [(r.kind, r.slots) for r in requests] == [
        ("customer", ((0, 0),)),
        ("delete", ((1, 0),)),
        ("delete", ((1, 1),)),
        ("transition", ((2, 0), (2, 1))),
        ("merge", ((3, 0), (4, 0))),
    ]
    assert json.loads(requests[-1].body) == {
        "merge_data": [
            {"merged_user": "X", "retained_user": "Y"},
            {"merged_user": "Z", "retained_user": "W"},
        ]
    }


@pytest.mark.parametrize(
    ("element", "fragment"),
    [
        ({"type": "delete"}, '"customer_id" is required'),
        ({"type": "delete", "customer_id": "{{a}}", "attributes": {}}, "key(s) ['attributes']"),
        ({"type": "merge", "merged_customer_id": "{{a}}"}, '"retained_customer_id" is required'),
        ({"type": "merge", "customer_id": "{{a}}", "merged_customer_id": "{{a}}",
          "retained_customer_id": "{{b}}"}, "unknown key(s) ['customer_id'] for a merge element"),
        ({"type": "Delete", "customer_id": "{{a}}"}, '"type" must be one of'),
    ],
)  # fmt: skip
def test_bad_erasure_rules_are_configuration_errors_naming_the_rule(element, fragment):
    with pytest.raises(RuleError) as caught:
        compile_rules(
            {"member_gone": {"elements": [element]}}, ConversionContext(ZoneInfo("UTC"), "MDY")
        )
    assert str(caught.value).startswith('rule "member_gone" element 0: ')
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("event", "body", "code"),
    [
        ("member_deleted", {"memberId": "null"}, "invalid_customer_id"),
        ("member_deleted", {"memberId": "{{memberId}}"}, "missing_field"),
        ("member_merged", {"memberId": "M-1", "oldMemberId": "M-1"}, "invalid_merge"),
        ("member_merged", {"memberId": "M-1", "oldMemberId": "guest"}, "invalid_customer_id"),
    ],
)
async def test_erasures_of_ids_moengage_forbids_are_refused_before_sending(
    moengage, event, body, code
):
    status, answer = await send(event, body)

    assert (status, answer["error"]["code"]) == (422, code)
    assert moengage.requests == []


async def test_a_moengage_shaped_body_can_never_erase(moengage):
    body = {"type": "transition", "elements": [{"type": "delete", "customer_id": "M-1"}]}

    status, answer = await send("", body)

    assert (status, answer["error"]["code"]) == (422, "invalid_element")
    assert moengage.requests == []


# --- end state at MoEngage: the webhook ---------------------------------------------------------


async def test_a_delete_webhook_erases_the_member_s_profile(moengage):
    assert (await send("member_enrolled", enrolled("M-1")))[0] == 200
    assert "M-1" in moengage.profiles

    status, answer = await send("member_deleted", {"memberId": "M-1"})

    assert (status, answer["status"], answer["elements"]) == (200, "delivered", 1)
    assert answer["moengage_request_ids"] == [moengage.requests[-1].response["request_id"]]
    assert moengage.requests[-1].path == "/v1/customer/delete"
    assert moengage.requests[-1].query == f"app_id={APP_ID}"
    assert moengage.deletions == [("customer_id", "M-1")]
    assert "M-1" in moengage.profiles  # MoEngage keeps the user for its 24-hour buffer
    assert set(moengage.deleting) == {"M-1"}
    moengage.elapse(DELETE_BUFFER)
    assert "M-1" not in moengage.profiles


async def test_a_member_moengage_does_not_have_counts_as_erased(moengage):
    status, answer = await send("member_deleted", {"memberId": "M-404"})

    assert (status, answer["status"]) == (200, "delivered")
    assert moengage.requests[0].status == 400
    assert moengage.requests[0].response["error"]["type"] == "Not Found"
    assert moengage.deletions == []


async def test_an_update_before_the_delete_never_recreates_the_profile(moengage):
    await send("member_enrolled", enrolled("M-1"))

    status, _ = await send("member_closed", {"memberId": "M-1"})

    assert status == 200
    assert [r.path for r in moengage.requests[1:]] == [
        f"/v1/customer/{APP_ID}",
        "/v1/customer/delete",
    ]
    moengage.elapse(DELETE_BUFFER)
    assert "M-1" not in moengage.profiles


async def test_a_delete_is_not_sent_while_the_update_before_it_awaits_a_retry(moengage):
    await send("member_enrolled", enrolled("M-1"))
    moengage.inject(status=503, times=50, path_prefix=f"/v1/customer/{APP_ID}")

    status, answer = await send("member_closed", {"memberId": "M-1"})

    assert (status, answer["error"]["code"]) == (503, "moengage_unavailable")
    assert "/v1/customer/delete" not in [r.path for r in moengage.requests]
    assert "M-1" in moengage.profiles  # Kognitiv's retry sends the update, then the delete


async def test_an_update_in_the_buffer_applies_to_the_user_being_deleted_and_goes_with_it(
    moengage,
):
    await send("member_enrolled", enrolled("M-1", "Ana"))

    status, _ = await send("member_recreated", {"memberId": "M-1", "memberFirstName": "Bo"})

    assert status == 200
    assert moengage.deletions == [("customer_id", "M-1")]
    # "You can update users in the buffer period": the same profile, not a new one
    assert moengage.profiles["M-1"]["first_name"] == "Bo"
    assert moengage.profiles["M-1"]["city"] == enrolled("M-1")["memberAddressCity"]
    moengage.elapse(DELETE_BUFFER)
    assert "M-1" not in moengage.profiles

    status, _ = await send("member_updated", {"memberId": "M-1", "memberFirstName": "Cy"})

    assert status == 200  # after the buffer: a new profile, with only what came after
    assert moengage.profiles["M-1"] == {"first_name": "Cy"}


async def test_delete_user_s_own_error_shape_is_retried_like_any_5xx(moengage):
    await send("member_enrolled", enrolled("M-1"))
    shape = {"status": "fail", "title": "Internal Error", "description": "Please contact us."}
    moengage.inject(status=500, body=shape, path_prefix="/v1/customer/delete")

    status, _ = await send("member_deleted", {"memberId": "M-1"})

    assert status == 200
    assert [r.status for r in moengage.requests[1:]] == [500, 200]
    assert set(moengage.deleting) == {"M-1"}


async def test_delete_user_s_title_names_a_refusal(moengage):
    shape = {"status": "fail", "title": "Bad Request", "description": "Invalid identity"}
    moengage.inject(status=400, body=shape, path_prefix="/v1/customer/delete")

    status, answer = await send("member_deleted", {"memberId": "M-1"})

    assert (status, answer["error"]["code"]) == (502, "moengage_rejected")
    assert "HTTP 400 (Bad Request)" in answer["error"]["message"]
    assert len(moengage.requests) == 1


async def test_a_merge_moves_the_merged_member_s_attributes_to_the_survivor(moengage):
    await send("member_enrolled", enrolled("M-OLD", "Ana"))
    await send("member_updated", {"memberId": "M-NEW", "memberAddressCity": "Oslo"})
    before = moengage.profiles

    status, _ = await send("member_merged", {"memberId": "M-NEW", "oldMemberId": "M-OLD"})

    assert status == 200
    assert moengage.merges == [("M-OLD", "M-NEW")]
    assert moengage.profiles == {"M-NEW": {**before["M-NEW"], **before["M-OLD"]}}


async def test_the_log_line_of_a_merge_names_both_members(moengage, caplog):
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")

    await send("member_merged", {"memberId": "M-NEW", "oldMemberId": "M-OLD"})

    logged = [json.loads(r.getMessage()) for r in caplog.records if '"kind":"webhook"' in r.msg]
    assert [line["members"] for line in logged] == [["M-NEW", "M-OLD"]]


# --- end state at MoEngage: queue batches ---------------------------------------------------------


@pytest.fixture
async def processor(clock, gateway) -> queue_processor.BatchProcessor:
    """A batch processor whose waits and retry schedule run on the virtual clock."""
    runtime = current_runtime()
    gate = RateLimitGate(clock=clock.monotonic, sleep=clock.sleep)
    policy = RetryPolicy(attempts=3, budget=5)
    sender = MoEngageSender(runtime.target, CLIENTS.get(), policy, gate, clock.sleep)
    return queue_processor.BatchProcessor(
        runtime, gateway, sender, runtime.delivered_keys, clock.wall, clock.sleep
    )


async def run_until_drained(processor, gateway, clock, first_batch):
    """Process the batch, then every retry as it falls due, until the queue is empty."""
    outcomes = list(await processor.process(first_batch)) if first_batch else []
    while (due := gateway.next_due()) is not None:
        clock.now = max(clock.now, due)
        outcomes += await processor.process(gateway.take_due(clock.now))
    return outcomes


def queued(event: str, body: dict, message_id: str) -> IncomingMessage:
    return IncomingMessage(json.dumps(body).encode(), message_id, {EVENT: event})


@pytest.fixture
def one_message_per_wave(monkeypatch):
    """Waves without an erasure run side by side: one message each makes that visible."""
    monkeypatch.setattr(queue_processor, "WAVE_SIZE", 1)


@pytest.mark.usefixtures("one_message_per_wave")
async def test_in_a_batch_nothing_overtakes_a_delete_either_way(
    processor, gateway, moengage, clock
):
    await send("member_enrolled", enrolled("M-1", "Ana"))
    # the update sent before the delete is slow: were it still in flight when the delete is
    # answered, it would re-create the profile
    moengage.inject(latency=0.3, path_prefix=f"/v1/customer/{APP_ID}")
    batch = [
        queued("member_updated", {"memberId": "M-1", "memberAddressCity": "Rome"}, "before"),
        queued("member_deleted", {"memberId": "M-1"}, "delete"),
        queued("member_updated", {"memberId": "M-1", "memberFirstName": "Bo"}, "after"),
        queued("member_updated", {"memberId": "M-2", "memberFirstName": "Cy"}, "other"),
    ]

    outcomes = await run_until_drained(processor, gateway, clock, batch)

    assert [o.outcome for o in outcomes] == [Outcome.DELIVERED] * 4
    paths = [r.path for r in moengage.requests[1:]]
    assert paths.index("/v1/customer/delete") == 1  # after "before", ahead of "after"
    assert moengage.profiles["M-1"]["city"] == "Rome"  # in the buffer: the same user
    assert moengage.profiles["M-1"]["first_name"] == "Bo"
    moengage.elapse(DELETE_BUFFER)
    assert moengage.profiles == {"M-2": {"first_name": "Cy"}}


@pytest.mark.usefixtures("one_message_per_wave")
async def test_a_delete_waits_for_the_retry_of_an_update_sent_before_it(
    processor, gateway, moengage, clock
):
    await send("member_enrolled", enrolled("M-1", "Ana"))
    moengage.inject(status=503, times=3, path_prefix=f"/v1/customer/{APP_ID}")
    batch = [
        queued("member_updated", {"memberId": "M-1", "memberAddressCity": "Rome"}, "before"),
        queued("member_deleted", {"memberId": "M-1"}, "delete"),
    ]

    first = await processor.process(batch)

    assert [o.outcome for o in first] == [Outcome.RETRY_LATER] * 2
    assert moengage.deletions == []  # held: the update's retry would have re-created M-1

    later = await run_until_drained(processor, gateway, clock, [])

    assert [o.outcome for o in later] == [Outcome.DELIVERED] * 2
    assert moengage.deletions == [("customer_id", "M-1")]
    moengage.elapse(DELETE_BUFFER)
    assert "M-1" not in moengage.profiles


async def test_merges_of_one_batch_go_twenty_five_pairs_a_call_after_the_updates(
    processor, gateway, moengage, clock
):
    updates = [
        queued("member_updated", {"memberId": f"{side}-{i}", "memberAddressCity": f"{side}{i}"},
               f"{side}{i}")
        for i in range(60) for side in ("OLD", "NEW")
    ]  # fmt: skip
    merges = [
        queued("member_merged", {"memberId": f"NEW-{i}", "oldMemberId": f"OLD-{i}"}, f"m{i}")
        for i in range(60)
    ]

    outcomes = await run_until_drained(processor, gateway, clock, updates + merges)

    assert {o.outcome for o in outcomes} == {Outcome.DELIVERED}
    calls = [json.loads(r.body) for r in moengage.requests if r.path == "/v1/customer/merge"]
    assert sorted(len(call["merge_data"]) for call in calls) == [10, 25, 25]
    assert moengage.profiles == {f"NEW-{i}": {"city": f"OLD{i}"} for i in range(60)}


async def test_a_delete_refused_for_its_member_is_dead_lettered_and_holds_nothing_else(
    processor, gateway, moengage, clock
):
    await send("member_enrolled", enrolled("M-1"))
    refusal = {"status": "fail", "error": {"message": "User is locked", "request_id": "LkdUsrAb"}}
    moengage.inject(status=400, body=refusal, path_prefix="/v1/customer/delete")
    batch = [
        queued("member_deleted", {"memberId": "M-1"}, "delete"),
        queued("member_updated", {"memberId": "M-2", "memberFirstName": "Cy"}, "other"),
        queued("member_deleted", {"memberId": "M-1"}, "again"),
    ]

    outcomes = await run_until_drained(processor, gateway, clock, batch)

    by_id = {o.message_id: o.outcome for o in outcomes}
    assert by_id == {
        "delete": Outcome.DEAD_LETTERED,  # that member's problem, never an account-level hold
        "other": Outcome.DELIVERED,
        "again": Outcome.DELIVERED,
    }
    assert moengage.profiles["M-2"] == {"first_name": "Cy"}
    assert moengage.deletions == [("customer_id", "M-1")]


async def test_a_webhook_delete_refused_for_its_member_is_a_502_not_a_configuration_hold(moengage):
    refusal = {"status": "fail", "error": {"message": "User is locked", "request_id": "LkdUsrAb"}}
    moengage.inject(status=400, body=refusal, path_prefix="/v1/customer/delete")

    status, answer = await send("member_deleted", {"memberId": "M-1"})

    assert (status, answer["error"]["code"]) == (502, "moengage_rejected")
    assert "refused the request as malformed: HTTP 400" in answer["error"]["message"]
    assert "MoEngage request id LkdUsrAb" in answer["error"]["message"]
