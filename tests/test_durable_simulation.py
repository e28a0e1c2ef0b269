"""The durable path's invariant (README, "Durable path"), checked at the end of simulated runs:
several function instances, a virtual clock and random faults of Service Bus, the table, MoEngage
and the host (see tests/durable_simulation.py). A bounded number of seeds here; `./scripts/soak`
searches many more and prints the seed of any counterexample (`./scripts/soak --seed N` replays
one). `KOGNITIV_SIMULATION_SEEDS=1,2,3` runs chosen seeds here."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests import durable_simulation
from tests.durable_simulation import ORDER

SEEDS = [int(s) for s in os.environ.get("KOGNITIV_SIMULATION_SEEDS", "1,2,3").split(",")]
STEPS = 90


@pytest.fixture(scope="module")
def runs() -> dict[int, list[str]]:
    """Each seed's problems (one run per seed, shared by the checks below)."""
    return {seed: asyncio.run(durable_simulation.run(seed, STEPS)) for seed in SEEDS}


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
