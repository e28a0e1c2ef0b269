"""MoEngage's "unset": clearing a user attribute (Track User's `unset_attributes`, data.yaml
CreateUserRequest; an Early Access feature MoEngage enables per workspace).

A rule opts in per attribute with `| unset_if_empty`: a field Kognitiv sends empty then clears
the attribute in MoEngage instead of leaving the old value (an emptied email keeps being mailed
otherwise). Without the filter an empty value stays "missing" and the attribute is not sent."""

from __future__ import annotations

from collections.abc import Callable

from mapping.converters import ConversionError, NoValue


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()  # a rendered attribute value meaning "clear this attribute"
UNSET_FILTER = "unset_if_empty"


def unset_rule(name: str) -> dict[str, object]:
    """The `unset_attributes` item that clears exactly the attribute `name`."""
    return {"type": "equals", "attr": name}


def is_emptied(value: object, converter: Callable[..., object] | None, context: object) -> bool:
    """A value Kognitiv sent empty: null, blank text, or what the converter reads as "no value"
    (.NET's empty date). Absent fields and unrendered placeholders are not "empty"."""
    if value is None:
        return True
    if isinstance(value, str) and not value.strip():
        return True
    if converter is None:
        return False
    try:
        converter(value, context, [])
    except NoValue:
        return True
    except ConversionError:
        return False
    return False
