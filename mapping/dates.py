"""Parse the date renderings Kognitiv (a .NET platform) produces; format them the way MoEngage
recognises dates (`YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DD`). Anything else is stored by MoEngage as
a plain string and silently breaks date segments and triggers, so this module is strict.

Local (naive) times are read the way .NET's `TimeZoneInfo.ConvertTimeToUtc` reads them: a time
that occurs twice when clocks go back is standard time (the later reading); a time inside the
spring-forward gap does not exist and is moved forward by the gap. Both come with a note for the
warnings, and so do digits read as an epoch (saying seconds or milliseconds).

A parsed value keeps the offset where it was local (its own, else the program's zone; a `Z`, like
an epoch, is an instant seen in the program's zone), so one instant gives one calendar day
(`| date`) and one wall-clock time (MoEngage's `user_time`) whether it came as text, `/Date(ms)/`
or an epoch."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
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
# Digits as text are an epoch only where the instant is plausible for a loyalty event: in
# 2000-2099 read as seconds, or read as milliseconds. The two windows never overlap, so the
# magnitude says which form it is; anything else (yyyyMMddHHmm, an id) is not a date-time.
PLAUSIBLE_EPOCH_SECONDS = (946_684_800, 4_102_444_800)  # 2000-01-01 .. 2100-01-01 UTC
# .NET's JSON date: /Date(1709820309000)/ or /Date(1709820309000+0100)/, slashes maybe escaped.
# The milliseconds are UTC; the offset only says where the value was local.
_DOTNET_JSON = re.compile(r"\\?/Date\((-?\d{1,15})([+-]\d{4})?\)\\?/", re.ASCII)
_EPOCH_MS_THRESHOLD = 100_000_000_000  # larger than this is milliseconds (year 5138 in seconds)
_DOTNET_MIN_VALUE = datetime(1, 1, 1)  # DateTime.MinValue: .NET's "no date"
_EPOCH_START = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO = timedelta(0)
_FIRST_CHARACTERS = frozenset(
    "0123456789-/\\"
)  # what _SLASH, _ISO, _DOTNET_JSON, _EPOCH start with
AMBIGUOUS_NOTE = (
    "the local time occurs twice in {zone} (clocks went back); it was read as standard time "
    "(the later reading, UTC{offset}), as Kognitiv's platform reads it"
)
EPOCH_SECONDS_NOTE = "the digits were read as epoch seconds (UTC)"
EPOCH_MILLISECONDS_NOTE = "the digits were read as epoch milliseconds (UTC)"
GAP_NOTE = (
    "the local time does not exist in {zone} (clocks went forward); it was moved forward by the gap"
)


@dataclass(frozen=True, slots=True)
class ParsedMoment:
    """A parsed value: an aware instant at the offset where it was local, whether the source
    carried a time of day, the calendar date as written (or, for epoch, `/Date(ms)/` and `Z`
    values, in the program's zone), whether it is one of .NET's "no value" dates
    (DateTime.MinValue, epoch 0), and a note worth a warning."""

    instant: datetime
    has_time: bool
    local_date: date
    empty: bool = False
    note: str | None = None


def _offset(text: str | None, default: tzinfo) -> tzinfo:
    if not text:
        return default
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(timedelta(minutes=sign * (hours * 60 + minutes)))


# tz database zones that are UTC under another name: no transitions, ever (zoneinfo keeps
# them as data, so reading a time in them costs as much as in a zone with daylight saving).
_UTC_KEYS = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
     "Etc/GMT", "GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "Etc/Greenwich", "Greenwich",
     "GMT0", "GMT+0", "GMT-0"}
)  # fmt: skip


@lru_cache(maxsize=64)
def _one_offset(zone: tzinfo) -> bool:
    """UTC under any of its names, or a fixed offset: one offset forever."""
    return zone is UTC or type(zone) is timezone or getattr(zone, "key", None) in _UTC_KEYS


def localize(naive: datetime, zone: tzinfo) -> tuple[datetime, str | None]:
    """`naive` read in `zone` as .NET does, and a note when the wall-clock time was ambiguous or
    did not exist. A repeated hour is read as the later reading (fold=1): the offset after
    clocks went back, which .NET calls standard time in every zone, Europe/Dublin included
    (its zone data marks winter time with a negative DST offset, so `dst()` cannot tell)."""
    if _one_offset(zone):
        return naive.replace(tzinfo=zone), None  # nothing to resolve
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return early, None
    name = str(zone)
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return early, GAP_NOTE.format(zone=name)  # fold 0 uses the offset before the jump
    return late, AMBIGUOUS_NOTE.format(zone=name, offset=_utc_offset_text(late))


def _utc_offset_text(moment: datetime) -> str:
    """`+00:00`, `-05:00`: the offset a reading used, for notes."""
    minutes = int((moment.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _from_slash(match: re.Match[str], zone: tzinfo, order: DateOrder) -> ParsedMoment:
    first, second, year, hour, minute, second_s, fraction, meridiem, offset = match.groups()
    month, day = (int(first), int(second)) if order == "MDY" else (int(second), int(first))
    if hour is None:
        naive = datetime(int(year), month, day)
        local, note = localize(naive, zone)
        return ParsedMoment(local, False, naive.date(), naive == _DOTNET_MIN_VALUE, note)
    h = int(hour)
    if meridiem:
        if not 1 <= h <= 12:
            raise ValueError("hour out of range for AM/PM")
        h = h % 12 + (12 if meridiem.lower() == "pm" else 0)
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    naive = datetime(int(year), month, day, h, int(minute), int(second_s or 0), micro)
    if offset:
        local, note = naive.replace(tzinfo=_offset(offset, zone)), None
    else:
        local, note = localize(naive, zone)
    if _is_utc_designator(offset):
        return _seen_in(local, zone, naive == _DOTNET_MIN_VALUE)
    return ParsedMoment(local, True, naive.date(), naive == _DOTNET_MIN_VALUE, note)


def _from_iso(text: str, zone: tzinfo) -> ParsedMoment:
    if len(text) == 10:
        day = date.fromisoformat(text)
        naive = datetime(day.year, day.month, day.day)
        local, note = localize(naive, zone)
        return ParsedMoment(local, False, day, naive == _DOTNET_MIN_VALUE, note)
    value = datetime.fromisoformat(text.replace(",", ".").replace("z", "Z"))
    empty = value.replace(tzinfo=None) == _DOTNET_MIN_VALUE
    if _is_utc_designator(text[-1]):
        return _seen_in(value, zone, empty)
    note = None
    if value.tzinfo is None:
        value, note = localize(value, zone)
    return ParsedMoment(value, True, value.date(), empty, note)


def _is_utc_designator(text: str | None) -> bool:
    """`Z`: .NET writes it for a UTC DateTime, an instant like `/Date(ms)/` that says nothing of
    where it was local (an explicit `+00:00` does: it is kept as that offset)."""
    return text in ("Z", "z")


def _seen_in(instant: datetime, zone: tzinfo, empty: bool) -> ParsedMoment:
    """A UTC instant seen in the program's zone: its day and wall-clock time there, as for an
    epoch or `/Date(ms)/`."""
    if empty:  # DateTime.MinValue: no value, and no earlier day to see it on
        return ParsedMoment(instant, True, instant.date(), True)
    local = instant.astimezone(zone)
    return ParsedMoment(local, True, local.date(), empty)


def _from_epoch(number: float, zone: tzinfo, note: str | None = None) -> ParsedMoment:
    seconds = number / 1000 if abs(number) >= _EPOCH_MS_THRESHOLD else number
    local = datetime.fromtimestamp(seconds, UTC).astimezone(zone)  # an instant, seen in `zone`
    return ParsedMoment(local, True, local.date(), number == 0, note)


def _from_epoch_text(text: str, zone: tzinfo) -> ParsedMoment | None:
    """Digits as text: epoch seconds or milliseconds where that is a plausible instant (with a
    note saying which form was assumed), else None."""
    number = float(text)
    low, high = PLAUSIBLE_EPOCH_SECONDS
    if low <= number < high:
        return _from_epoch(number, zone, EPOCH_SECONDS_NOTE)
    if low * 1000 <= number < high * 1000:
        return _from_epoch(number, zone, EPOCH_MILLISECONDS_NOTE)
    return None


def is_epoch_text(text: str) -> bool:
    """Digits that `parse_moment` reads as a plausible epoch (seconds or milliseconds)."""
    text = text.strip()
    if not _EPOCH.fullmatch(text):
        return False
    low, high = PLAUSIBLE_EPOCH_SECONDS
    number = float(text)
    return low <= number < high or low * 1000 <= number < high * 1000


def is_dotnet_json_date(text: str) -> bool:
    """.NET's `/Date(ms)/` or `/Date(ms±hhmm)/`: an instant to the millisecond."""
    return _DOTNET_JSON.fullmatch(text.strip()) is not None


def _from_dotnet_json(match: re.Match[str], zone: tzinfo) -> ParsedMoment:
    """The milliseconds are UTC; the value was local at its offset, or (without one) in the
    program's zone, the way an epoch is: the same instant gives the same day either way."""
    milliseconds, offset = match.groups()
    instant = _EPOCH_START + timedelta(milliseconds=int(milliseconds))
    empty = int(milliseconds) == 0 or instant.replace(tzinfo=None) == _DOTNET_MIN_VALUE
    if empty:
        return ParsedMoment(instant, True, instant.date(), True)
    local = instant.astimezone(_offset(offset, UTC) if offset else zone)
    return ParsedMoment(local, True, local.date(), False)


def parse_moment(
    value: object, zone: tzinfo, order: DateOrder = "MDY", *, allow_epoch: bool = True
) -> ParsedMoment | None:
    """Parse a Kognitiv date or date-time; None when the value is not a recognised format.

    Naive values are read in `zone` (the program's time zone, `KOGNITIV_TIMEZONE`)."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return _from_epoch(float(value), zone) if allow_epoch and value == value else None
        if not isinstance(value, str):
            return None
        text = value.strip()
        if text[:1] not in _FIRST_CHARACTERS:  # names, cities, ids: no format can match
            return None
        moment = None
        if match := _SLASH.fullmatch(text):
            moment = _from_slash(match, zone, order)
        elif _ISO.fullmatch(text):
            moment = _from_iso(text.replace(" ", "T", 1) if len(text) > 10 else text, zone)
        elif match := _DOTNET_JSON.fullmatch(text):
            moment = _from_dotnet_json(match, zone)
        elif allow_epoch and _EPOCH.fullmatch(text):
            moment = _from_epoch_text(text, zone)
        if moment is not None and moment.empty:  # never sent: a representable stand-in instant
            return replace(moment, instant=_DOTNET_MIN_VALUE.replace(tzinfo=UTC), note=None)
        if moment is not None:
            moment.instant.astimezone(UTC)  # out of range in UTC (year 0 or 10000) -> None
        return moment
    except (ValueError, OverflowError, OSError):
        return None


# The plain shapes with their fields' ranges in the pattern (month 01-12, day 01-31, hour 00-23,
# minute and second 00-59), so only a day past the 28th or year 0 or 1 needs a calendar check.
_PLAIN_SLASH = re.compile(
    r"(?:0[1-9]|[12]\d|3[01])/(?:0[1-9]|[12]\d|3[01])/\d{4} (?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d",
    re.ASCII,
)
_PLAIN_ISO_UTC = re.compile(
    r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\dZ", re.ASCII
)
# .NET's US general format: 3/20/2026 6:45:10 PM (month, day and hour not zero-padded)
_PLAIN_12_HOUR = re.compile(
    r"(\d\d?)/(\d\d?)/(\d{4}) (\d\d?):([0-5]\d):([0-5]\d) ([AP]M)", re.ASCII
)
_PADDED = {f"{n}": f"{n:02d}" for n in range(1, 32)} | {f"{n:02d}": f"{n:02d}" for n in range(32)}
del _PADDED["00"]
_MONTHS = {text: padded for text, padded in _PADDED.items() if padded <= "12"}
_HOUR_24 = {f"{text}{meridiem}": f"{int(text) % 12 + (12 if meridiem == 'PM' else 0):02d}"
            for text in (*_PADDED, ) if int(text) <= 12 for meridiem in ("AM", "PM")}  # fmt: skip
_UTC_LIKE: dict[tzinfo, bool] = {}  # zone -> one offset forever, and that offset is zero


def _utc_like(zone: tzinfo) -> bool:
    utc = _one_offset(zone) and zone.utcoffset(None) in (None, _ZERO)
    _UTC_LIKE[zone] = utc
    return utc


def _checked(year: str, month: str, day: str, time: str) -> bool:
    """Whether a day past the 28th, or a date in year 0 or 1, exists and is not .NET's empty
    date (DateTime.MinValue, `0001-01-01 00:00:00`)."""
    if year == "0000" or (year == "0001" and month + day + time == "010100:00:00"):
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def plain_datetime_text(text: str, zone: tzinfo, order: DateOrder) -> str | None:
    """`format_datetime(parse_moment(text, zone, order))` for the shapes Kognitiv sends most,
    read without the format ladder: MoEngage's own `YYYY-MM-DDTHH:MM:SSZ` (any zone), and in a
    zone that is UTC zero-padded `MM/DD/YYYY HH:MM:SS` and .NET's 12-hour `M/D/YYYY h:mm:ss PM`
    (day first under DMY). None for anything else, including DateTime.MinValue and dates that
    do not exist: the full parser decides."""
    size = len(text)
    if size == 20 and text[-1] == "Z":
        if _PLAIN_ISO_UTC.fullmatch(text) is None:
            return None
        day = text[8:10]
        year = text[:4]
        if (day > "28" or year <= "0001") and not _checked(year, text[5:7], day, text[11:19]):
            return None
        return text
    if size < 19 or size > 22:
        return None
    utc = _UTC_LIKE.get(zone)
    if utc is None:
        utc = _utc_like(zone)
    if not utc:
        return None
    if text[-1] == "M":
        return _plain_12_hour(text, order)
    if size == 19:
        if _PLAIN_SLASH.fullmatch(text) is None:
            return None
        month, day = (text[:2], text[3:5]) if order == "MDY" else (text[3:5], text[:2])
        year = text[6:10]
        if month > "12":
            return None
        if (day > "28" or year <= "0001") and not _checked(year, month, day, text[11:]):
            return None
        return f"{year}-{month}-{day}T{text[11:]}Z"
    return None


def _plain_12_hour(text: str, order: DateOrder) -> str | None:
    """`M/D/YYYY h:mm:ss AM|PM` in a zone that is UTC, as `plain_datetime_text` promises."""
    match = _PLAIN_12_HOUR.fullmatch(text)
    if match is None:
        return None
    first, second, year, hour, minute, second_s, meridiem = match.groups()
    month, day = (_MONTHS.get(first), _PADDED.get(second)) if order == "MDY" else (
        _MONTHS.get(second), _PADDED.get(first))  # fmt: skip
    hour = _HOUR_24.get(hour + meridiem)
    if month is None or day is None or hour is None:
        return None
    time = f"{hour}:{minute}:{second_s}"
    if (day > "28" or year <= "0001") and not _checked(year, month, day, time):
        return None
    return f"{year}-{month}-{day}T{time}Z"


def format_datetime(moment: ParsedMoment) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` in UTC: the one date-time shape MoEngage segments on."""
    t = moment.instant.astimezone(UTC)
    fields = (t.year, t.month, t.day, t.hour, t.minute, t.second)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % fields  # noqa: UP031 - half an f-string's cost


def format_local_datetime(moment: ParsedMoment) -> str:
    """The wall-clock time where the value was local (its own offset, else the program's zone),
    in MoEngage's `YYYY-MM-DDTHH:MM:SSZ` shape: what MoEngage's `user_time` holds ("Local time at
    which the event happened", used as is). A time inside a spring-forward gap reads as the
    clock showed it (moved forward by the gap)."""
    t = moment.instant.astimezone(UTC).astimezone(moment.instant.tzinfo)
    fields = (t.year, t.month, t.day, t.hour, t.minute, t.second)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % fields  # noqa: UP031 - as format_datetime


def format_date(moment: ParsedMoment) -> str:
    """`YYYY-MM-DD`: the calendar date as written (a birthday stays on its day in every zone)."""
    return moment.local_date.isoformat()
