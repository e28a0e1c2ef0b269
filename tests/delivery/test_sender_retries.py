"""How many times one request is tried and how long the sender waits between tries, against the
MoEngage emulator over real sockets: the first attempt goes out directly and a transient failure
then continues as attempt 1 of the retry loop, so `RetryPolicy.attempts`, the backoff and the
budget mean what they say whichever way the first attempt went."""

from __future__ import annotations

import pytest
import tenacity.wait

from bridge.deployment.runtime import CLIENTS, current_runtime
from delivery import MoEngageSender, MoEngageUnavailable, RateLimitGate, RetryPolicy
from tests.expected import REWARD_ELEMENT

pytestmark = pytest.mark.usefixtures("settings_env")


@pytest.fixture
def longest_jitter(monkeypatch):
    """Full jitter picks the top of its range, so every backoff is exactly its bound."""
    monkeypatch.setattr(tenacity.wait.random, "uniform", lambda _low, high: high)


def sender(clock, policy: RetryPolicy) -> tuple[MoEngageSender, list[float]]:
    """A sender whose waits are recorded on the virtual clock instead of slept."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await clock.sleep(seconds)

    gate = RateLimitGate(clock=clock.monotonic, sleep=sleep)
    return MoEngageSender(current_runtime().target, CLIENTS.get(), policy, gate, sleep), waits


@pytest.mark.usefixtures("longest_jitter")
async def test_a_lasting_outage_gets_exactly_attempts_requests_with_growing_backoff(
    moengage, clock
):
    moengage.inject(status=503, times=1000)
    moe, waits = sender(clock, RetryPolicy(attempts=5, initial_backoff=0.2, max_backoff=1.0))

    with pytest.raises(MoEngageUnavailable) as raised:
        await moe.deliver([REWARD_ELEMENT])

    assert [r.status for r in moengage.requests] == [503] * 5
    assert moe.http_requests == 5
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.0])  # the first backoff precedes attempt 2
    assert "HTTP 503" in str(raised.value)
    assert moengage.accepted == []


@pytest.mark.usefixtures("longest_jitter")
async def test_one_attempt_means_one_request_and_no_wait(moengage, clock):
    moengage.inject(status=503, times=1000)
    moe, waits = sender(clock, RetryPolicy(attempts=1))

    with pytest.raises(MoEngageUnavailable):
        await moe.deliver([REWARD_ELEMENT])

    assert (len(moengage.requests), waits) == (1, [])


async def test_a_first_success_sends_once_and_never_waits(moengage, clock):
    moe, waits = sender(clock, RetryPolicy(attempts=5))

    report = await moe.deliver([REWARD_ELEMENT])

    assert (report.http_requests, waits) == (1, [])
    assert moengage.accepted == [REWARD_ELEMENT]


@pytest.mark.usefixtures("longest_jitter")
async def test_the_retry_after_a_first_429_waits_out_the_reset(moengage, clock):
    moengage.inject(status=429, times=1, headers={"x-ratelimit-reset": "3"})
    moe, waits = sender(clock, RetryPolicy(attempts=3, initial_backoff=0.2))

    report = await moe.deliver([REWARD_ELEMENT])

    assert [r.status for r in moengage.requests] == [429, 200]
    assert report.http_requests == 2
    assert waits == pytest.approx([3.0])  # the reset, not the 0.2 s backoff, and only once
    assert moengage.accepted == [REWARD_ELEMENT]


@pytest.mark.usefixtures("longest_jitter")
async def test_the_budget_counts_the_time_the_first_attempt_took(moengage, clock):
    # 0.6 s spent on the first answer + 0.5 s backoff passes the 1 s budget: no second request.
    moengage.inject(status=503, times=1, latency=0.6)
    moengage.inject(status=503, times=1000)
    moe, waits = sender(clock, RetryPolicy(attempts=5, initial_backoff=0.5, budget=1.0))

    with pytest.raises(MoEngageUnavailable):
        await moe.deliver([REWARD_ELEMENT])

    assert [r.status for r in moengage.requests] == [503]
    assert waits == []
