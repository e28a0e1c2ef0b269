"""Coverage-guided fuzz target: one webhook body through everything the bridge does before the
network, checked against MoEngage's contract as the emulator enforces it. No sockets.

    python fuzz/fuzz_webhook.py -max_total_time=600 /tmp/fuzz-webhook fuzz/corpus/webhook

Per input (the raw request body), the target runs `bridge.webhook.body.parse_body`, then the mapper
for the body's own event (its "event" field or MoEngage shape) and for every rule by name, then the
request planning and encoding of `delivery.payloads`. A finding is any exception other than the
expected refusals, or a broken invariant:

- parse_body returns a dict, or raises BridgeError 400/413 with a JSON-serialisable error body;
- the mapper returns elements, or raises MappingError, answered 400/404/422;
- every planned request is strict UTF-8 JSON (no NaN or Infinity) within MoEngage's size limit
  for its endpoint, and the emulator's contract accepts it whole: HTTP 200, no element rejected,
  dropped or flagged as a data-policy violation;
- body values are data, never rendered; and no value holding a `{{...}}` placeholder is sent.

Known, reported problems are skipped (see SECURITY.md, "Known issues"); set FUZZ_STRICT=1 to
check them too, e.g. to confirm a fix.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the app's packages importable
    sys.path.insert(0, str(ROOT))

try:
    import atheris
except ImportError:  # the pytest replay and hypothesis runs need no atheris
    atheris = None


def _instrumentation() -> contextlib.AbstractContextManager:
    if atheris is not None and __name__ == "__main__":
        return atheris.instrument_imports(include=["bridge", "mapping", "delivery"])
    return contextlib.nullcontext()


with _instrumentation():
    from bridge.common.errors import BridgeError
    from bridge.config.mapping_config import build_mapper
    from bridge.config.settings import Settings
    from bridge.webhook.body import MAX_BODY_BYTES, parse_body
    from delivery.payloads import MAX_BULK_BYTES, plan_requests
    from mapping import Mapper, MappingError, MappingResult
    from mapping.policy import (
        FORBIDDEN_CUSTOMER_IDS,
        MAX_ARRAY_ITEMS,
        MAX_ATTRIBUTES_PER_EVENT,
        MAX_STRING_LENGTH,
        PASSTHROUGH_ELEMENT_TYPES,
        attribute_name_problem,
    )
    from mapping.unrendered import is_unrendered
    from moengage_emulator import contract

APP_ID = "fuzz-app"
API_KEY = "fuzz-key"
NOW = datetime(2026, 4, 1, 12, 0, tzinfo=UTC).timestamp()
HEADERS = {
    "authorization": "Basic " + base64.b64encode(f"{APP_ID}:{API_KEY}".encode()).decode(),
    "moe-appkey": APP_ID,
    "content-type": "application/json",
}
REFUSALS = frozenset({400, 404, 413, 422})
STRICT = os.environ.get("FUZZ_STRICT") == "1"


def build_fuzz_mapper() -> Mapper:
    """The shipped rules, compiled the way bridge/config/mapping_config.py does, on a fixed
    clock."""
    settings = Settings(
        moengage_app_id=APP_ID,
        moengage_api_key=API_KEY,
        moengage_data_center="01",
        kognitiv_mappings_file=None,
        kognitiv_mappings=None,
        kognitiv_timezone="America/Chicago",
        kognitiv_date_order="MDY",
    )
    mapper, problems = build_mapper(settings)
    assert not problems, problems
    return Mapper(mapper.rules, mapper.context, clock=lambda: NOW)


MAPPER = build_fuzz_mapper()
EVENTS: tuple[str | None, ...] = (None, *sorted(MAPPER.rules))


def _values(value: object):
    """The text values (not keys) of a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _values(item)


def _actions(element: dict) -> list[dict]:
    actions = element.get("actions")
    return [a for a in actions if isinstance(a, dict)] if isinstance(actions, list) else []


def _attribute_sets(element: dict) -> list[tuple[dict, int | None]]:
    """Each attributes object of an element, with the attribute count the policy allows."""
    if element.get("type") == "customer":
        return [(element.get("attributes") or {}, None)]
    if element.get("type") == "device":
        return []  # device attribute names are MoEngage's own (moe_push_opted, moe_gaid, ...)
    limit = MAX_ATTRIBUTES_PER_EVENT
    return [(action["attributes"], limit) for action in _actions(element) if "attributes" in action]


def known_issue(element: dict, problem: str, now: float = NOW) -> bool:
    """True when `problem` (a contract message about `element`) is one already reported.

    Each clause names its issue in SECURITY.md; delete it once the issue is fixed."""
    if STRICT:
        return False
    return "looks like a date" in problem  # K3: date-like text that is no date stays text


def check_element(element: object) -> None:
    """What mapping.policy promises for every element, checked directly."""
    assert isinstance(element, dict), element
    assert element.get("type") in PASSTHROUGH_ELEMENT_TYPES
    customer_id = element["customer_id"]
    assert isinstance(customer_id, str), customer_id
    assert customer_id == customer_id.strip()
    assert customer_id.lower() not in FORBIDDEN_CUSTOMER_IDS
    assert len(customer_id) <= MAX_STRING_LENGTH
    assert not any(is_unrendered(text) for text in _values(element)), element
    if element["type"] == "event":
        assert element["actions"]
        for action in element["actions"]:
            assert isinstance(action["action"], str)
            assert action["action"].strip()
    for attributes, limit in _attribute_sets(element):
        assert isinstance(attributes, dict)
        assert limit is None or len(attributes) <= limit
        for name, value in attributes.items():
            assert attribute_name_problem(name, element["type"] == "customer") is None, name
            assert value is not None
            assert not isinstance(value, str) or len(value) <= MAX_STRING_LENGTH
            assert not isinstance(value, list) or len(value) <= MAX_ARRAY_ITEMS


def check_result(result: MappingResult, body: dict) -> None:
    assert result.elements
    assert all(isinstance(warning, str) for warning in result.warnings)
    for element in result.elements:
        check_element(element)
    for request in plan_requests([result.elements]):
        assert request.kind in contract.ENDPOINTS
        request.body.decode("utf-8")  # strict UTF-8: a lone surrogate travels escaped
        sent = contract.parse_json(request.body)  # strict JSON: no NaN or Infinity
        request.describe(f"/v1/{request.kind}/{APP_ID}")
        if request.kind == "transition":
            assert len(request.body) <= MAX_BULK_BYTES
        elements = sent["elements"] if request.kind == "transition" else [sent]
        verdict = contract.check_request(
            request.kind, APP_ID, HEADERS, request.body, app_id=APP_ID, api_key=API_KEY, now=NOW
        )
        if verdict.status != 200:
            message = verdict.body["error"]["message"]
            assert any(known_issue(element, message) for element in elements), verdict.body
            continue
        assert verdict.dropped == [], verdict.dropped
        for element, reason in verdict.rejected:
            assert known_issue(element, reason), reason
        for element in verdict.accepted:
            for violation in contract.policy_violations(element):
                assert known_issue(element, violation), violation


def _parsed(raw: bytes) -> dict | BridgeError:
    try:
        return parse_body(raw)
    except BridgeError as error:
        return error


def _mapped(body: dict, event: str | None) -> MappingResult | MappingError:
    try:
        return MAPPER.map(body, event)
    except MappingError as error:
        return error


def check_body(raw: bytes) -> None:
    """Every invariant for one raw webhook body (the target's whole work)."""
    body = _parsed(raw)
    if isinstance(body, BridgeError):
        assert body.status in (400, 413), body.status
        assert (body.status == 413) == (len(raw) > MAX_BODY_BYTES)
        json.dumps(body.body())
        return
    assert isinstance(body, dict)
    for event in EVENTS:
        result = _mapped(body, event)
        if isinstance(result, MappingError):
            refused = BridgeError.from_mapping(result)
            assert refused.status in REFUSALS, refused.status
            json.dumps(refused.body())
            continue
        check_result(result, body)


def TestOneInput(data: bytes) -> None:  # the name atheris and libFuzzer expect
    check_body(data)


def main() -> None:
    if atheris is None:
        raise SystemExit("atheris is not installed: pip install atheris (Linux x86_64 wheels)")
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
