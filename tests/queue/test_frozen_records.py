"""`fills_dict`: the faster constructor of the queue's per-message records behaves as the
dataclass's own (same fields, defaults, fresh default factories, frozen, equal, replaceable)."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from bridge.common.frozen import fills_dict
from bridge.durable.messages import IncomingMessage
from bridge.queue.outcomes import MessageOutcome, Outcome


@dataclass(frozen=True)
class Plain:
    name: str
    count: int = 3
    tags: dict[str, int] = field(default_factory=dict)
    note: str | None = None


@fills_dict
@dataclass(frozen=True)
class Filled:
    name: str
    count: int = 3
    tags: dict[str, int] = field(default_factory=dict)
    note: str | None = None


CALLS = [
    (("a",), {}),
    (("a", 5), {}),
    (("a",), {"tags": {"x": 1}}),
    (("a", 7, {"y": 2}, "n"), {}),
    ((), {"name": "b", "note": "m"}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_same_fields_as_the_dataclass_constructor(args, kwargs):
    assert dataclasses.astuple(Filled(*args, **kwargs)) == dataclasses.astuple(
        Plain(*args, **kwargs)
    )
    assert repr(Filled(*args, **kwargs)).replace("Filled", "Plain") == repr(Plain(*args, **kwargs))


def test_the_same_signature_and_errors():
    expected = inspect.signature(Plain)
    actual = inspect.signature(Filled)
    assert list(actual.parameters) == list(expected.parameters)
    for name, parameter in expected.parameters.items():
        mine = actual.parameters[name]
        assert mine.kind == parameter.kind
        assert (mine.default is inspect.Parameter.empty) == (
            parameter.default is inspect.Parameter.empty
        )
    with pytest.raises(TypeError):
        Filled()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Filled("a", unknown=1)  # type: ignore[call-arg]


def test_default_factories_give_each_instance_its_own_value():
    first, second = Filled("a"), Filled("b")
    assert first.tags == {}
    assert first.tags is not second.tags


def test_still_frozen_equal_hashable_and_replaceable():
    record = Filled("a", 1, note="n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "b"  # type: ignore[misc]
    assert record == Filled("a", 1, note="n")
    assert record != Filled("a", 2, note="n")
    assert dataclasses.replace(record, count=2) == Filled("a", 2, note="n")
    outcome = MessageOutcome("m", Outcome.DELIVERED, "e", attempt=2)
    assert hash(outcome) == hash(MessageOutcome("m", Outcome.DELIVERED, "e", attempt=2))


def test_refuses_what_it_does_not_reproduce():
    @dataclass
    class Mutable:
        name: str

    @dataclass(frozen=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            pass

    @dataclass(frozen=True, slots=True)
    class Slotted:
        name: str

    @dataclass(frozen=True)
    class KeywordOnly:
        name: str = field(kw_only=True)

    for cls in (Mutable, Checked, Slotted, KeywordOnly):
        with pytest.raises(TypeError):
            fills_dict(cls)


@pytest.mark.parametrize("cls", [IncomingMessage, MessageOutcome])
def test_the_queue_records_take_every_field_by_name(cls):
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(inspect.signature(cls).parameters) == names
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    message = IncomingMessage(b"{}", "id")
    assert message.properties == {}
    assert message.delivery_count == 1
    assert message.properties is not IncomingMessage(b"{}", "id").properties
