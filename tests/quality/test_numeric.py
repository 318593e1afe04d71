"""Numeric drift statistics against SciPy's values and hand-computed ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vigie.quality.numeric import (
    ks_pvalue,
    psi,
    sturges_edges,
    wasserstein_distance,
    wasserstein_normed,
)


def test_wasserstein_equals_scipy() -> None:
    """W1 equals scipy.stats.wasserstein_distance on unequal sizes with ties."""
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 9, 301).astype(float), rng.normal(3, 2, 177)
    assert wasserstein_distance(a, b) == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-12)


def test_wasserstein_normed_by_reference_std() -> None:
    """Shifting [0, 1] by 1 moves it by 1, divided by its std 0.5: 2."""
    assert wasserstein_normed(np.array([0.0, 1.0]), np.array([1.0, 2.0])) == pytest.approx(2.0)
    # A constant reference is normed by the 0.001 floor.
    assert wasserstein_normed(np.zeros(3), np.full(3, 0.01)) == pytest.approx(10.0)


def test_ks_pvalue_is_scipy_ks_2samp() -> None:
    """The KS p-value is SciPy's two-sided exact value."""
    a, b = np.arange(10.0), np.arange(10.0) + 4.5
    assert ks_pvalue(a, b) == pytest.approx(stats.ks_2samp(a, b).pvalue, rel=1e-12)
    assert ks_pvalue(a, a) == 1.0


def test_sturges_edges_equal_numpy() -> None:
    """Bin edges equal numpy's histogram_bin_edges(..., 'sturges') for the same data."""
    data = np.random.default_rng(1).normal(size=1234)
    mine = sturges_edges(float(data.min()), float(data.max()), len(data))
    np.testing.assert_allclose(mine, np.histogram_bin_edges(data, bins="sturges"), rtol=1e-12)


def test_psi_known_value() -> None:
    """PSI of (0.5, 0.5) vs (0.25, 0.75) is 0.25 ln 2 + ... = 0.2747 (hand-computed)."""
    value = psi(np.array([0.5, 0.5]), np.array([0.25, 0.75]))
    expected = (0.5 - 0.25) * np.log(0.5 / 0.25) + (0.5 - 0.75) * np.log(0.5 / 0.75)
    assert value == pytest.approx(expected)
    assert value == pytest.approx(0.274653, abs=1e-6)
