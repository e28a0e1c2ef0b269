"""Type conversions a mapping rule can ask for. KLS renders every placeholder inside a quoted JSON
string, so numbers, booleans and dates arrive as text and must be turned back into real types
before MoEngage sees them."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from functools import lru_cache

from mapping.dates import DateOrder, format_date, format_datetime, parse_moment


class ConversionError(ValueError):
    """The value cannot be read as the requested type (the message never quotes the value)."""


@dataclass(frozen=True, slots=True)
class ConversionContext:
    zone: tzinfo
    date_order: DateOrder


Converter = Callable[[object, ConversionContext], object]

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
MAX_NUMBER_TEXT = 100  # longer digit strings are not amounts (and int() refuses > 4300 digits)
_TRUE = frozenset({"true", "yes", "y", "1", "on", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "f"})


def to_number(value: object, _: ConversionContext) -> int | float:
    """Integers stay integers ("1000" -> 1000); anything with a fraction becomes a float."""
    if isinstance(value, bool):
        raise ConversionError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise ConversionError("NaN and Infinity are not numbers MoEngage accepts")
    if isinstance(value, str):
        text = value.strip()
        whole, point, fraction = text.partition(".")
        if len(text) <= MAX_NUMBER_TEXT and text.isascii() and (whole + fraction).isdigit():
            return float(text) if point else int(text)  # "1000", "10.00": what _NUMBER reads
        if _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")
        if len(text) <= MAX_NUMBER_TEXT and _NUMBER.fullmatch(text):
            if text.lstrip("+-").isdigit():
                return int(text)
            number = float(text)
            if math.isfinite(number):
                return number
    raise ConversionError("expected a number such as 1250 or 10.50")


def to_integer(value: object, context: ConversionContext) -> int:
    number = to_number(value, context)
    if isinstance(number, float):
        if not number.is_integer():
            raise ConversionError("expected a whole number")
        return int(number)
    return number


def to_boolean(value: object, _: ConversionContext) -> bool:
    """Accepts .NET's True/False and the usual spellings (yes/no, 1/0, on/off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ConversionError("expected a boolean such as True or False")


@lru_cache(maxsize=4096)
def _datetime_text(value: str, zone: tzinfo, order: DateOrder) -> str | None:
    """Cached: a rule often reads one date field twice (`current_time` and an attribute)."""
    moment = parse_moment(value, zone, order)
    return None if moment is None else format_datetime(moment)


def to_datetime(value: object, context: ConversionContext) -> str:
    if isinstance(value, str):
        text = _datetime_text(value, context.zone, context.date_order)
    else:
        moment = parse_moment(value, context.zone, context.date_order)
        text = None if moment is None else format_datetime(moment)
    if text is None:
        raise ConversionError(
            "expected a date-time such as MM/DD/YYYY HH:MM:SS, M/D/YYYY h:mm:ss PM, "
            "ISO 8601 or epoch seconds"
        )
    return text


def to_date(value: object, context: ConversionContext) -> str:
    moment = parse_moment(value, context.zone, context.date_order)
    if moment is None:
        raise ConversionError("expected a date such as MM/DD/YYYY or YYYY-MM-DD")
    return format_date(moment)


def to_string(value: object, _: ConversionContext) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ConversionError("NaN and Infinity cannot be sent")
        return str(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


CONVERTERS: dict[str, Converter] = {
    "datetime": to_datetime,
    "date": to_date,
    "number": to_number,
    "integer": to_integer,
    "boolean": to_boolean,
    "string": to_string,
}
