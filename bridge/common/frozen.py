"""A faster constructor for frozen dataclasses made by the thousand per queue batch.

A frozen dataclass's own `__init__` sets each field with `object.__setattr__` (its way past the
frozen `__setattr__`): one call per field. `fills_dict` gives the class an `__init__` that writes
the fields straight into the new instance's `__dict__`, with the same signature, defaults and
default factories. Everything else stays the dataclass's own: frozen after construction,
equality, hashing, `repr`, `dataclasses.replace`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_FACTORY = object()  # stands for a default factory's value in the signature, as in dataclasses


def fills_dict(cls: type[T]) -> type[T]:
    """Replace the frozen dataclass `cls`'s `__init__` (see the module's docstring). Refuses
    what it does not reproduce: `__post_init__`, `InitVar`s, fields left out of `__init__`,
    keyword-only fields and slots."""
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: __post_init__ and slots are not supported")
    namespace: dict[str, object] = {"_FACTORY": _FACTORY}
    parameters: list[str] = []
    body: list[str] = ["d = self.__dict__"]
    for field in dataclasses.fields(cls):
        if not field.init or field.kw_only:
            raise TypeError(f"{cls.__name__}.{field.name}: only plain init fields are supported")
        name = field.name
        if field.default is not dataclasses.MISSING:
            namespace[f"_default_{name}"] = field.default
            parameters.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{name}"] = field.default_factory
            parameters.append(f"{name}=_FACTORY")
            body.append(f"if {name} is _FACTORY: {name} = _factory_{name}()")
        else:
            parameters.append(name)
        body.append(f"d[{name!r}] = {name}")
    source = f"def __init__(self, {', '.join(parameters)}):\n    " + "\n    ".join(body)
    exec(source, namespace)  # noqa: S102 - built from the class's own field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"  # type: ignore[attr-defined]
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]
    return cls


class computed_once:  # lower case: used as a decorator, like `functools.cached_property`
    """`functools.cached_property` without its lock: Python 3.11's takes an `RLock` on every
    first read (3.12 dropped it), once per queue message. The value is written to the
    instance's `__dict__` (past a frozen dataclass's `__setattr__`), where later reads find
    it without calling this descriptor. For values of immutable instances only."""

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value
