"""The test-script runner: series notation, expectations, skips and failure details."""

from __future__ import annotations

import math

import pytest

from vigie.query.conformance import (
    ScriptError,
    expand_values,
    parse_duration,
    parse_script,
    run_case,
)
from vigie.store.interface import is_stale


def _run(script: str) -> list[tuple[str, str]]:
    return [(r.status, r.detail) for r in map(run_case, parse_script(script, "t.test"))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1+1x3", [1.0, 2.0, 3.0, 4.0]),
        ("10-2x2", [10.0, 8.0, 6.0]),
        ("-2x2", [-2.0, -2.0, -2.0]),
        ("1 _ 3", [1.0, None, 3.0]),
        ("_x2 5", [None, None, 5.0]),
        ("0x2", [0.0, 0.0, 0.0]),
        ("Inf -Inf", [math.inf, -math.inf]),
    ],
)
def test_series_notation(text: str, expected: list[float | None]) -> None:
    """Prometheus's expanding notation gives the listed values (None for `_`)."""
    values, native = expand_values(text)
    assert values == expected
    assert not native


def test_stale_and_native_markers() -> None:
    """`stale` is the staleness NaN; `{{...}}` flags a native histogram."""
    values, _ = expand_values("1 stale")
    assert values[1] is not None
    assert is_stale(values[1])
    assert expand_values("{{schema:1 sum:3 count:2}}")[1] is True


@pytest.mark.parametrize(
    ("text", "ms"), [("1m", 60_000), ("1m30s", 90_000), ("0", 0), ("10", 10_000)]
)
def test_durations(text: str, ms: int) -> None:
    """Durations and bare seconds parse to milliseconds."""
    assert parse_duration(text) == ms


def test_range_eval_with_gaps_passes() -> None:
    """A range eval compares every step; `_` means no point at that step."""
    script = """
load 1m
    m{a="1"} 1 2 _ _ _ _ _ 8
eval range from 0 to 3m step 1m m
    m{a="1"} 1 2 2 2
"""
    assert _run(script) == [("passed", "")]


def test_wrong_value_fails_with_details() -> None:
    """A mismatch names the series, the expected and the actual value."""
    script = "load 1m\n    m 1\neval instant at 0 m\n    m 2\n"
    [(status, detail)] = _run(script)
    assert status == "failed"
    assert detail == 'series {__name__="m"}: expected 2.0, got 1.0'


def test_ordered_expectation() -> None:
    """`expect ordered` fails when the result order differs."""
    script = """
load 1m
    m{a="1"} 1
    m{a="2"} 2
eval instant at 0 sort_desc(m)
    expect ordered
    m{a="1"} 1
    m{a="2"} 2
"""
    [(status, detail)] = _run(script)
    assert status == "failed"
    assert detail.startswith("expected order")


def test_expect_fail_with_message() -> None:
    """`expect fail msg:` compares the error text exactly."""
    script = """
load 1m
    m{a="1"} 1
    m{a="2"} 2
eval instant at 0 m + on() m
    expect fail regex: many-to-many matching not allowed
"""
    assert _run(script) == [("passed", "")]


def test_annotation_expectations() -> None:
    """`expect warn msg:` matches the rendered annotation, positions included."""
    script = """
load 1m
    m{a="1"} 1
eval range from 0 to 1m step 1m sort(m)
    expect warn regex: sort is ineffective for range queries .* \\(1:1\\)
    m{a="1"} 1 1
eval instant at 0 quantile(2, m)
    expect no_warn
    {} +Inf
"""
    results = _run(script)
    assert results[0] == ("passed", "")
    assert results[1][0] == "failed"
    assert "expected no warn annotation" in results[1][1]


def test_string_and_range_vector_expectations() -> None:
    """`expect string` and `expect range vector` check those result types."""
    script = """
load 10s
    m 1+1x6
eval instant at 0 "Foo"
    expect string "Foo"
eval instant at 1m m[30s]
    expect range vector from 40s to 1m step 10s
    m 5 6 7
"""
    assert _run(script) == [("passed", ""), ("passed", "")]


def test_out_of_scope_cases_are_skipped() -> None:
    """Experimental functions and native histograms are skipped with the reason."""
    script = """
load 1m
    m 1
    h {{schema:1 sum:3 count:2}}
eval instant at 0 mad_over_time(m[1m])
    {} 0
eval instant at 0 h
    h {{schema:1 sum:3 count:2}}
"""
    assert _run(script) == [
        ("skipped", "experimental function mad_over_time()"),
        ("skipped", "native histograms in the expected result"),
    ]


def test_bad_script_names_file_and_line() -> None:
    """A line that does not parse raises ScriptError with file:line."""
    with pytest.raises(ScriptError, match=r"t\.test:2"):
        parse_script("load 1m\n    m{ 1\n", "t.test")
