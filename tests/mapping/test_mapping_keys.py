"""A rule's "id": a key only when it names one event for certain (a false duplicate is a loss)."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import mapping
from mapping.converters import ConversionContext
from mapping.engine import Mapper
from mapping.errors import RuleError
from mapping.rules import compile_rule, compile_rules

CTX = ConversionContext(ZoneInfo("UTC"), "MDY")
ELEMENT = {"type": "event", "customer_id": "{{memberId}}", "actions": [{"action": "a"}]}
DEFAULTS = json.loads((Path(mapping.__file__).parent / "default_mappings.json").read_text())
REWARD = {"memberId": "100245", "rewardType": "Choice", "rewardName": "10% Off"}


def mapper() -> Mapper:
    rules = {k: v for k, v in DEFAULTS.items() if not k.startswith("$")}
    return Mapper(compile_rules(rules, CTX), CTX)


def key_of(body: dict, event: str = "rewards_issued") -> str | None:
    return mapper().map(body, event).idempotency_key


@pytest.mark.parametrize(
    ("issued", "key"),
    [
        ("03/14/2026 09:30:00", "100245|Choice|10% Off|2026-03-14T09:30:00Z"),
        ("3/14/2026 9:30:05 AM", "100245|Choice|10% Off|2026-03-14T09:30:05Z"),
        ("2026-03-14T09:30:00+01:00", "100245|Choice|10% Off|2026-03-14T08:30:00Z"),
        ("03/14/2026", None),  # a date only: two rewards of one day would collide
        ("03/14/2026 09:30", None),  # no seconds
        ("not a date", None),
    ],
)
def test_a_reward_key_needs_its_issue_time_to_the_second(issued, key):
    assert key_of({**REWARD, "issuedDate": issued}) == key


def test_the_time_checked_is_the_one_the_key_holds():
    """`issuedTimestamp or issuedDate` takes the first that converts: an unparseable timestamp
    that looks precise must not vouch for the date-only value the key would hold."""
    body = {**REWARD, "issuedTimestamp": "99/99/2026 10:00:00", "issuedDate": "03/14/2026"}
    assert key_of(body) is None
    body["issuedDate"] = "03/14/2026 09:30:00"
    assert key_of(body) == "100245|Choice|10% Off|2026-03-14T09:30:00Z"


def test_a_key_with_a_missing_part_is_no_key():
    assert key_of({**REWARD, "issuedDate": "03/14/2026 09:30:00", "rewardName": ""}) is None
    assert key_of({"memberId": "1001", "issuedDate": "03/14/2026 09:30:00"}) is None


def test_profile_updates_declare_no_key():
    assert key_of({"memberId": "100246", "memberEmail": "a@b.c"}, "member_updated") is None


def test_epoch_seconds_are_exact():
    body = {"memberId": "7007", "issuedTimestamp": 1773480600}
    assert key_of(body, "member_enrolled") == "7007|2026-03-14T09:30:00Z"


def test_mapping_a_key_adds_no_warning():
    assert mapper().map({**REWARD, "issuedDate": "03/14/2026"}, "rewards_issued").warnings == []


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{{rewardId | default: 0}}", "no default"),
        ("{{issuedDate | date}}", "to the second"),
        ("constant", "template string"),
        (42, "template string"),
    ],
)
def test_keys_that_could_not_be_certain_are_refused(template, problem):
    with pytest.raises(RuleError, match=problem):
        compile_rule("keyed", {"id": template, "elements": [ELEMENT]}, CTX)
