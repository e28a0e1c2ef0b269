"""mapping.dates: every date rendering KLS (a .NET platform) produces, read strictly.

Outputs are pinned exactly: MoEngage segments on `YYYY-MM-DDTHH:MM:SSZ` and `YYYY-MM-DD` only.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mapping.dates import format_date, format_datetime, parse_moment

CHICAGO = ZoneInfo("America/Chicago")
MOENGAGE_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


def as_datetime(value: object, zone=UTC, order="MDY", **kwargs) -> str | None:
    moment = parse_moment(value, zone, order, **kwargs)
    return None if moment is None else format_datetime(moment)


def as_date(value: object, zone=UTC, order="MDY", **kwargs) -> str | None:
    moment = parse_moment(value, zone, order, **kwargs)
    return None if moment is None else format_date(moment)


# --- US slash formats -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03/14/2026 09:30:00", "2026-03-14T09:30:00Z"),
        ("12/31/2026 23:59:59", "2026-12-31T23:59:59Z"),
        ("01/01/2026 00:00:00", "2026-01-01T00:00:00Z"),
        ("3/4/2026 09:30:00", "2026-03-04T09:30:00Z"),
        ("03/14/2026 9:05:07", "2026-03-14T09:05:07Z"),
        ("03/14/2026 09:30", "2026-03-14T09:30:00Z"),
        ("03/14/2026T09:30:00", "2026-03-14T09:30:00Z"),
        ("  03/14/2026 09:30:00  ", "2026-03-14T09:30:00Z"),
        ("03/14/2026 09:30:00.5", "2026-03-14T09:30:00Z"),
        ("03/14/2026 09:30:00.1234567", "2026-03-14T09:30:00Z"),
        ("03/14/2026 09:30:00Z", "2026-03-14T09:30:00Z"),
        ("03/14/2026 09:30:00 +02:00", "2026-03-14T07:30:00Z"),
        ("03/14/2026 09:30:00 -0500", "2026-03-14T14:30:00Z"),
        ("02/29/2028 12:00:00", "2028-02-29T12:00:00Z"),
    ],
)
def test_slash_date_time_24_hour(text: str, expected: str) -> None:
    assert as_datetime(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3/20/2026 6:45:10 PM", "2026-03-20T18:45:10Z"),
        ("3/20/2026 6:45:10 AM", "2026-03-20T06:45:10Z"),
        ("3/20/2026 6:45:10 pm", "2026-03-20T18:45:10Z"),
        ("3/20/2026 6:45:10PM", "2026-03-20T18:45:10Z"),
        ("3/20/2026 6:45 PM", "2026-03-20T18:45:00Z"),
        # 12 AM is midnight, 12 PM is noon
        ("3/20/2026 12:00:00 AM", "2026-03-20T00:00:00Z"),
        ("3/20/2026 12:30:15 AM", "2026-03-20T00:30:15Z"),
        ("3/20/2026 12:00:00 PM", "2026-03-20T12:00:00Z"),
        ("3/20/2026 12:59:59 PM", "2026-03-20T12:59:59Z"),
        ("3/20/2026 1:00:00 AM", "2026-03-20T01:00:00Z"),
        ("3/20/2026 1:00:00 PM", "2026-03-20T13:00:00Z"),
        ("3/20/2026 11:59:59 PM", "2026-03-20T23:59:59Z"),
        ("12/31/2026 11:59:59 PM", "2026-12-31T23:59:59Z"),
    ],
)
def test_slash_date_time_12_hour(text: str, expected: str) -> None:
    assert as_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3/20/2026 0:30:00 AM",
        "3/20/2026 13:00:00 PM",
        "3/20/2026 00:00:00 PM",
        "3/20/2026 24:00:00",
    ],
)
def test_slash_hours_out_of_range_are_rejected(text: str) -> None:
    assert parse_moment(text, UTC) is None


def test_slash_date_only() -> None:
    moment = parse_moment("03/14/2026", UTC)
    assert moment is not None
    assert moment.has_time is False
    assert moment.local_date == date(2026, 3, 14)
    assert format_date(moment) == "2026-03-14"
    assert format_datetime(moment) == "2026-03-14T00:00:00Z"
    assert as_date("3/4/2026") == "2026-03-04"


def test_date_with_time_reports_has_time() -> None:
    moment = parse_moment("03/14/2026 09:30:00", UTC)
    assert moment is not None
    assert moment.has_time is True
    assert moment.instant == datetime(2026, 3, 14, 9, 30, tzinfo=UTC)


# --- ISO 8601 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-14T09:30:00Z", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30:00z", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30:00", "2026-03-14T09:30:00Z"),
        ("2026-03-14 09:30:00", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30:00+02:00", "2026-03-14T07:30:00Z"),
        ("2026-03-14T09:30:00-05:00", "2026-03-14T14:30:00Z"),
        ("2026-03-14T09:30:00+0200", "2026-03-14T07:30:00Z"),
        ("2026-03-14T09:30:00+02", "2026-03-14T07:30:00Z"),
        ("2026-03-14T09:30:00.5Z", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30:00.123456Z", "2026-03-14T09:30:00Z"),
        # .NET's "o" format: seven fractional digits
        ("2026-03-14T09:30:00.1234567Z", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30:00.1234567", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30:00.1234567+02:00", "2026-03-14T07:30:00Z"),
        ("2026-03-14T09:30:00.9999999-06:00", "2026-03-14T15:30:00Z"),
        ("2026-03-14T09:30:00,5Z", "2026-03-14T09:30:00Z"),
        ("2026-03-14T23:30:00-05:00", "2026-03-15T04:30:00Z"),
    ],
)
def test_iso_8601(text: str, expected: str) -> None:
    assert as_datetime(text) == expected


def test_iso_date_only() -> None:
    moment = parse_moment("2026-03-14", UTC)
    assert moment is not None
    assert moment.has_time is False
    assert format_date(moment) == "2026-03-14"
    assert format_datetime(moment) == "2026-03-14T00:00:00Z"


def test_seven_digit_fraction_keeps_microseconds() -> None:
    moment = parse_moment("2026-03-14T09:30:00.1234567Z", UTC)
    assert moment is not None
    assert moment.instant == datetime(2026, 3, 14, 9, 30, 0, 123456, tzinfo=UTC)
    slash = parse_moment("03/14/2026 09:30:00.1234567", UTC)
    assert slash is not None
    assert slash.instant == datetime(2026, 3, 14, 9, 30, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["2026-W11-6", "20260314", "2026-03", "2026-3-14", "2026-03-14T9:30"]
)
def test_iso_variants_outside_the_calendar_format_are_rejected(text: str) -> None:
    assert parse_moment(text, UTC) is None


# --- epoch ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [1773480600, 1773480600.0, 1773480600000, "1773480600", "1773480600000", " 1773480600 "],
)
def test_epoch_seconds_and_milliseconds(value: object) -> None:
    assert as_datetime(value) == "2026-03-14T09:30:00Z"


def test_epoch_details() -> None:
    assert as_datetime(1773480600.75) == "2026-03-14T09:30:00Z"
    assert as_datetime("1773480600.75") == "2026-03-14T09:30:00Z"
    assert as_datetime(0) == "1970-01-01T00:00:00Z"
    assert as_datetime("999999999") == "2001-09-09T01:46:39Z"  # nine digits: the shortest
    assert parse_moment("-100000000", UTC) is None  # 1966: not a plausible epoch as text
    assert as_datetime(-100000000) == "1966-10-31T14:13:20Z"  # a number is an epoch by type
    assert as_date(1773480600) == "2026-03-14"
    # epoch values carry their own zone: the program zone does not shift them
    assert as_datetime(1773480600, CHICAGO) == "2026-03-14T09:30:00Z"


def test_epoch_strings_shorter_than_nine_digits_are_not_dates() -> None:
    assert parse_moment("12345678", UTC) is None
    assert parse_moment("1000", UTC) is None
    assert parse_moment("12345678901234", UTC) is None  # 14 digits


def test_allow_epoch_false_refuses_numbers_and_numeric_strings() -> None:
    assert parse_moment(1773480600, UTC, allow_epoch=False) is None
    assert parse_moment("1773480600", UTC, allow_epoch=False) is None
    assert parse_moment("1000", UTC, allow_epoch=False) is None
    assert as_datetime("03/14/2026 09:30:00", allow_epoch=False) == "2026-03-14T09:30:00Z"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 1e300, -1e300])
def test_non_finite_or_huge_epoch_numbers_are_rejected(value: float) -> None:
    assert parse_moment(value, UTC) is None


# --- date order ----------------------------------------------------------------------------


def test_dmy_order() -> None:
    assert as_datetime("14/03/2026 09:30:00", order="DMY") == "2026-03-14T09:30:00Z"
    assert as_date("14/03/2026", order="DMY") == "2026-03-14"
    assert as_datetime("4/3/2026 6:45:10 PM", order="DMY") == "2026-03-04T18:45:10Z"
    assert as_datetime("03/04/2026", order="DMY") == "2026-04-03T00:00:00Z"
    assert as_datetime("03/04/2026", order="MDY") == "2026-03-04T00:00:00Z"
    # a US date with a day above 12 is invalid in DMY, and vice versa
    assert parse_moment("03/14/2026", UTC, "DMY") is None
    assert parse_moment("14/03/2026", UTC, "MDY") is None
    # ISO and epoch do not depend on the order
    assert as_datetime("2026-03-14T09:30:00Z", order="DMY") == "2026-03-14T09:30:00Z"
    assert as_datetime("1773480600", order="DMY") == "2026-03-14T09:30:00Z"


# --- program time zone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # CST (UTC-6) before the 2026 DST switch on March 8
        ("01/15/2026 09:30:00", "2026-01-15T15:30:00Z"),
        ("03/07/2026 09:30:00", "2026-03-07T15:30:00Z"),
        # CDT (UTC-5) after it
        ("03/14/2026 09:30:00", "2026-03-14T14:30:00Z"),
        ("07/04/2026 12:00:00", "2026-07-04T17:00:00Z"),
        ("3/20/2026 6:45:10 PM", "2026-03-20T23:45:10Z"),
        ("3/8/2026 3:30:00 AM", "2026-03-08T08:30:00Z"),  # just after the switch
        ("3/8/2026 1:30:00 AM", "2026-03-08T07:30:00Z"),  # just before it
        ("11/02/2026 09:00:00", "2026-11-02T15:00:00Z"),  # back on CST after November 1
        ("2026-03-14T09:30:00", "2026-03-14T14:30:00Z"),
        ("2026-03-14 21:30:00", "2026-03-15T02:30:00Z"),
        # explicit offsets and Z win over the program zone
        ("2026-03-14T09:30:00Z", "2026-03-14T09:30:00Z"),
        ("2026-03-14T09:30:00+01:00", "2026-03-14T08:30:00Z"),
        ("03/14/2026 09:30:00 Z", "2026-03-14T09:30:00Z"),
    ],
)
def test_naive_values_are_read_in_the_program_zone(text: str, expected: str) -> None:
    assert as_datetime(text, CHICAGO) == expected


def test_date_only_in_program_zone() -> None:
    # midnight local is 05:00Z during CDT, 06:00Z during CST
    assert as_datetime("03/14/2026", CHICAGO) == "2026-03-14T05:00:00Z"
    assert as_datetime("2026-01-15", CHICAGO) == "2026-01-15T06:00:00Z"
    # a date without a time stays the calendar date as written
    assert as_date("03/14/2026", CHICAGO) == "2026-03-14"
    assert as_date("2026-03-14", CHICAGO) == "2026-03-14"


def test_format_date_of_a_date_time_is_the_local_calendar_date() -> None:
    # 9:30 PM in Chicago on March 14 is already March 15 in UTC, but the date is March 14
    assert as_date("3/14/2026 9:30:00 PM", CHICAGO) == "2026-03-14"
    assert as_date("2026-03-14T23:30:00-05:00") == "2026-03-14"


def test_fixed_offset_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert as_datetime("03/14/2026 09:30:00", plus_two) == "2026-03-14T07:30:00Z"


# --- invalid values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "13/45/2026",
        "02/30/2026",
        "02/29/2026",
        "00/10/2026",
        "03/14/26",
        "03/14/2026 25:00:00",
        "03/14/2026 09:60:00",
        "03/14/2026 09:30:61",
        "2026-13-01",
        "2026-02-30T10:00:00Z",
        "tomorrow",
        "now",
        "",
        "   ",
        "03-14-2026",
        "March 14, 2026",
        "Sat, 14 Mar 2026 09:30:00 GMT",
        "03/14/2026 09:30:00 XYZ",
        "{{issuedDate}}",
        True,
        False,
        None,
        [],
        {},
        ["03/14/2026"],
        {"date": "03/14/2026"},
    ],
)
def test_invalid_values_are_none(value: object) -> None:
    assert parse_moment(value, UTC) is None
    assert parse_moment(value, CHICAGO, "DMY") is None


# --- formatting ----------------------------------------------------------------------------


def test_format_datetime_shape() -> None:
    moment = parse_moment("2026-03-14T09:30:00.1234567+05:30", UTC)
    assert moment is not None
    assert format_datetime(moment) == "2026-03-14T04:00:00Z"
    assert format_date(moment) == "2026-03-14"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01/01/1000 00:00:00", "1000-01-01T00:00:00Z"),
        ("12/31/9999 23:59:59", "9999-12-31T23:59:59Z"),
    ],
)
def test_format_datetime_at_four_digit_year_limits(text: str, expected: str) -> None:
    assert as_datetime(text) == expected


@pytest.mark.parametrize(
    "text", ["01/01/0999 10:00:00", "0999-01-01T10:00:00Z", "06/15/0050 12:00"]
)
def test_years_before_1000_never_give_a_short_year(text: str) -> None:
    """BUG: format_datetime uses strftime("%Y"), which glibc does not zero-pad: 01/01/0999
    10:00:00 comes out as "999-01-01T10:00:00Z", a shape MoEngage stores as plain text (and which
    policy then refuses as a current_time). Either "0999-01-01T10:00:00Z" or refusing the value
    (None) would be correct."""
    result = as_datetime(text)
    assert result is None or re.fullmatch(MOENGAGE_DATETIME, result), result


@pytest.mark.parametrize(
    ("text", "zone"),
    [
        ("01/01/0001 00:30:00 +01:00", UTC),
        ("0001-01-01T00:30:00+01:00", UTC),
        ("12/31/9999 23:00:00", CHICAGO),
        ("9999-12-31T23:00:00", CHICAGO),
    ],
)
def test_values_whose_utc_instant_is_out_of_range_never_raise(text: str, zone) -> None:
    """BUG: parse_moment accepts these, but format_datetime raises OverflowError when converting
    to UTC (year 0 or 10000). A parse + format must either give a MoEngage date-time or the
    value must be refused (parse_moment -> None); it must never raise."""
    moment = parse_moment(text, zone)
    if moment is not None:
        assert re.fullmatch(MOENGAGE_DATETIME, format_datetime(moment))
