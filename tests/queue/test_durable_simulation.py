"""The durable path's invariant (docs/durable-path.md, "Durable path"), checked at the end of
simulated runs: several function instances, a virtual clock and random faults of Service Bus, the
table, MoEngage and the host (see tests/durable_simulation.py). A bounded number of seeds here;
`./scripts/soak` searches many more and prints the seed of any counterexample (`./scripts/soak
--seed N` replays one). `KOGNITIV_SIMULATION_SEEDS=1,2,3` runs chosen seeds here."""

from __future__ import annotations

import os

import pytest

from tests import durable_simulation
from tests.durable_invariant import ORDER

SEEDS = [int(s) for s in os.environ.get("KOGNITIV_SIMULATION_SEEDS", "1,2,3").split(",")]
STEPS = 90


@pytest.fixture(scope="module")
def runs() -> dict[int, list[str]]:
    """Each seed's problems (one run per seed, shared by the checks below)."""
    return {seed: durable_simulation.run_seed(seed, STEPS) for seed in SEEDS}


def test_every_accepted_delivery_arrives_once_or_is_dead_lettered(runs):
    found = {
        seed: [p for p in problems if not p.startswith(ORDER)] for seed, problems in runs.items()
    }
    assert {seed: problems for seed, problems in found.items() if problems} == {}, (
        "counterexamples: replay with ./scripts/soak --seed N"
    )


def test_the_newest_fact_about_a_member_is_the_one_moengage_keeps(runs):
    found = {seed: [p for p in problems if p.startswith(ORDER)] for seed, problems in runs.items()}
    assert {seed: problems for seed, problems in found.items() if problems} == {}, (
        "counterexamples: replay with ./scripts/soak --seed N"
    )


# The checker itself: each way of breaking the invariant is reported ---------------------------
def event(member: str) -> dict:
    return {"type": "event", "customer_id": member, "actions": [{"action": "rewards_issued"}]}


def update(member: str, points: int) -> dict:
    return {"type": "customer", "customer_id": member, "attributes": {"points_balance": points}}


def test_the_checker_reports_a_duplicate_a_loss_a_bare_letter_and_an_older_value_kept():
    from types import SimpleNamespace

    from tests.durable_invariant import Fact, invariant_problems

    twice = Fact(0, "E0", "reward", {"memberId": "E0"}, accepted=True)
    excused = Fact(1, "E1", "reward", {"memberId": "E1"}, accepted=True, allowance=1)
    lost = Fact(2, "E2", "reward", {"memberId": "E2"}, accepted=True)
    lettered = Fact(3, "E3", "reward", {"memberId": "E3"}, accepted=True)
    older = Fact(4, "P0", "profile", {"memberId": "P0", "v": 1}, accepted=True, value=1001)
    newer = Fact(5, "P0", "profile", {"memberId": "P0", "v": 2}, accepted=True, value=1002)
    letter = SimpleNamespace(
        message_id="m3", body=b'{"memberId": "E3"}', application_properties={},
        dead_letter_reason=None,
    )  # fmt: skip
    accepted = [event("E0"), event("E0"), event("E1"), event("E1"), update("P0", 1002)]
    accepted.append(update("P0", 1001))  # the older value lands last

    problems = invariant_problems(
        [twice, excused, lost, lettered, older, newer],
        accepted,
        {"P0": {"points_balance": 1001}},
        [letter],
        [],
    )

    assert problems == [
        "reward E0: delivered 2 times (allowed 1: [])",
        "reward E2: accepted but never delivered nor dead-lettered ([])",
        "letter m3: no reason",
        "order: profile P0: MoEngage keeps points 1001, the newest fact says 1002 "
        "(facts in order: [1001, 1002])",
    ]


# Replays: a seed decides the whole run ---------------------------------------------------------
def _digest_in_subprocess(seed: int, hash_seed: str) -> str:
    import subprocess
    import sys

    code = f"from tests import durable_simulation as d; print(d.simulate({seed}, {STEPS}).digest())"
    environment = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_seed_replays_the_same_run_every_time():
    """Same seed: the same schedule, the same requests to MoEngage, the same letters and the
    same verdict, in this process and in another with other string hashes (no thread timing,
    no wall clock, no set order decides anything)."""
    first = durable_simulation.simulate(7, STEPS)
    second = durable_simulation.simulate(7, STEPS)
    other = durable_simulation.simulate(8, STEPS)

    assert first.moengage.requests, "the run sent nothing: the digest would prove nothing"
    assert second.digest() == first.digest()
    assert second.schedule == first.schedule
    assert other.digest() != first.digest()
    assert _digest_in_subprocess(7, "4242") == first.digest()
