"""Type conversions a mapping rule can ask for. KLS renders every placeholder inside a quoted JSON
string, so numbers, booleans and dates arrive as text and must be turned back into real types
before MoEngage sees them.

A converter returns the value, raises ConversionError when the value cannot be read, or raises
NoValue when the value is one of .NET's ways of saying "nothing" (DateTime.MinValue, epoch 0):
then the field counts as missing. Notes worth a warning (a local time that does not exist, say)
are appended to `notes` when the caller passes a list."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from mapping.dates import (
    DateOrder,
    ParsedMoment,
    format_date,
    format_datetime,
    format_local_datetime,
    parse_moment,
    plain_datetime_text,
)


class ConversionError(ValueError):
    """The value cannot be read as the requested type (the message never quotes the value)."""


class NoValue(Exception):
    """The value stands for "no value" (.NET's empty date): the field counts as missing."""


NumberFormat = Literal["1,234.56", "1.234,56"]
NUMBER_FORMATS: tuple[NumberFormat, ...] = ("1,234.56", "1.234,56")


@dataclass(frozen=True, slots=True)
class ConversionContext:
    zone: tzinfo
    date_order: DateOrder
    number_format: NumberFormat = "1,234.56"


Converter = Callable[..., object]  # (value, context, notes=None) -> converted value

# Grouped thousands, by number format: 1,234.56 or 1.234,56 (groups of exactly three digits).
_GROUPED = {
    "1,234.56": re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", re.ASCII),
    "1.234,56": re.compile(r"[+-]?\d{1,3}(?:\.\d{3})+(?:,\d+)?", re.ASCII),
}
# Under the comma-decimal format, groups may also be separated by a space, a no-break space
# (U+00A0) or a narrow no-break space (U+202F, what .NET 5+ writes for fr-FR): 1 234,50.
_SPACE_GROUPS = "\u0020\u00a0\u202f"
_SPACE_GROUPED = re.compile(r"[+-]?\d{1,3}(?:[%s]\d{3})+(?:,\d+)?" % _SPACE_GROUPS)  # noqa: UP031
_EXAMPLE = {"1,234.56": "1,250.50", "1.234,56": "1.250,50"}
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
MAX_EXACT_INTEGER = 2**53 - 1  # MoEngage stores numbers as doubles: larger integers change
MAX_NUMBER_TEXT = 100  # longer digit strings are not amounts (and int() refuses > 4300 digits)
_TRUE = frozenset({"true", "yes", "y", "1", "on", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "off", "f"})


def _plain(text: str, number_format: NumberFormat) -> str:
    """`text` with the program's group separators removed and a `.` decimal point."""
    if _GROUPED[number_format].fullmatch(text):
        group, point = (",", ".") if number_format == "1,234.56" else (".", ",")
        return text.replace(group, "").replace(point, ".")
    if number_format == "1.234,56":
        if _SPACE_GROUPED.fullmatch(text):
            return re.sub(f"[{_SPACE_GROUPS}]", "", text).replace(",", ".")
        if "." in text:
            raise ConversionError("expected a number such as 1250 or 1.250,50 (decimal comma)")
        if _DECIMAL_COMMA.fullmatch(text):
            return text.replace(",", ".")
    return text


def to_number(
    value: object, context: ConversionContext, notes: list[str] | None = None
) -> int | float:
    """Integers stay integers ("1000" -> 1000); anything with a fraction becomes a float. Text is
    read in the program's number format (`1,234.56` or `1.234,56`). Integers MoEngage cannot
    store exactly (beyond ±2**53 - 1) are refused: such digits are ids, to be sent as text."""
    number = _number(value, context)
    if isinstance(number, int) and abs(number) > MAX_EXACT_INTEGER:
        raise ConversionError(
            "a whole number beyond ±9007199254740991 cannot be stored exactly by MoEngage "
            "(send ids as text: | string)"
        )
    return number


def _number(value: object, context: ConversionContext) -> int | float:
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
        plain_ok = len(text) <= MAX_NUMBER_TEXT and text.isascii() and (whole + fraction).isdigit()
        if plain_ok and (not point or context.number_format == "1,234.56"):
            return float(text) if point else int(text)  # "1000", "10.00": what _NUMBER reads
        text = _plain(text, context.number_format)
        if len(text) <= MAX_NUMBER_TEXT and _NUMBER.fullmatch(text):
            if text.lstrip("+-").isdigit():
                return int(text)
            number = float(text)
            if math.isfinite(number):
                return number
    raise ConversionError(f"expected a number such as 1250 or {_EXAMPLE[context.number_format]}")


def to_integer(value: object, context: ConversionContext, notes: list[str] | None = None) -> int:
    number = to_number(value, context)
    if isinstance(number, float):
        if not number.is_integer():
            raise ConversionError("expected a whole number")
        return int(number)
    return number


def to_boolean(value: object, _: ConversionContext, notes: list[str] | None = None) -> bool:
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


_DATETIME_EXPECTED = (
    "expected a date-time such as MM/DD/YYYY HH:MM:SS, M/D/YYYY h:mm:ss PM, ISO 8601, "
    "/Date(ms)/ or epoch seconds"
)


def _moment(value: object, context: ConversionContext, notes: list[str] | None) -> ParsedMoment:
    moment = parse_moment(value, context.zone, context.date_order)
    if moment is None:
        raise ConversionError(_DATETIME_EXPECTED)
    if moment.empty:
        raise NoValue
    if moment.note and notes is not None:
        notes.append(moment.note)
    return moment


@lru_cache(maxsize=4096)
def _datetime_text(value: str, zone: tzinfo, order: DateOrder) -> tuple[str, str | None]:
    """Cached: a rule often reads one date field twice (`current_time` and an attribute).
    Returns (text, note); values that do not convert raise (and are not cached)."""
    plain = plain_datetime_text(value, zone, order)
    if plain is not None:
        return plain, None
    moment = _moment(value, ConversionContext(zone, order), None)
    return format_datetime(moment), moment.note


def to_datetime(value: object, context: ConversionContext, notes: list[str] | None = None) -> str:
    if not isinstance(value, str):
        return format_datetime(_moment(value, context, notes))
    text, note = _datetime_text(value, context.zone, context.date_order)
    if note and notes is not None:
        notes.append(note)
    return text


def to_local_datetime(
    value: object, context: ConversionContext, notes: list[str] | None = None
) -> str:
    """The wall-clock time where the event happened (MoEngage's `user_time`): a value without an
    offset as written in the program's zone, one with an offset at that offset, an epoch or
    `/Date(ms)/` in the program's zone. Never a UTC instant."""
    return format_local_datetime(_moment(value, context, notes))


def to_date(value: object, context: ConversionContext, notes: list[str] | None = None) -> str:
    try:
        return format_date(_moment(value, context, notes))
    except ConversionError:
        raise ConversionError("expected a date such as MM/DD/YYYY or YYYY-MM-DD") from None


def dotnet_double_text(value: float) -> str:
    """A float as .NET (Core 3.0+) writes a double: the shortest digits that read back the same
    (Python's repr finds the same ones), fixed notation for 1E-05 < |x| < 1E+15 without a
    trailing `.0` (`10`, `0.0001`, `123456789012345`), else `1E+16` / `1.5E-07` (two exponent
    digits at least)."""
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    scale = len(digits) + int(exponent)  # digits before the decimal point
    minus = "-" if sign else ""
    if scale > 15 or scale < -3:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        power = scale - 1
        return f"{minus}{mantissa}E{'-' if power < 0 else '+'}{abs(power):02d}"
    if scale <= 0:
        return f"{minus}0.{'0' * -scale}{text}"
    if len(text) <= scale:
        return f"{minus}{text}{'0' * (scale - len(text))}"
    return f"{minus}{text[:scale]}.{text[scale:]}"


def to_string(value: object, _: ConversionContext, notes: list[str] | None = None) -> str:
    """Text as Kognitiv's .NET platform would write it: `true`/`false`, whole floats without
    `.0`, large and tiny floats as `1E+16`."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError("NaN and Infinity cannot be sent")
        return dotnet_double_text(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


CONVERTERS: dict[str, Converter] = {
    "datetime": to_datetime,
    "local_datetime": to_local_datetime,
    "date": to_date,
    "number": to_number,
    "integer": to_integer,
    "boolean": to_boolean,
    "string": to_string,
}
