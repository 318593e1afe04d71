"""Range-function arithmetic: compensated sums and means agree with Prometheus's sequential ones."""

from __future__ import annotations

import math

import numpy as np

from vigie.query.range_functions import (
    _average_sequential,
    average_columns,
    compensated_sum,
    kahan_inc,
)


def _sequential_kahan(row: list[float]) -> float:
    total, comp = np.zeros(1), np.zeros(1)
    for value in row:
        total, comp = kahan_inc(np.array([value]), total, comp)
    return float((total + comp)[0])


def test_compensated_sum_recovers_cancelled_terms() -> None:
    """1e100 + 1 - 1e100 is 1, as with Prometheus's Kahan-Neumaier sum."""
    values = np.array([[1e100, 1.0, -1e100], [3.0, 1e16, -1e16]])
    result = compensated_sum(values, np.ones(values.shape, dtype=bool))
    assert result.tolist() == [1.0, 3.0]


def test_compensated_sum_matches_sequential_kahan() -> None:
    """On random rows with cancellations and masks, both sums agree to 1e-12."""
    rng = np.random.default_rng(3)
    for _ in range(100):
        width = int(rng.integers(1, 40))
        scale = 10.0 ** rng.integers(-5, 20, width)
        values = rng.normal(0, 1, (1, width)) * scale
        valid = rng.random((1, width)) < 0.8
        expected = _sequential_kahan(values[0][valid[0]].tolist())
        got = float(compensated_sum(values, valid)[0])
        assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-300)


def test_infinities_and_nan() -> None:
    """Inf wins, Inf - Inf is NaN, NaN propagates."""
    values = np.array([[1.0, math.inf], [math.inf, -math.inf], [math.nan, 1.0]])
    result = compensated_sum(values, np.ones(values.shape, dtype=bool))
    assert result[0] == math.inf
    assert math.isnan(result[1])
    assert math.isnan(result[2])


def test_average_switches_to_incremental_mean_on_overflow() -> None:
    """A mean of values whose sum overflows is still finite, as in Prometheus."""
    values = np.array([[1e308, 1e308, -1e308], [1.0, 2.0, 3.0]])
    valid = np.ones(values.shape, dtype=bool)
    result = average_columns(values, valid)
    assert math.isclose(result[0], 1e308 / 3, rel_tol=1e-12)
    assert result[1] == 2.0
    assert _average_sequential(values[1:], valid[1:]).tolist() == [2.0]


def test_vectorised_quantiles_match_reference() -> None:
    """quantile_rows equals the per-row quantile (NaN sorted first, q outside [0, 1])."""
    from vigie.query.range_functions import quantile_of, quantile_rows

    rng = np.random.default_rng(11)
    for _ in range(200):
        rows, width = int(rng.integers(1, 6)), int(rng.integers(0, 9))
        values = rng.choice([math.nan, -math.inf, math.inf, -1.0, 0.0, 2.5, 7.0], (rows, width))
        values = np.where(rng.random((rows, width)) < 0.5, rng.normal(0, 5, (rows, width)), values)
        valid = rng.random((rows, width)) < 0.8
        q = rng.choice([-0.5, 0.0, 0.1, 0.5, 0.99, 1.0, 2.0, math.nan], rows)
        got = quantile_rows(q, values, valid)
        for row in range(rows):
            expected = quantile_of(float(q[row]), values[row][valid[row]])
            if math.isnan(expected):
                assert math.isnan(got[row])
            else:
                assert got[row] == expected or math.isclose(got[row], expected, rel_tol=1e-12)
