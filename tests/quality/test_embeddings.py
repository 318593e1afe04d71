"""Embedding drift: MMD² and centroid distance against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.quality.embeddings import (
    PERMUTATIONS,
    centroid_distance,
    mmd_permutation_pvalue,
    mmd_squared,
)


def test_mmd_squared_equals_direct_formula() -> None:
    """The vectorised MMD² equals a loop over pairs with the median-heuristic kernel."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 3)), rng.normal(0.5, 1, size=(9, 3))
    cross = np.array([[np.linalg.norm(a - b) for b in y] for a in x])
    gamma = 1 / np.median(cross) ** 2

    def k(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.exp(-gamma * np.sum((a - b) ** 2)))

    xx = sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / (12 * 11)
    yy = sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / (9 * 8)
    xy = sum(k(a, b) for a in x for b in y) / (12 * 9)
    assert mmd_squared(x, y) == pytest.approx(max(xx + yy - 2 * xy, 0.0), rel=1e-9)


def test_mmd_of_too_few_vectors_is_zero() -> None:
    """Fewer than two vectors on a side cannot be tested: 0."""
    assert mmd_squared(np.zeros((1, 2)), np.ones((5, 2))) == 0.0


def test_centroid_distance() -> None:
    """Distance between (0, 0) and (3, 4) is 5."""
    assert centroid_distance(np.zeros(2), np.array([3.0, 4.0])) == 5.0


def test_mmd_permutation_pvalue_is_valid_under_no_shift_and_small_under_a_shift() -> None:
    """Same distribution: p <= 0.05 on ~5% of 200 small controls; a topic shift: the minimum p."""
    rng = np.random.default_rng(8)
    p_values = [
        mmd_permutation_pvalue(
            rng.normal(size=(20, 4)), rng.normal(size=(15, 4)), permutations=199, seed=seed
        )
        for seed in range(200)
    ]
    assert 2 <= sum(p <= 0.05 for p in p_values) <= 18  # binomial(200, 0.05) 99.9% range
    assert all(0.005 <= p <= 1.0 for p in p_values)
    shifted = mmd_permutation_pvalue(rng.normal(size=(300, 8)), rng.normal(0.5, 1, (300, 8)))
    assert shifted == 1 / (1 + PERMUTATIONS)


def test_mmd_permutation_pvalue_is_deterministic_and_needs_two_vectors() -> None:
    """The same seed gives the same p-value; fewer than two vectors on a side give 1."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 3)), rng.normal(0.3, 1, (30, 3))
    assert mmd_permutation_pvalue(x, y, permutations=99) == mmd_permutation_pvalue(
        x, y, permutations=99
    )
    assert mmd_permutation_pvalue(x[:1], y) == 1.0
