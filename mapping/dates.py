"""Parse the date renderings Kognitiv (a .NET platform) produces; format them the way MoEngage
recognises dates (`YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DD`). Anything else is stored by MoEngage as
a plain string and silently breaks date segments and triggers, so this module is strict."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Literal

DateOrder = Literal["MDY", "DMY"]

# 3/20/2026, 03/20/2026 09:30, 3/20/2026 6:45:10 PM, 03/20/2026 09:30:00.1234567 +02:00
_SLASH = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?\s*([AaPp][Mm])?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)
# ISO 8601 calendar dates only (fromisoformat alone would also take week dates and basic format).
_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?"
    r"\s*(?:Z|z|[+-]\d{2}(?::?\d{2})?)?",
    re.ASCII,
)
_EPOCH = re.compile(r"-?\d{9,13}(?:\.\d+)?", re.ASCII)
_EPOCH_MS_THRESHOLD = 100_000_000_000  # larger than this is milliseconds (year 5138 in seconds)


@dataclass(frozen=True, slots=True)
class ParsedMoment:
    """A parsed value: an aware instant, and whether the source carried a time of day."""

    instant: datetime
    has_time: bool
    local_date: date


def _offset(text: str | None, default: tzinfo) -> tzinfo:
    if not text:
        return default
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(timedelta(minutes=sign * (hours * 60 + minutes)))


def _from_slash(match: re.Match[str], zone: tzinfo, order: DateOrder) -> ParsedMoment:
    first, second, year, hour, minute, second_s, fraction, meridiem, offset = match.groups()
    month, day = (int(first), int(second)) if order == "MDY" else (int(second), int(first))
    if hour is None:
        local = datetime(int(year), month, day, tzinfo=zone)
        return ParsedMoment(local, False, local.date())
    h = int(hour)
    if meridiem:
        if not 1 <= h <= 12:
            raise ValueError("hour out of range for AM/PM")
        h = h % 12 + (12 if meridiem.lower() == "pm" else 0)
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    zone = _offset(offset, zone) if offset else zone
    local = datetime(int(year), month, day, h, int(minute), int(second_s or 0), micro, tzinfo=zone)
    return ParsedMoment(local, True, local.date())


def _from_iso(text: str, zone: tzinfo) -> ParsedMoment:
    if len(text) == 10:
        day = date.fromisoformat(text)
        local = datetime(day.year, day.month, day.day)
        return ParsedMoment(local.replace(tzinfo=zone), False, day)
    value = datetime.fromisoformat(text.replace(",", ".").replace("z", "Z"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return ParsedMoment(value, True, value.date())


def _from_epoch(number: float) -> ParsedMoment:
    seconds = number / 1000 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    instant = datetime.fromtimestamp(seconds, UTC)
    return ParsedMoment(instant, True, instant.date())


def parse_moment(
    value: object, zone: tzinfo, order: DateOrder = "MDY", *, allow_epoch: bool = True
) -> ParsedMoment | None:
    """Parse a Kognitiv date or date-time; None when the value is not a recognised format.

    Naive values are read in `zone` (the program's time zone, `KOGNITIV_TIMEZONE`)."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return _from_epoch(float(value)) if allow_epoch and value == value else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        moment = None
        if match := _SLASH.fullmatch(text):
            moment = _from_slash(match, zone, order)
        elif _ISO.fullmatch(text):
            moment = _from_iso(text.replace(" ", "T", 1) if len(text) > 10 else text, zone)
        elif allow_epoch and _EPOCH.fullmatch(text):
            moment = _from_epoch(float(text))
        if moment is not None:
            moment.instant.astimezone(UTC)  # out of range in UTC (year 0 or 10000) -> None
        return moment
    except (ValueError, OverflowError, OSError):
        return None


def format_datetime(moment: ParsedMoment) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC: the one date-time shape MoEngage segments on."""
    t = moment.instant.astimezone(UTC)
    fields = (t.year, t.month, t.day, t.hour, t.minute, t.second)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % fields  # noqa: UP031 - half an f-string's cost


def format_date(moment: ParsedMoment) -> str:
    """`YYYY-MM-DD`: the calendar date as written when no time was given, else the UTC date."""
    if not moment.has_time:
        return moment.local_date.isoformat()
    return moment.instant.astimezone(UTC).date().isoformat()
