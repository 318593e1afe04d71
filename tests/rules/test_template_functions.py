"""Template functions give Prometheus's exact text (cases from its template_test.go)."""

from __future__ import annotations

import math

import pytest

from vigie.rules.template_functions import (
    PURE_FUNCTIONS,
    TemplateFunctionError,
    go_float,
    go_sprintf,
    humanize,
    humanize_1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
    parse_go_duration,
)


def test_humanize() -> None:
    """SI prefixes with 4 significant digits."""
    assert [humanize(v) for v in (0.0, 1.0, 1234567.0, 0.12)] == ["0", "1", "1.235M", "120m"]
    assert humanize("1234567.0") == "1.235M"
    assert humanize(math.inf) == "+Inf"
    assert humanize(-math.inf) == "-Inf"
    assert humanize(math.nan) == "NaN"


def test_humanize_1024() -> None:
    """Binary prefixes; values up to 1 printed as they are."""
    assert [humanize_1024(v) for v in (0.0, 1.0, 1048576.0, 0.12)] == ["0", "1", "1Mi", "0.12"]


def test_humanize_duration() -> None:
    """Days/hours/minutes/seconds, and sub-second prefixes."""
    values = (0, 1, 60, 3600, 86400, 86400 + 3600, -(86400 * 2 + 3600 * 3 + 60 * 4 + 5), 899.99)
    assert [humanize_duration(v) for v in values] == [
        "0s", "1s", "1m 0s", "1h 0m 0s", "1d 0h 0m 0s", "1d 1h 0m 0s", "-2d 3h 4m 5s", "14m 59s",
    ]  # fmt: skip
    small = (0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345)
    assert [humanize_duration(v) for v in small] == [
        "100ms", "100us", "123.5ms", "1m 0s", "1m 0s", "1.234s", "12.35s",
    ]  # fmt: skip


def test_humanize_percentage_and_timestamp() -> None:
    """Ratios as percentages; Unix seconds as Go prints a UTC time."""
    values = (0, 0.1234567, 0.5, 1, 1.5)
    assert [humanize_percentage(v) for v in values] == ["0%", "12.35%", "50%", "100%", "150%"]
    assert humanize_timestamp(1435065584.128) == "2015-06-23 13:19:44.128 +0000 UTC"
    assert humanize_timestamp(0) == "1970-01-01 00:00:00 +0000 UTC"
    # Prometheus goes through model.Time: milliseconds, truncated toward zero.
    assert humanize_timestamp(1.0005) == "1970-01-01 00:00:01 +0000 UTC"
    assert humanize_timestamp(-1.5) == "1969-12-31 23:59:58.5 +0000 UTC"


def test_conversion_errors() -> None:
    """A string that is not a number is refused with strconv's message."""
    with pytest.raises(TemplateFunctionError, match='parsing "abc": invalid syntax'):
        humanize("abc")


def test_string_functions() -> None:
    """title, stripPort, stripDomain, parseDuration, reReplaceAll as Prometheus."""
    assert PURE_FUNCTIONS["title"]("aa bb CC") == "Aa Bb CC"
    assert PURE_FUNCTIONS["title"]("don't stop-me now_x é-a") == "Don'T Stop-Me Now_x É-A"
    assert PURE_FUNCTIONS["stripPort"]("1.2.3.4:5678") == "1.2.3.4"
    assert PURE_FUNCTIONS["stripPort"]("[::1]:9090") == "::1"
    assert PURE_FUNCTIONS["stripDomain"]("foo.example.com:12345") == "foo:12345"
    assert PURE_FUNCTIONS["stripDomain"]("192.168.0.1:9100") == "192.168.0.1:9100"
    assert PURE_FUNCTIONS["parseDuration"]("1h2m10ms") == 3720.01
    assert PURE_FUNCTIONS["reReplaceAll"]("(a)b", "x$1", "ab") == "xa"
    assert PURE_FUNCTIONS["reReplaceAll"]("(?P<host>[^:]+):.*", "${host}", "h:1") == "h"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"), (1.0, "1"), (1.5, "1.5"), (100000.0, "100000"), (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"), (0.0001, "0.0001"), (0.00001, "1e-05"),
        (-2.5e-7, "-2.5e-07"), (0.1 + 0.2, "0.30000000000000004"), (math.inf, "+Inf"),
    ],
)  # fmt: skip
def test_go_float(value: float, text: str) -> None:
    """Floats print as Go's %v: shortest digits, exponent outside [1e-4, 1e6)."""
    assert go_float(value) == text


@pytest.mark.parametrize(
    ("fmt", "args", "text"),
    [
        ("%.2f%%", [12.3456], "12.35%"),
        ("%5.1f|%-6s|%3d", [3.14159, "ab", 7], "  3.1|ab    |  7"),
        ("%e %g %G", [1234.5678, 0.00001234, 1e21], "1.234568e+03 1.234e-05 1E+21"),
        ("%x %X %o %b", [255, 255, 8, 5], "ff FF 10 101"),
        ("%t %v %s", [True, [1, 2], {"a": "b"}], "true [1 2] map[a:b]"),
        ("%q", ["tab\there"], '"tab\\there"'),
        ("%d", ["x"], "%!d(string=x)"),
        ("%s", [], "%!s(MISSING)"),
        ("a", [1], "a%!(EXTRA int=1)"),
        ("%f", [math.inf], "+Inf"),
    ],
)
def test_go_sprintf(fmt: str, args: list[object], text: str) -> None:
    """printf follows Go's fmt, including its error markers."""
    assert go_sprintf(fmt, args) == text


def test_parse_go_duration() -> None:
    """Prometheus durations in milliseconds; invalid ones refused."""
    assert parse_go_duration("1h30m") == 5_400_000
    assert parse_go_duration("1d2h") == 93_600_000
    assert parse_go_duration("2m59s999ms") == 179_999
    assert parse_go_duration("0") == 0
    for bad in ("", "10", "1.5h", "5 m", "m"):
        with pytest.raises(ValueError, match="not a valid duration"):
            parse_go_duration(bad)
