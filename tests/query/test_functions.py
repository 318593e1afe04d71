"""Instant-vector functions: label templating as Go expands it, dates, sorting."""

from __future__ import annotations

import re

import numpy as np
import pytest

from vigie.query.functions import (
    _expand,
    date_function,
    label_join,
    label_replace,
    sort_by_label,
    sort_by_value,
)
from vigie.query.values import StepVector


def _vector(*rows: tuple[dict[str, str], float]) -> StepVector:
    return StepVector(
        [labels for labels, _ in rows],
        np.array([[value] for _, value in rows]),
        np.ones((len(rows), 1), dtype=bool),
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$1-$2", "a-b"),
        ("${1}x", "ax"),
        ("$1x", ""),  # Go reads the group name "1x", which does not exist
        ("$$1", "$1"),
        ("${name}", "b"),
        ("$", "$"),
    ],
)
def test_go_template_expansion(template: str, expected: str) -> None:
    """Replacement templates expand like Go's regexp.Expand."""
    match = re.match(r"(a)(?P<name>b)", "ab")
    assert match is not None
    assert _expand(template, match) == expected


def test_label_replace_and_join() -> None:
    """label_replace copies a regex group; label_join concatenates labels."""
    vector = _vector(({"__name__": "up", "instance": "host:9090"}, 1.0))
    replaced = label_replace(vector, "host", "$1", "instance", "(.*):.*")
    assert replaced.labels == [{"__name__": "up", "instance": "host:9090", "host": "host"}]
    joined = label_join(replaced, "both", "/", ["host", "instance"])
    assert joined.labels[0]["both"] == "host/host:9090"


def test_label_replace_with_re2_posix_class() -> None:
    """RE2 POSIX classes work in label_replace regexes."""
    vector = _vector(({"code": "503"}, 1.0))
    result = label_replace(vector, "class", "${1}xx", "code", "([[:digit:]])[[:digit:]]+")
    assert result.labels[0]["class"] == "5xx"


def test_date_functions_in_utc() -> None:
    """Calendar fields of a Unix time, in UTC."""
    vector = _vector(({}, 1_709_251_199.0))  # 2024-02-29T23:59:59Z
    fields = {
        name: date_function(name, vector).values[0, 0]
        for name in ("year", "month", "day_of_month", "day_of_week", "day_of_year",
                     "days_in_month", "hour", "minute")
    }  # fmt: skip
    assert fields == {
        "year": 2024,
        "month": 2,
        "day_of_month": 29,
        "day_of_week": 4,
        "day_of_year": 60,
        "days_in_month": 29,
        "hour": 23,
        "minute": 59,
    }


def test_sorting_puts_nan_last() -> None:
    """sort and sort_desc keep NaN at the end; sort_by_label uses natural order."""
    vector = _vector(({"i": "10"}, 3.0), ({"i": "9"}, float("nan")), ({"i": "2"}, 1.0))
    assert [row["i"] for row in sort_by_value(vector, descending=False).labels] == ["2", "10", "9"]
    assert [row["i"] for row in sort_by_value(vector, descending=True).labels] == ["10", "2", "9"]
    by_label = sort_by_label(vector, ["i"], descending=False)
    assert [row["i"] for row in by_label.labels] == ["2", "9", "10"]
