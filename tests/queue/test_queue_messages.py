"""Queue message rules: idempotency keys, backoff, retry and dead-letter copies, and the
conversion to and from Azure Service Bus messages (no network needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.durable.gateway import from_received, to_service_bus_message
from bridge.durable.idempotency import RecentlyDelivered
from bridge.durable.messages import (
    WORKSPACE,
    IncomingMessage,
    dead_letter_copy,
    first_message,
    message_id_for,
    replay_copy,
    retry_copy,
    retry_delay,
)

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


def test_a_declared_key_gives_a_stable_id_and_no_key_a_fresh_one():
    keyed = message_id_for("rewards_issued", "100245|Choice|10% Off|2026-03-14T09:30:00Z")

    assert keyed == message_id_for("rewards_issued", "100245|Choice|10% Off|2026-03-14T09:30:00Z")
    assert keyed.startswith("rewards_issued:")
    assert "100245" not in keyed  # hashed: no member id in a MessageId
    assert keyed != message_id_for("rewards_redeemed", "100245|Choice|10% Off|2026-03-14T09:30:00Z")
    assert message_id_for("member_updated", None) != message_id_for("member_updated", None)
    assert len(message_id_for("e" * 200, "k" * 500)) <= 128


def test_an_empty_message_id_is_never_a_key():
    assert IncomingMessage(b"{}", "").idempotency_key is None
    assert IncomingMessage(b"{}", "", {"idempotency_key": "k"}).idempotency_key == "k"


def test_long_ids_are_hashed_not_truncated():
    first = IncomingMessage(b"{}", "x" * 125 + "a")
    second = IncomingMessage(b"{}", "x" * 125 + "b")

    ids = {retry_copy(m, NOW, NOW).message_id for m in (first, second)}

    assert len(ids) == 2
    assert all(len(i) <= 128 for i in ids)


def test_a_replayed_letter_starts_a_new_lineage_of_retry_ids():
    original = IncomingMessage(b"{}", "rewards_issued:k", {"idempotency_key": "rewards_issued:k"})
    first_retry = retry_copy(original, NOW, NOW)
    letter = IncomingMessage(b"{}", first_retry.message_id, first_retry.properties)
    replayed = replay_copy(letter, NOW + timedelta(hours=1))
    replay_retry = retry_copy(IncomingMessage(b"{}", replayed.message_id, replayed.properties),
                              NOW, NOW)  # fmt: skip

    assert first_retry.message_id == "rewards_issued:k#r1"
    assert replay_retry.message_id != first_retry.message_id
    assert replay_retry.message_id.endswith("#r1")
    assert replay_retry.properties["idempotency_key"] == "rewards_issued:k"


def test_times_without_a_zone_are_utc():
    naive = datetime(2026, 3, 14, 11, 0)

    assert IncomingMessage(b"{}", "m", enqueued_time=naive).first_received(NOW) == NOW.replace(
        hour=11
    )
    later = IncomingMessage(b"{}", "m", {"first_received_utc": "2026-03-14T10:00:00"})
    assert later.first_received(NOW) == NOW.replace(hour=10)


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(0, 24, 36), (1, 48, 72), (3, 192, 288), (10, 720, 1080)]
)
def test_backoff_doubles_from_30_seconds_up_to_15_minutes(attempt, low, high):
    assert retry_delay(attempt, jitter=0.8) == pytest.approx(low)
    assert retry_delay(attempt, jitter=1.2) == pytest.approx(high)


def test_backoff_never_ends_before_the_rate_limit_reset():
    assert retry_delay(0, not_before=300.0, jitter=1.0) == 300.0


def test_retry_copy_counts_attempts_and_keeps_the_first_received_time():
    first = first_message(b"{}", "rewards_issued:abc", "rewards_issued", "corr", NOW)
    incoming = IncomingMessage(first.body, first.message_id, first.properties)

    copy = retry_copy(incoming, NOW + timedelta(seconds=30), NOW + timedelta(hours=2))
    assert incoming.idempotency_key == "rewards_issued:abc"
    second = retry_copy(
        IncomingMessage(copy.body, copy.message_id, copy.properties), NOW, NOW + timedelta(hours=3)
    )

    assert copy.message_id == "rewards_issued:abc#r1"
    assert second.message_id == "rewards_issued:abc#r2"
    assert second.properties["attempt"] == 2
    assert second.properties["idempotency_key"] == "rewards_issued:abc"
    assert second.properties["first_received_utc"] == "2026-03-14T12:00:00.000000Z"
    assert second.properties["event"] == "rewards_issued"
    assert copy.scheduled_at == NOW + timedelta(seconds=30)


def test_dead_letter_and_replay_copies():
    incoming = IncomingMessage(b"{}", "m1", {"event": "rewards_issued", "attempt": 4})

    letter = dead_letter_copy(incoming, "mapping_failed", "memberId is missing", NOW)
    replayed = replay_copy(IncomingMessage(letter.body, letter.message_id, letter.properties), NOW)

    assert letter.properties["dead_letter_reason"] == "mapping_failed"
    assert letter.properties["attempt"] == 4
    assert "dead_letter_reason" not in replayed.properties
    assert replayed.properties["attempt"] == 0
    assert replayed.message_id.startswith("m1#replay")


def test_conversion_to_a_service_bus_message():
    outgoing = retry_copy(IncomingMessage(b'{"a": 1}', "m1", {"event": "x"}), NOW, NOW)

    converted = to_service_bus_message(outgoing)

    assert b"".join(converted.body) == b'{"a": 1}'
    assert converted.message_id == "m1#r1"
    assert converted.scheduled_enqueue_time_utc == NOW
    assert converted.application_properties["attempt"] == 1
    assert converted.content_type == "application/json"


def test_conversion_from_a_received_dead_letter():
    received = SimpleNamespace(
        body=iter([b'{"memberId":', b' "1"}']),
        message_id="m9",
        application_properties={b"event": b"rewards_issued"},
        dead_letter_reason="MaxDeliveryCountExceeded",
        dead_letter_error_description="too many deliveries",
        delivery_count=10,
        enqueued_time_utc=NOW,
        sequence_number=7,
    )

    incoming = from_received(received)

    assert incoming.body == b'{"memberId": "1"}'
    assert incoming.event == "rewards_issued"
    assert incoming.properties["dead_letter_reason"] == "MaxDeliveryCountExceeded"
    assert incoming.sequence_number == 7


class _FakeSender:
    def __init__(self, sent: list, limit: int) -> None:
        self.sent, self.limit = sent, limit

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    async def send_messages(self, messages):
        from azure.servicebus.exceptions import MessageSizeExceededError

        batch = list(messages)
        if len(batch) > self.limit:
            raise MessageSizeExceededError(message="too big")
        self.sent.append(batch)

    async def create_message_batch(self):
        return _FakeBatch(self.limit)


class _FakeBatch(list):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def add_message(self, message) -> None:
        from azure.servicebus.exceptions import MessageSizeExceededError

        if len(self) >= self.limit:
            raise MessageSizeExceededError(message="batch full")
        self.append(message)


async def test_service_bus_gateway_sends_to_the_configured_queues(monkeypatch):
    from azure.servicebus.aio import ServiceBusClient

    from bridge.config.settings import Settings
    from bridge.durable.gateway import ServiceBusConfig, ServiceBusGateway

    sent: dict[str, list] = {}

    class FakeClient:
        def get_queue_sender(self, queue):
            return _FakeSender(sent.setdefault(queue, []), limit=2)

    monkeypatch.setattr(ServiceBusClient, "from_connection_string", lambda _, **kw: FakeClient())
    settings = Settings(
        moengage_app_id="a",
        moengage_api_key="k",
        moengage_data_center="01",
        kognitiv_service_bus="Endpoint=sb://x/;SharedAccessKeyName=n;SharedAccessKey=v",
        kognitiv_service_bus_queue="hooks",
    )
    gateway = ServiceBusGateway(ServiceBusConfig.from_settings(settings))
    first = first_message(b"{}", "m1", "rewards_issued", "c", NOW)
    copies = [retry_copy(IncomingMessage(b"{}", f"m{i}", {}), NOW, NOW) for i in range(5)]

    await gateway.send([first])
    await gateway.send(copies)
    await gateway.dead_letter([dead_letter_copy(IncomingMessage(b"{}", "d1", {}), "x", "y", NOW)])

    assert [len(batch) for batch in sent["hooks"]] == [1, 2, 2, 1]
    assert [m.message_id for m in sent["hooks"][0]] == ["m1"]
    assert [m.message_id for m in sent["hooks-deadletter"][0]] == ["d1"]


def test_the_workspace_is_part_of_a_message_id_except_for_the_default():
    key = "100245|Choice|10% Off|2026-03-14T09:30:00Z"
    default = message_id_for("rewards_issued", key)

    assert message_id_for("rewards_issued", key, "default") == default
    eu, us = (
        message_id_for("rewards_issued", key, "eu"),
        message_id_for("rewards_issued", key, "us"),
    )
    assert len({default, eu, us}) == 3
    assert eu.startswith("eu:rewards_issued:")
    assert eu[len("eu:") :] != default  # the hash covers the workspace too
    assert message_id_for("rewards_issued", None, "us").startswith("us:rewards_issued:")
    assert len(message_id_for("e" * 200, "k" * 500, "w" * 32)) <= 128


def test_the_workspace_property_and_the_delivery_key():
    first = first_message(b"{}", "eu:rewards_issued:abc", "rewards_issued", "c", NOW, "eu")
    incoming = IncomingMessage(first.body, first.message_id, first.properties)

    assert first.properties[WORKSPACE] == "eu"
    assert incoming.workspace == "eu"
    assert incoming.idempotency_key == "eu:rewards_issued:abc"
    assert incoming.delivery_key == "eu/eu:rewards_issued:abc"
    assert IncomingMessage(b"{}", "m", {}).workspace == "default"
    assert IncomingMessage(b"{}", "m", {WORKSPACE: " "}).workspace == "default"
    assert IncomingMessage(b"{}", "m", {WORKSPACE: 5}).workspace == "default"
    assert IncomingMessage(b"{}", "m", {}).delivery_key == "m"
    assert IncomingMessage(b"{}", "m", {WORKSPACE: "us", "idempotency_key": "k"}).delivery_key == (
        "us/k"
    )
    assert first_message(b"{}", "m", None, "c", NOW).properties[WORKSPACE] == "default"


def test_retry_dead_letter_and_replay_copies_keep_the_workspace():
    message = IncomingMessage(b"{}", "m1", {WORKSPACE: "eu", "idempotency_key": "k"})

    copies = [
        retry_copy(message, NOW, NOW),
        dead_letter_copy(message, "moengage_rejected", "refused", NOW),
        replay_copy(message, NOW),
    ]

    assert [copy.properties[WORKSPACE] for copy in copies] == ["eu", "eu", "eu"]
    assert [copy.properties["idempotency_key"] for copy in copies] == ["k", "k", "k"]
    again = IncomingMessage(b"{}", copies[0].message_id, copies[0].properties)
    assert again.delivery_key == message.delivery_key == "eu/k"


def test_the_first_messages_sequence_number_travels_with_every_copy_of_the_fact():
    from bridge.durable.messages import SOURCE_SEQUENCE, replay_copy

    now = datetime(2026, 3, 14, 12, tzinfo=UTC)
    first = IncomingMessage(b"{}", "m", {"attempt": 0}, sequence_number=41)
    retry = retry_copy(first, now, now)
    received_retry = IncomingMessage(b"{}", retry.message_id, retry.properties, sequence_number=97)
    letter = dead_letter_copy(received_retry, "retries_exhausted", "x", now)
    received_letter = IncomingMessage(b"{}", "m", letter.properties, sequence_number=3)
    replayed = replay_copy(received_letter, now)

    assert first.source_sequence == 41
    assert retry.properties[SOURCE_SEQUENCE] == 41
    assert received_retry.source_sequence == 41  # not its own 97
    assert letter.properties[SOURCE_SEQUENCE] == 41
    assert replayed.properties[SOURCE_SEQUENCE] == 41


@pytest.mark.parametrize("value", ["²", "-4", "many", "", 2**70, True, 1.5, None])
def test_a_producers_unreadable_source_sequence_reads_as_its_own_sequence_number(value):
    from bridge.durable.messages import SOURCE_SEQUENCE

    message = IncomingMessage(b"{}", "m", {SOURCE_SEQUENCE: value}, sequence_number=7)

    assert message.source_sequence == 7
    assert (
        retry_copy(message, datetime.now(UTC), datetime.now(UTC)).properties[SOURCE_SEQUENCE] == 7
    )


@given(
    waves=st.lists(st.lists(st.sampled_from("abcdefgh"), max_size=6), max_size=8),
    capacity=st.integers(min_value=1, max_value=5),
)
def test_a_waves_keys_added_at_once_leave_the_recent_keys_a_least_recently_used_cache(
    waves: list[list[str]], capacity: int
) -> None:
    """The keys known after each wave are the `capacity` most recently added, whether a wave
    adds one key or many (a key forgotten here is a repeat sent to MoEngage)."""
    recent = RecentlyDelivered(capacity)
    model: list[str] = []  # least recent first
    for wave in waves:
        recent.add_all(wave)
        for key in wave:
            if key in model:
                model.remove(key)
            model.append(key)
        del model[:-capacity]
        assert {key for key in "abcdefgh" if key in recent} == set(model)
