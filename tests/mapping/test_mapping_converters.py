"""mapping.converters: KLS renders every placeholder as text; the converters restore real types."""

from __future__ import annotations

import math
from datetime import UTC
from zoneinfo import ZoneInfo

import pytest

from mapping.converters import (
    CONVERTERS,
    ConversionContext,
    ConversionError,
    to_boolean,
    to_date,
    to_datetime,
    to_integer,
    to_number,
    to_string,
)

UTC_MDY = ConversionContext(UTC, "MDY")
CHICAGO_MDY = ConversionContext(ZoneInfo("America/Chicago"), "MDY")
UTC_DMY = ConversionContext(UTC, "DMY")


def exact(value: object) -> tuple[type, object]:
    """Type and value, so 1000 and 1000.0 (and True and 1) are told apart."""
    return type(value), value


def test_registry_names() -> None:
    assert set(CONVERTERS) == {
        *("datetime", "local_datetime", "date", "number", "integer", "boolean", "string")
    }
    assert CONVERTERS["number"] is to_number
    assert CONVERTERS["datetime"] is to_datetime
    assert issubclass(ConversionError, ValueError)


# --- number --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1000", 1000),
        ("10.00", 10.0),
        ("1,250.50", 1250.5),
        ("1,250", 1250),
        ("1,000,000", 1000000),
        ("-1,250.5", -1250.5),
        (" 7 ", 7),
        ("\t42\n", 42),
        ("0", 0),
        ("-15", -15),
        ("+5", 5),
        ("007", 7),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("-0.25", -0.25),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        (1000, 1000),
        (-3, -3),
        (10.5, 10.5),
        (10.0, 10.0),
        ("9007199254740991", 9007199254740991),  # the largest integer MoEngage stores exactly
    ],
)
def test_to_number(value: object, expected: int | float) -> None:
    assert exact(to_number(value, UTC_MDY)) == exact(expected)


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        float("inf"),
        float("-inf"),
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        "1e400",
        "abc",
        "",
        "   ",
        "10 00",
        "1,25",
        "1,2500",
        "12,50.5",
        "1.000,50",
        "$10",
        "10%",
        "1_000",
        "0x10",
        "1/2",
        "--1",
        "+",
        ".",
        "e5",
        True,
        False,
        None,
        [1],
        {"value": 1},
    ],
)
def test_to_number_rejects(value: object) -> None:
    with pytest.raises(ConversionError):
        to_number(value, UTC_MDY)


def test_conversion_error_does_not_quote_the_value() -> None:
    with pytest.raises(ConversionError) as caught:
        to_number("secret-member-value", UTC_MDY)
    assert "secret-member-value" not in str(caught.value)
    with pytest.raises(ConversionError) as caught:
        to_boolean("secret-member-value", UTC_MDY)
    assert "secret-member-value" not in str(caught.value)


def test_to_number_of_very_long_digit_string_is_a_conversion_error() -> None:
    """BUG: to_number("1" * 4301) raises a plain ValueError from int() (Python's 4300-digit limit
    for int(str)) instead of ConversionError, so the template layer, which only catches
    ConversionError, lets it escape from Mapper.map."""
    try:
        result = to_number("1" * 4301, UTC_MDY)
    except ConversionError:
        return
    assert isinstance(result, int | float)


# --- integer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1000", 1000), ("1,250", 1250), ("10.0", 10), (" 7 ", 7), (12.0, 12), (3, 3), ("-2", -2)],
)
def test_to_integer(value: object, expected: int) -> None:
    assert exact(to_integer(value, UTC_MDY)) == exact(expected)


@pytest.mark.parametrize("value", ["10.5", 0.1, "abc", "NaN", True, float("inf"), None, ""])
def test_to_integer_rejects(value: object) -> None:
    with pytest.raises(ConversionError):
        to_integer(value, UTC_MDY)


# --- boolean -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["True", "true", "TRUE", " True ", "yes", "Yes", "y", "1", "on", "ON", "t", True, 1, 1.0],
)
def test_to_boolean_true(value: object) -> None:
    assert exact(to_boolean(value, UTC_MDY)) == (bool, True)


@pytest.mark.parametrize(
    "value",
    ["False", "false", "FALSE", " False ", "no", "NO", "n", "0", "off", "Off", "f", False, 0, 0.0],
)
def test_to_boolean_false(value: object) -> None:
    assert exact(to_boolean(value, UTC_MDY)) == (bool, False)


@pytest.mark.parametrize(
    "value",
    ["maybe", "", "   ", "2", "-1", "truthy", "yes please", "0.0", "Ja", 2, -1, 0.5, None, [], {}],
)
def test_to_boolean_rejects(value: object) -> None:
    with pytest.raises(ConversionError):
        to_boolean(value, UTC_MDY)


# --- string --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Choice", "Choice"),
        ("  padded  ", "  padded  "),
        ("{{memberEmail}}", "{{memberEmail}}"),
        (1000, "1000"),
        (-3, "-3"),
        (10.5, "10.5"),
        (10.0, "10"),  # as .NET writes a double
        (True, "true"),
        (False, "false"),
        (["a", 1], '["a",1]'),
        ({"k": "é"}, '{"k":"é"}'),
    ],
)
def test_to_string(value: object, expected: str) -> None:
    assert exact(to_string(value, UTC_MDY)) == (str, expected)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_to_string_rejects_non_finite(value: float) -> None:
    assert math.isnan(value) or math.isinf(value)
    with pytest.raises(ConversionError):
        to_string(value, UTC_MDY)


# --- datetime / date ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("03/14/2026 09:30:00", "2026-03-14T09:30:00Z"),
        ("3/20/2026 6:45:10 PM", "2026-03-20T18:45:10Z"),
        ("03/14/2026", "2026-03-14T00:00:00Z"),
        ("2026-03-14T09:30:00.1234567+02:00", "2026-03-14T07:30:00Z"),
        ("2026-03-14", "2026-03-14T00:00:00Z"),
        ("1773480600", "2026-03-14T09:30:00Z"),
        ("1773480600000", "2026-03-14T09:30:00Z"),
        (1773480600, "2026-03-14T09:30:00Z"),
        (1773480600000, "2026-03-14T09:30:00Z"),
    ],
)
def test_to_datetime(value: object, expected: str) -> None:
    assert to_datetime(value, UTC_MDY) == expected


def test_to_datetime_uses_context_zone_and_order() -> None:
    assert to_datetime("03/14/2026 09:30:00", CHICAGO_MDY) == "2026-03-14T14:30:00Z"
    assert to_datetime("01/15/2026 09:30:00", CHICAGO_MDY) == "2026-01-15T15:30:00Z"
    assert to_datetime("14/03/2026 09:30:00", UTC_DMY) == "2026-03-14T09:30:00Z"
    with pytest.raises(ConversionError):
        to_datetime("14/03/2026 09:30:00", UTC_MDY)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("03/14/2026", "2026-03-14"),
        ("2026-03-14", "2026-03-14"),
        ("03/14/2026 09:30:00", "2026-03-14"),
        ("2026-03-14T23:30:00-05:00", "2026-03-14"),  # the date as written
        (1773480600, "2026-03-14"),
    ],
)
def test_to_date(value: object, expected: str) -> None:
    assert to_date(value, UTC_MDY) == expected


def test_to_date_in_program_zone() -> None:
    assert to_date("03/14/2026", CHICAGO_MDY) == "2026-03-14"
    assert to_date("3/14/2026 9:30:00 PM", CHICAGO_MDY) == "2026-03-14"  # local, not UTC


@pytest.mark.parametrize("value", ["13/45/2026", "tomorrow", "", True, False, None, "1000", [1]])
def test_date_converters_reject(value: object) -> None:
    with pytest.raises(ConversionError):
        to_datetime(value, UTC_MDY)
    with pytest.raises(ConversionError):
        to_date(value, UTC_MDY)
