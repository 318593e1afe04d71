"""Categorical drift statistics against SciPy's values and hand-computed ones."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from vigie.quality.categorical import (
    chi_square_pvalue,
    homogeneity_pvalue,
    jensen_shannon,
    total_variation,
    z_test_pvalue,
)


def test_chi_square_equals_scipy_chisquare() -> None:
    """Expected counts are the reference's scaled to the current size; p from chi2(k-1)."""
    reference, current = {"a": 50, "b": 30, "c": 20}, {"a": 30, "b": 40, "c": 30}
    expected = [50 * 1.0, 30 * 1.0, 20 * 1.0]
    assert chi_square_pvalue(reference, current) == pytest.approx(
        stats.chisquare([30, 40, 30], expected).pvalue, rel=1e-10
    )


def test_chi_square_new_category_is_zero() -> None:
    """A category the reference never saw gives p = 0."""
    assert chi_square_pvalue({"a": 10, "b": 5}, {"a": 10, "b": 4, "new": 1}) == 0.0


def test_z_test_known_value() -> None:
    """40/100 vs 60/100: pooled 0.5, z = -2.828..., p = 0.004678 (hand-computed)."""
    p = z_test_pvalue({"x": 60, "y": 40}, {"x": 40, "y": 60})
    z = 0.2 / math.sqrt(0.25 * (2 / 100))
    assert p == pytest.approx(2 * (1 - stats.norm.cdf(z)), rel=1e-9)
    assert p == pytest.approx(0.004678, abs=1e-6)


def test_jensen_shannon_equals_scipy() -> None:
    """The distance equals scipy.spatial.distance.jensenshannon (natural log)."""
    reference, current = {"a": 5, "b": 3, "c": 2}, {"a": 1, "b": 3, "d": 6}
    expected = distance.jensenshannon(np.array([5, 3, 2, 0]), np.array([1, 3, 0, 6]))
    assert jensen_shannon(reference, current) == pytest.approx(expected, rel=1e-12)
    assert jensen_shannon({"a": 1}, {"b": 1}) == pytest.approx(math.sqrt(math.log(2)))


def test_homogeneity_equals_scipy_contingency_test() -> None:
    """Without rare categories it is SciPy's chi2_contingency without continuity correction."""
    from scipy.stats import chi2_contingency

    reference, current = {"a": 50, "b": 20, "c": 30}, {"a": 30, "b": 30, "c": 40, "d": 10}
    table = [[50, 20, 30, 0], [30, 30, 40, 10]]
    # d is expected 10 x 100 / 210 = 4.8 times in the reference (< 5): pooled with the next
    # rarest category, b (50 in all), as one column b+d.
    pooled = [[50, 20, 30], [30, 40, 40]]
    expected = chi2_contingency(pooled, correction=False).pvalue
    assert homogeneity_pvalue(reference, current) == pytest.approx(expected, rel=1e-12)
    assert chi2_contingency(table, correction=False).pvalue != pytest.approx(expected)
    big = {"a": 500, "b": 300, "c": 200}, {"a": 300, "b": 300, "c": 400}
    assert homogeneity_pvalue(*big) == pytest.approx(
        chi2_contingency([[500, 300, 200], [300, 300, 400]], correction=False).pvalue, rel=1e-12
    )


def test_homogeneity_pools_rare_categories_until_they_are_common_enough() -> None:
    """Categories seen a few times are pooled; one category left means nothing to test (p 1)."""
    assert homogeneity_pvalue({"a": 40, "x": 1}, {"a": 40, "y": 2}) == 1.0
    assert homogeneity_pvalue({"a": 40}, {"a": 10}) == 1.0
    # Two categories of 30: no pooling, a plain 2 x 2 test.
    assert homogeneity_pvalue({"a": 30, "b": 30}, {"a": 30, "b": 30}) == pytest.approx(1.0)


def test_total_variation_is_the_share_of_traffic_that_moved() -> None:
    """20 points moved from a to c: 0.2; identical mixes: 0; disjoint: 1."""
    assert total_variation({"a": 50, "b": 50}, {"a": 30, "b": 50, "c": 20}) == pytest.approx(0.2)
    assert total_variation({"a": 5}, {"a": 9}) == 0.0
    assert total_variation({"a": 5}, {"b": 5}) == 1.0
