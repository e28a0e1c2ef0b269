"""A guard against the core getting slower again, without timing anything: the Python function
calls made per mapped body of the default rules (read the body, choose and render the rule, apply
MoEngage's data rules, plan the request bytes) are counted with `sys.setprofile` and held to the
budget recorded in tests/fixtures/cost_budget.json; so are those of a whole dry-run webhook
(`handle_webhook`, its answer and its INFO log line). A change that needs more calls must say why
and raise the budget there; one that saves calls should lower it."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.bodies import KINDS, BodyFactory
from bridge.deployment.runtime import Runtime, current_runtime
from bridge.webhook.handler import WebhookRequest, handle_webhook, map_request
from delivery import plan_requests
from mapping import converters

BUDGET_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "cost_budget.json"
BUDGET = json.loads(BUDGET_FILE.read_text())  # "$comment" says how it was recorded
BODIES_PER_KIND = 40
NOW = 1_780_000_000.0
TOKEN = "budget-kognitiv-token"


def _python_calls(function: Callable[[], object]) -> int:
    calls = 0

    def profile(_frame: object, event: str, _arg: object) -> None:
        nonlocal calls
        if event == "call":
            calls += 1

    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


def _map_and_plan(runtime: Runtime, raw: bytes, event: str | None) -> None:
    _, result = map_request(runtime, WebhookRequest(raw, route_event=event))
    for request in plan_requests([result.elements]):
        request.body  # noqa: B018 - the bytes that would be sent


@pytest.fixture(scope="module")
def runtime(monkeypatch_module: pytest.MonkeyPatch) -> Runtime:
    for name in [n for n in os.environ if n.startswith(("MOENGAGE_", "KOGNITIV_"))]:
        monkeypatch_module.delenv(name)
    monkeypatch_module.setenv("MOENGAGE_APP_ID", "budget-workspace")
    monkeypatch_module.setenv("MOENGAGE_API_KEY", "budget-key-0123456789")
    monkeypatch_module.setenv("MOENGAGE_DATA_CENTER", "01")
    monkeypatch_module.setenv("KOGNITIV_AUTH_TOKEN", TOKEN)
    return current_runtime()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def calls_per_body(runtime: Runtime, kind: str) -> float:
    bodies = BodyFactory(seed=7, now=NOW).of_kind(kind, BODIES_PER_KIND)
    _map_and_plan(runtime, bodies[0].raw, bodies[0].event)  # first calls fill lazy caches
    converters._datetime_text.cache_clear()  # every body's dates read afresh, as in production

    def work() -> None:
        for body in bodies:
            _map_and_plan(runtime, body.raw, body.event)

    return _python_calls(work) / len(bodies)


@pytest.mark.parametrize("kind", KINDS)
def test_python_calls_per_body_stay_within_the_budget(runtime: Runtime, kind: str) -> None:
    measured = calls_per_body(runtime, kind)
    budget = BUDGET["python_calls_per_body"][kind]
    assert measured <= budget, (
        f"{kind}: {measured:.1f} Python calls per body, budget {budget} "
        f"({BUDGET_FILE.name}; see BENCHMARKS.md before raising it)"
    )


def test_the_guard_catches_a_return_to_the_interpreted_rules(runtime: Runtime) -> None:
    """The budget is tight enough to notice: rules rendered by the interpreter (the previous
    release's path) exceed it."""
    rules = runtime.mapper.rules
    compiled = {name: rule.compiled for name, rule in rules.items()}
    try:
        for rule in rules.values():
            object.__setattr__(rule, "compiled", None)
        measured = calls_per_body(runtime, "rewards_issued")
    finally:
        for name, rule in rules.items():
            object.__setattr__(rule, "compiled", compiled[name])
    assert measured > BUDGET["python_calls_per_body"]["rewards_issued"]


def test_the_guard_catches_a_return_to_the_interpreted_passthrough(runtime: Runtime) -> None:
    """MoEngage-shaped bodies normalised and checked in two walks again exceed their budget."""
    mapper = runtime.mapper
    compiled, mapper.passthrough = mapper.passthrough, None
    try:
        measured = calls_per_body(runtime, "guide_passthrough")
    finally:
        mapper.passthrough = compiled
    assert measured > BUDGET["python_calls_per_body"]["guide_passthrough"]


def calls_per_dry_run(kind: str) -> float:
    """Python calls per dry-run webhook, INFO lines written (to a handler that drops them, so
    no test runner's own handlers are counted)."""
    bodies = BodyFactory(seed=7, now=NOW).of_kind(kind, BODIES_PER_KIND)
    requests = [
        WebhookRequest(
            body.raw,
            headers={"Authorization": f"Bearer {TOKEN}"},
            params={"dry_run": "true"},
            route_event=body.event,
        )
        for body in bodies
    ]

    async def webhooks() -> None:
        for request in requests:
            response = await handle_webhook(request)
            assert response.status == 200, response.body

    logger = logging.getLogger("kognitiv_bridge")
    level, propagate, sink = logger.level, logger.propagate, logging.NullHandler()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(sink)
    try:
        asyncio.run(webhooks())  # first calls fill lazy caches
        converters._datetime_text.cache_clear()
        calls = _python_calls(lambda: asyncio.run(webhooks()))
        baseline = _python_calls(lambda: asyncio.run(_nothing()))  # the event loop's own calls
    finally:
        logger.removeHandler(sink)
        logger.setLevel(level)
        logger.propagate = propagate
    return (calls - baseline) / len(requests)


async def _nothing() -> None:
    return None


@pytest.mark.parametrize("kind", KINDS)
def test_python_calls_per_dry_run_webhook_stay_within_the_budget(
    runtime: Runtime, kind: str
) -> None:
    measured = calls_per_dry_run(kind)
    budget = BUDGET["python_calls_per_dry_run_webhook"][kind]
    assert measured <= budget, (
        f"{kind}: {measured:.1f} Python calls per dry-run webhook, budget {budget} "
        f"({BUDGET_FILE.name}; see BENCHMARKS.md before raising it)"
    )


def test_the_guard_catches_log_records_made_by_the_standard_library_again(
    runtime: Runtime,
) -> None:
    """Each line's record built by `Logger.makeRecord` (what a record factory someone set
    gets, and what the bridge did before its templates) exceeds the webhook's budget."""
    standard = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *args, **kwargs: standard(*args, **kwargs))
    try:
        measured = calls_per_dry_run("rewards_issued")
    finally:
        logging.setLogRecordFactory(standard)
    assert measured > BUDGET["python_calls_per_dry_run_webhook"]["rewards_issued"]
