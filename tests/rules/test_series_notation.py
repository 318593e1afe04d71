"""promtool's expanding notation for input series."""

from __future__ import annotations

import math

import pytest

from vigie.rules.series_notation import UnsupportedNotation, parse_metric, parse_series_values
from vigie.store.interface import is_stale


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("-2+4x3", [-2.0, 2.0, 6.0, 10.0]),
        (" 1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
        (" 1x4", [1.0] * 5),
        ("1 _x3 7", [1.0, None, None, None, 7.0]),
        ("0x10", [0.0] * 11),
        ("10+10x2 30+20x5", [10.0, 20.0, 30.0, 30.0, 50.0, 70.0, 90.0, 110.0, 130.0]),
        ("1 _ 2", [1.0, None, 2.0]),
        ("1", [1.0]),
        ("", []),
        ("1e3 -Inf", [1000.0, -math.inf]),
    ],
)
def test_expanding_notation(text: str, values: list[float | None]) -> None:
    """Each form expands as FORMAT.md documents."""
    assert parse_series_values(text) == values


def test_stale_and_histograms() -> None:
    """`stale` is the staleness marker; native histograms are refused as unsupported."""
    values = parse_series_values("0 stale")
    assert values[0] == 0.0
    assert values[1] is not None
    assert is_stale(values[1])
    with pytest.raises(UnsupportedNotation):
        parse_series_values("{{schema:1 sum:3 count:2}}x2")
    with pytest.raises(ValueError, match="bad sample value"):
        parse_series_values("1 two 3")


def test_parse_metric() -> None:
    """Series descriptions: name, labels, both, or nothing."""
    assert parse_metric('up{job="api", instance="a:9090"}') == {
        "__name__": "up", "job": "api", "instance": "a:9090",
    }  # fmt: skip
    assert parse_metric("test") == {"__name__": "test"}
    assert parse_metric('{job="test"}') == {"job": "test"}
    assert parse_metric("") == {}
    assert parse_metric('x{a="q\\"uote"}') == {"__name__": "x", "a": 'q"uote'}
    with pytest.raises(ValueError, match="parse error"):
        parse_metric("up{job=api}")
