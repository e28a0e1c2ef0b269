"""The contract every delivery test trusts, checked against material nobody here wrote.

tests/fixtures/moengage/contract-examples.json holds the request bodies of MoEngage's Data API
reference and of RudderStack's MoEngage destination tests (each with its source) and the verdict
MoEngage documents for each. Every body is replayed through the emulator over real sockets and
must get that verdict; the same bodies sent to the bridge must come out as requests that pass the
same contract.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from moengage_emulator import Emulator
from tests.conftest import APP_ID, call_webhook, http_request

EXAMPLES = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "moengage" / "contract-examples.json").read_text()
)
ELEMENT_BODIES = ("event", "customer", "device", "transition")
# Where the bridge is stricter than MoEngage it refuses the webhook (422) and sends nothing.
BRIDGE_REFUSES = {
    "DOC-event-identifiers": {  # MoEngage refuses it too, without Identity Resolution
        "code": "missing_customer_id",
        "message": "element 0: customer_id is missing or not a string (MoEngage has no "
        "anonymous users): check that the member id field is sent",
    },
    "DOC-bulk-array": {  # a device on platform "Windows": its fate is undocumented
        "code": "invalid_element",
        "message": "element 1: a device's platform must be ANDROID, iOS, web, TV",
    },
}


def example_id(example: dict) -> str:
    return example["id"]


def elements_of(body: dict) -> list[dict]:
    return body["elements"] if body.get("type") == "transition" else [body]


@pytest.fixture
def client(moengage: Emulator) -> Iterator[httpx.Client]:
    token = base64.b64encode(f"{APP_ID}:{moengage.api_key}".encode()).decode()
    # the headers RudderStack's MoEngage destination sends on every call (transform.js:
    # 'Content-Type', 'MOE-APPKEY': apiId, Authorization Basic)
    headers = {
        "Authorization": f"Basic {token}",
        "Content-Type": "application/json",
        "MOE-APPKEY": APP_ID,
    }
    with httpx.Client(base_url=moengage.base_url, headers=headers, timeout=5) as http:
        yield http


def test_the_corpus_is_complete_and_sourced() -> None:
    assert len(EXAMPLES) == 34
    assert len({example["id"] for example in EXAMPLES}) == 34
    for example in EXAMPLES:
        assert example["source"].startswith(
            ("moengage/moengage-documentation", "rudderlabs/rudder-transformer@", "PyPI moengage")
        ), example["id"]
        assert example["verdict"]["status"] in (200, 400)


@pytest.mark.parametrize("example", EXAMPLES, ids=example_id)
def test_the_emulator_gives_moengages_documented_verdict(
    moengage: Emulator, client: httpx.Client, example: dict
) -> None:
    verdict = example["verdict"]
    response = client.post(example["endpoint"].replace("WS", APP_ID), json=example["body"])

    assert response.status_code == verdict["status"], response.text
    answer = response.json()
    if verdict["status"] == 400:
        assert answer["status"] == "fail"
        assert answer["error"]["attribute"] == verdict["error_attribute"]
        assert moengage.accepted == []
        return
    assert answer["status"] == "success"
    if verdict["elements"] == "all":
        assert moengage.rejected_elements == []
        assert moengage.dropped == []
        assert moengage.accepted == elements_of(example["body"])


def test_a_documented_merge_moves_the_merged_users_attributes(
    moengage: Emulator, client: httpx.Client
) -> None:
    [merge] = [example for example in EXAMPLES if example["id"] == "RS-p16-customer-merge"]
    [pair] = merge["body"]["merge_data"]
    for user, attributes in ((pair["merged_user"], {"a": 1, "b": 1}), (pair["retained_user"], {})):
        body = {"type": "customer", "customer_id": user, "attributes": attributes}
        assert client.post(f"/v1/customer/{APP_ID}", json=body).status_code == 200

    response = client.post(merge["endpoint"].replace("WS", APP_ID), json=merge["body"])

    assert response.json() == {"status": "success", "operation": "created"}
    assert moengage.merges == [(pair["merged_user"], pair["retained_user"])]
    assert moengage.profiles == {pair["retained_user"]: {"a": 1, "b": 1}}


@pytest.mark.usefixtures("settings_env")
@pytest.mark.parametrize(
    "example",
    [example for example in EXAMPLES if example["body"].get("type") in ELEMENT_BODIES],
    ids=example_id,
)
async def test_the_bridges_output_for_each_example_passes_the_same_contract(
    moengage: Emulator, example: dict
) -> None:
    status, answer, _ = await call_webhook(http_request(example["body"]))

    refused = BRIDGE_REFUSES.get(example["id"])
    if refused:
        assert (status, answer["error"]) == (422, refused)
        assert moengage.requests == []
        return
    assert status == 200, answer
    assert answer["status"] == "delivered"
    assert [request.status for request in moengage.requests] == [200] * len(moengage.requests)
    assert moengage.rejected_elements == []
    assert moengage.dropped == []
    assert moengage.violations == []
    assert len(moengage.accepted) == len(elements_of(example["body"])) == answer["elements"]


USER_OPERATION_EXAMPLES = json.loads(
    (
        Path(__file__).parent.parent / "fixtures" / "moengage" / "user-operations-examples.json"
    ).read_text()
)


def documented_subset(answer: object, documented: object) -> object:
    """The part of `answer` the documented example shows (its keys, recursively)."""
    if isinstance(documented, dict) and isinstance(answer, dict):
        return {key: documented_subset(answer.get(key), documented[key]) for key in documented}
    return answer


def test_the_user_operation_corpus_is_complete_and_sourced() -> None:
    assert len(USER_OPERATION_EXAMPLES) == 15
    assert len({example["id"] for example in USER_OPERATION_EXAMPLES}) == 15
    for example in USER_OPERATION_EXAMPLES:
        assert example["source"].startswith("moengage/moengage-documentation@")


@pytest.mark.parametrize("example", USER_OPERATION_EXAMPLES, ids=example_id)
def test_the_emulator_answers_user_operations_as_documented(
    moengage: Emulator, example: dict
) -> None:
    request = example["request"]
    headers = {"Content-Type": "application/json"}
    auth = example.get("auth", "valid")
    if auth is not None:
        key = moengage.api_key if auth == "valid" else "another-data-api-key"
        headers["Authorization"] = "Basic " + base64.b64encode(f"{APP_ID}:{key}".encode()).decode()
    if request["moe_appkey"] is not None:
        headers["MOE-APPKEY"] = request["moe_appkey"].replace("WS", APP_ID)
    with httpx.Client(base_url=moengage.base_url, timeout=5) as http:
        for user in example.get("users", []):
            seeded = {"type": "customer", "customer_id": user, "attributes": {}}
            valid = {**headers, "Authorization": "Basic " + base64.b64encode(
                f"{APP_ID}:{moengage.api_key}".encode()).decode()}  # fmt: skip
            assert http.post(f"/v1/customer/{APP_ID}", json=seeded, headers=valid).is_success
        if "fault" in example:
            moengage.inject(status=example["fault"], path_prefix=request["path"].split("?")[0])
        response = http.post(
            request["path"].replace("WS", APP_ID), json=request["body"], headers=headers
        )

    expected = example["expect"]
    assert response.status_code == expected["status"]
    assert documented_subset(response.json(), expected["body"]) == expected["body"]
