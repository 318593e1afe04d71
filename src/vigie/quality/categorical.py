"""Drift statistics of a categorical feature: chi-square, proportion z-test, Jensen–Shannon.

Inputs are counts per category (exact, from a :class:`~vigie.quality.sketches.CategoricalSketch`
or the distinct values of a numeric one). Each statistic is computed as Evidently computes it:

* :func:`chi_square_pvalue`: expected counts are the reference counts scaled to the current
  size; a category absent from the reference makes the statistic infinite (p = 0).
* :func:`z_test_pvalue`: two-proportion z-test for two categories; p = 2 (1 − Φ(|z|)).
* :func:`jensen_shannon`: Jensen–Shannon *distance* (square root of the divergence, natural log),
  in [0, √ln 2].

Example::

    >>> round(jensen_shannon({"a": 50, "b": 50}, {"a": 50, "b": 50}), 6)
    0.0
    >>> z_test_pvalue({"a": 10}, {"a": 7})
    1.0
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "aligned_shares",
    "chi_square_pvalue",
    "jensen_shannon",
    "jensen_shannon_shares",
    "z_test_pvalue",
]

FloatArray = npt.NDArray[np.float64]
Counts = Mapping[Any, int]


def _keys(reference: Counts, current: Counts) -> list[Hashable]:
    keys = set(reference) | set(current)
    try:
        return sorted(keys)
    except TypeError:  # mixed types: any stable order works, every statistic is symmetric
        return sorted(keys, key=repr)


def _aligned(
    reference: Counts, current: Counts
) -> tuple[Sequence[Hashable], FloatArray, FloatArray]:
    keys = _keys(reference, current)
    ref = np.array([reference.get(key, 0) for key in keys], dtype=float)
    cur = np.array([current.get(key, 0) for key in keys], dtype=float)
    return keys, ref, cur


def aligned_shares(reference: Counts, current: Counts) -> tuple[list[Any], FloatArray, FloatArray]:
    """Categories of both windows (sorted) and each window's share of them."""
    keys, ref, cur = _aligned(reference, current)
    return list(keys), ref / max(ref.sum(), 1.0), cur / max(cur.sum(), 1.0)


def chi_square_pvalue(reference: Counts, current: Counts) -> float:
    """p-value of Pearson's chi-square test of the current counts against the reference mix."""
    _, ref, cur = _aligned(reference, current)
    expected = ref * (cur.sum() / ref.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (cur - expected) ** 2 / expected
    terms[(cur == expected)] = 0.0
    statistic = float(terms.sum())
    degrees = len(ref) - 1
    if degrees < 1:
        return 1.0
    if math.isinf(statistic):
        return 0.0
    special: Any = importlib.import_module("scipy.special")
    return float(special.chdtrc(degrees, statistic))


def z_test_pvalue(reference: Counts, current: Counts) -> float:
    """Two-sided p-value of the two-proportion z-test (share of categories other than the first)."""
    keys, ref, cur = _aligned(reference, current)
    if len(keys) <= 1:
        return 1.0  # one value, the same in both windows
    n1, n2 = ref.sum(), cur.sum()
    p1, p2 = (n1 - ref[0]) / n1, (n2 - cur[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    # 2 * (1 - cdf), as Evidently writes it (not erfc), so tiny p-values round the same way.
    return float(2 * (1 - 0.5 * math.erfc(-abs(z) / math.sqrt(2))))


def jensen_shannon(reference: Counts, current: Counts) -> float:
    """Jensen–Shannon distance between the two category mixes (natural logarithm)."""
    _, ref, cur = aligned_shares(reference, current)
    return jensen_shannon_shares(ref, cur)


def jensen_shannon_shares(reference: FloatArray, current: FloatArray) -> float:
    """Jensen–Shannon distance between two vectors of shares (normalised first, as SciPy)."""
    p = reference / reference.sum()
    q = current / current.sum()
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log(p / m), 0.0)
        right = np.where(q > 0, q * np.log(q / m), 0.0)
    divergence = float(left.sum() + right.sum())
    return math.sqrt(max(divergence, 0.0) / 2.0)
