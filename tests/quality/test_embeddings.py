"""Embedding drift: MMD² and centroid distance against direct computations."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.quality.embeddings import centroid_distance, mmd_squared


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
