"""The Service Bus model used by the durable-path tests behaves as Microsoft documents the
service (duplicate detection, peek-lock, delivery counts, dead-lettering, deferral, scheduling,
time to live, lock expiry while a batch is still running, lock renewal) and the host's
autoComplete batch trigger."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.servicebus import ServiceBusMessageState
from azure.servicebus.exceptions import MessageLockLostError, MessageNotFoundError

from tests.fakes import VirtualClock
from tests.servicebus_model import FunctionHost, ServiceBusModel


@pytest.fixture
def model() -> ServiceBusModel:
    return ServiceBusModel(VirtualClock())


def test_a_duplicate_message_id_is_accepted_and_dropped_within_the_window(model):
    queue = model.queue("q")

    assert queue.accept("a", b"1", {}) is not None
    assert queue.accept("a", b"2", {}) is None
    assert queue.accept(None, b"3", {}) is not None
    assert queue.accept(None, b"4", {}) is not None
    model.clock.advance(timedelta(days=1).total_seconds())
    assert queue.accept("a", b"5", {}) is not None

    assert [s.body for s in queue.all()] == [b"1", b"3", b"4", b"5"]
    assert queue.dropped_duplicates == ["a"]


def test_abandon_redelivers_at_once_and_dead_letters_after_max_delivery_count(model):
    queue = model.queue("q")
    queue.accept("m", b"{}", {})

    counts = []
    for _ in range(model.max_delivery_count):
        [received] = queue.receive(10)
        counts.append(received.delivery_count)
        queue.abandon(received)

    assert counts == list(range(1, 11))
    assert queue.all() == []
    [letter] = queue.dead_letter.all()
    assert letter.dead_letter_reason == "MaxDeliveryCountExceeded"


def test_a_locked_message_is_invisible_until_its_lock_expires(model):
    queue = model.queue("q")
    queue.accept("m", b"{}", {})
    [received] = queue.receive(10)

    assert queue.receive(10) == []
    model.clock.advance(model.lock_duration.total_seconds())
    [again] = queue.receive(10)
    assert again.delivery_count == 2
    with pytest.raises(MessageLockLostError):
        queue.complete(received)
    queue.complete(again)
    assert queue.all() == []


def test_scheduled_messages_appear_at_their_time(model):
    queue = model.queue("q")
    queue.accept("m", b"{}", {}, scheduled_at=model.clock.now + timedelta(minutes=1))

    assert queue.receive(10) == []
    assert queue.next_scheduled() == model.clock.now + timedelta(minutes=1)
    model.clock.advance(60)
    assert [r.message_id for r in queue.receive(10)] == ["m"]


def test_deferred_messages_are_peeked_and_received_only_by_number(model):
    queue = model.queue("q")
    queue.accept("m", b"{}", {})
    [received] = queue.receive(10)
    queue.defer(received)

    assert queue.receive(10) == []
    [peeked] = queue.peek(0, 10)
    assert peeked.state == ServiceBusMessageState.DEFERRED
    assert peeked.delivery_count == 1
    [again] = queue.receive_deferred([peeked.sequence_number])
    queue.complete(again)
    with pytest.raises(MessageNotFoundError):
        queue.receive_deferred([peeked.sequence_number])


async def test_the_host_completes_on_return_and_abandons_on_an_exception(model):
    queue = model.queue("q")
    for name in ("a", "b"):
        queue.accept(name, b"{}", {})
    calls = []

    async def fails_once(messages):
        calls.append([(m.message_id, m.delivery_count) for m in messages])
        if len(calls) == 1:
            raise RuntimeError("boom")

    host = FunctionHost(model, "q", fails_once)
    await host.drain()

    assert calls == [[("a", 1), ("b", 1)], [("a", 2), ("b", 2)]]
    assert queue.all() == []
    assert [type(e).__name__ for e in host.errors] == ["RuntimeError"]


def test_a_message_past_its_time_to_live_moves_to_the_dead_letter_sub_queue(model):
    queue = model.queue("q")
    queue.time_to_live = timedelta(hours=1)
    queue.accept("old", b"{}", {})
    model.clock.advance(1800)
    queue.accept("young", b"{}", {})
    model.clock.advance(1800)

    [received] = queue.receive(10)

    assert received.message_id == "young"
    assert queue.dead_letter is not None
    [expired] = queue.dead_letter.all()
    assert (expired.message_id, expired.dead_letter_reason) == ("old", "TTLExpiredException")


def test_a_lock_that_expires_during_a_long_batch_hands_the_message_to_another_receiver(model):
    queue = model.queue("q")
    queue.accept("m", b"{}", {})
    [first] = queue.receive(1)  # instance A starts a long batch

    model.clock.advance(model.lock_duration.total_seconds())
    [second] = queue.receive(1)  # instance B, while A is still settling

    assert (first.delivery_count, second.delivery_count) == (1, 2)
    assert first.locked_until_utc is None
    with pytest.raises(MessageLockLostError):
        queue.complete(first)  # A's completion comes too late
    queue.complete(second)
    assert queue.all() == []


def test_a_renewed_lock_keeps_the_message_from_other_receivers(model):
    queue = model.queue("q")
    queue.lock_duration = timedelta(minutes=1)
    queue.accept("m", b"{}", {})
    [held] = queue.receive(1)

    for _ in range(5):
        model.clock.advance(45)
        queue.renew(held)

    assert queue.receive(1) == []
    assert held.locked_until_utc == model.clock.now + timedelta(minutes=1)
    queue.complete(held)
    assert queue.renewals == 5
