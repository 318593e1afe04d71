"""Embedding drift: MMD² and centroid distance against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.quality.embeddings import (
    EXCEEDANCES,
    MAX_PERMUTATIONS,
    PERMUTATION_BATCH,
    centroid_distance,
    mmd_permutation_pvalue,
    mmd_permutation_test,
    mmd_squared,
    permutations_for,
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
    x, y = rng.normal(size=(300, 8)), rng.normal(0.5, 1, (300, 8))
    assert mmd_permutation_pvalue(x, y) == 1 / (1 + MAX_PERMUTATIONS)
    # A 6-feature model at the alarm level 0.001 needs p <= 0.001 / 6: 6,000 permutations give it.
    assert mmd_permutation_pvalue(x, y, min_p=0.001 / 6) == 1 / 6001 < 0.001 / 6


def test_sequential_p_value_is_valid_at_small_levels() -> None:
    """P(p <= a) <= a under no shift for a = 0.01, 0.05, 0.2 and 0.5, over 400 controls."""
    rng = np.random.default_rng(21)
    p_values = np.array(
        [
            mmd_permutation_pvalue(
                rng.normal(size=(12, 3)), rng.normal(size=(10, 3)), permutations=999, seed=seed
            )
            for seed in range(400)
        ]
    )
    # Binomial(400, a) 99.9% upper bounds: 10, 34, 104, 232.
    for level, most in ((0.01, 10), (0.05, 34), (0.2, 104), (0.5, 232)):
        assert np.count_nonzero(p_values <= level) <= most, level
    assert np.count_nonzero(p_values <= 0.5) >= 168  # and not uselessly conservative


def test_sequential_test_is_besag_clifford_whatever_the_batch_size() -> None:
    """h exceedances at permutation L give h / L, else (1 + g) / (1 + n), at any batch size."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(25, 3))
    null, shifted = rng.normal(size=(20, 3)), rng.normal(0.5, 1, (20, 3))
    stopped = mmd_permutation_test(x, null, permutations=3000, batch=3000)
    assert stopped == mmd_permutation_test(x, null, permutations=3000, batch=7)
    assert stopped.p_value == EXCEEDANCES / stopped.permutations
    assert 7 < stopped.permutations < 3000  # stopped early, in a later batch of 7
    ran = mmd_permutation_test(x, shifted, permutations=1000, batch=1000)
    assert ran == mmd_permutation_test(x, shifted, permutations=1000, batch=64)
    assert ran.permutations == 1000
    exceeded = ran.p_value * 1001 - 1
    assert 0 < round(exceeded) < EXCEEDANCES
    assert exceeded == pytest.approx(round(exceeded))
    early = mmd_permutation_test(x, rng.normal(size=(20, 3)))  # defaults: stops in batch one
    assert early.p_value == EXCEEDANCES / early.permutations
    assert EXCEEDANCES <= early.permutations < PERMUTATION_BATCH
    topic = mmd_permutation_test(x, rng.normal(1.0, 1, (20, 3)), permutations=500, batch=64)
    assert topic == type(topic)(1 / 501, 500)  # never reached: ran to its maximum


def test_permutations_for_a_needed_p_value() -> None:
    """The smallest p-value 1 / (1 + n) falls below min_p; the cap bounds the cost."""
    assert permutations_for(0.001 / 6) == 6000
    assert permutations_for(0.001 / 20) == 20_000
    assert permutations_for(1e-9) == MAX_PERMUTATIONS == 100_000
    assert permutations_for(1.0) == 1
    with pytest.raises(ValueError, match="min_p must be in"):
        permutations_for(0.0)


def test_mmd_permutation_pvalue_is_deterministic_and_needs_two_vectors() -> None:
    """The same seed gives the same p-value; fewer than two vectors on a side give 1."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 3)), rng.normal(0.3, 1, (30, 3))
    assert mmd_permutation_pvalue(x, y, permutations=99) == mmd_permutation_pvalue(
        x, y, permutations=99
    )
    assert mmd_permutation_pvalue(x[:1], y) == 1.0
