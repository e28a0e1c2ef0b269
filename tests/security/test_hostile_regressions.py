"""Regressions for problems the fuzzers found (SECURITY.md, "Known issues" K1-K8, L1): each is
pinned here with an exact input and an exact outcome."""

from __future__ import annotations

import json
import logging

import pytest

from mapping import RuleError, compile_rules
from mapping.policy import check_element
from tests.conftest import call_webhook, http_request
from tests.mapping.test_mapping_engine import UTC_CTX

NOW = 1_773_500_000.0  # 2026-03-14T14:53:20Z


def action(**fields) -> dict:
    return {"type": "event", "customer_id": "M-1", "actions": [{"action": "a", **fields}]}


@pytest.mark.parametrize(
    ("fields", "sent", "warned"),
    [
        ({"platform": "WEB"}, {"platform": "web"}, False),
        ({"platform": "xbox"}, {}, True),
        ({"platform": 7}, {}, True),
        ({"platform": ""}, {}, True),
        ({"user_timezone_offset": "3600"}, {"user_timezone_offset": 3600}, False),
        ({"user_timezone_offset": 99_999}, {}, True),
        ({"user_timezone_offset": True}, {}, True),
        ({"app_version": 3.2}, {"app_version": "3.2"}, False),
        ({"app_version": ["1"]}, {}, True),
        ({"current_time": None}, {}, False),
        ({"user_time": "someday"}, {}, True),
        ({"user_time": 1_773_480_600_000}, {"user_time": "2026-03-14T09:30:00Z"}, False),
        ({"current_time": "1773480600"}, {"current_time": "2026-03-14T09:30:00Z"}, True),
        ({"current_time": "2026-03-14T14:56:00Z"}, {}, True),  # 160 s ahead
    ],
)
def test_action_fields_are_normalised_or_left_out(fields, sent, warned):
    warnings: list[str] = []
    out = check_element(action(**fields), 0, NOW, warnings)
    assert out["actions"][0] == {"action": "a", **sent}
    assert bool(warnings) is warned


@pytest.mark.parametrize(("flag", "sent"), [("true", True), ("FALSE", False), ("yes", None)])
def test_update_existing_only_is_a_boolean_or_left_out(flag, sent):
    element = {"type": "customer", "customer_id": "M-1", "update_existing_only": flag}
    out = check_element(element, 0, NOW, [])
    assert out.get("update_existing_only") == sent


def test_nested_text_and_lists_are_trimmed():
    warnings: list[str] = []
    nested = {"tags": [["x" * 600]], "deep": {"list": list(range(80))}}
    out = check_element(action(attributes=nested), 0, NOW, warnings)
    attributes = out["actions"][0]["attributes"]
    assert attributes["tags"] == [["x" * 512]]
    assert attributes["deep"] == {"list": list(range(50))}
    assert len(warnings) == 2


@pytest.mark.parametrize("default", ["NaN", "Infinity", "-Infinity", "1e400", "[1, NaN]"])
def test_non_finite_defaults_are_rule_errors(default):
    attributes = {"x": f"{{{{v | default: {default}}}}}"}
    element = {"type": "event", "customer_id": "{{m}}", "actions": [{"action": "a"}]}
    element["actions"][0]["attributes"] = attributes
    rule = {"r": [element]}
    with pytest.raises(RuleError, match="NaN and Infinity"):
        compile_rules(rule, UTC_CTX)


async def test_deeply_nested_inline_rules_are_a_configuration_error(settings_env):
    settings_env.setenv("KOGNITIV_MAPPINGS", "[" * 5000 + "]" * 5000)
    status, body, _ = await call_webhook(http_request({"memberId": "M-1"}, "rewards_issued"))
    assert status == 503
    assert "KOGNITIV_MAPPINGS" in body["error"]["message"]


async def test_body_that_outgrows_moengage_limit_gets_413(settings_env, moengage):
    attributes = {f"d{i}": "1/1/2026" for i in range(6500)}
    body = {"type": "customer", "customer_id": "M-1", "attributes": attributes}
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) < 128 * 1024

    status, answer, _ = await call_webhook(http_request(raw))

    assert status == 413
    assert answer["error"]["code"] == "element_too_large"
    assert moengage.requests == []


async def test_member_ids_that_are_contact_data_are_masked_in_logs(settings_env, moengage, caplog):
    caplog.set_level(logging.INFO, logger="kognitiv_bridge")
    body = {"memberId": "jordan.lee@example.com", "rewardType": "Choice"}

    status, _, _ = await call_webhook(http_request(body, "rewards_issued"))

    assert status == 200
    assert "jordan.lee@example.com" not in caplog.text
    assert '"members":["<email>"]' in caplog.text
