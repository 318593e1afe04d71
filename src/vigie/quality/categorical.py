"""Drift statistics of a categorical feature: chi-square, proportion z-test, Jensen–Shannon.

Inputs are counts per category (exact, from a :class:`~vigie.quality.sketches.CategoricalSketch`
or the distinct values of a numeric one). Each statistic is computed as Evidently computes it:

* :func:`chi_square_pvalue`: expected counts are the reference counts scaled to the current
  size; a category absent from the reference makes the statistic infinite (p = 0).
* :func:`z_test_pvalue`: two-proportion z-test for two categories; p = 2 (1 − Φ(|z|)).
* :func:`jensen_shannon`: Jensen–Shannon *distance* (square root of the divergence, natural log),
  in [0, √ln 2].
* :func:`total_variation`: half the L1 distance of the two mixes (not an Evidently default: the
  effect size of the drift alarm, read as "share of the traffic that changed category").

Evidently's chi-square is a *goodness-of-fit* test: it takes the reference mix as exact, so when
the reference is no larger than the current window its statistic is about twice a χ² variable
and it fires on ~27% of no-shift controls of equal size at p < 0.05. That is Evidently's
definition, kept for parity. The drift *alarm* uses :func:`homogeneity_pvalue` instead: the
two-sample chi-square test of homogeneity (both windows are samples), with categories whose
expected count is below :data:`MIN_EXPECTED` pooled first (Cochran's rule), whose p-value is
uniform under no shift (~5% at 0.05).

Example::

    >>> round(jensen_shannon({"a": 50, "b": 50}, {"a": 50, "b": 50}), 6)
    0.0
    >>> z_test_pvalue({"a": 10}, {"a": 7})
    1.0
    >>> round(homogeneity_pvalue({"a": 60, "b": 40}, {"a": 40, "b": 60}), 4)
    0.0047
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MIN_EXPECTED",
    "aligned_shares",
    "chi_square_pvalue",
    "homogeneity_pvalue",
    "jensen_shannon",
    "jensen_shannon_shares",
    "total_variation",
    "z_test_pvalue",
]

FloatArray = npt.NDArray[np.float64]
Counts = Mapping[Any, int]

#: Smallest expected count per category in the homogeneity test; rarer categories are pooled.
MIN_EXPECTED = 5.0


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


def homogeneity_pvalue(reference: Counts, current: Counts) -> float:
    """p-value of Pearson's chi-square test that both windows share one category mix.

    Unlike :func:`chi_square_pvalue` (Evidently's goodness-of-fit test against the reference
    mix taken as exact), both windows are treated as samples: expected counts come from the
    pooled mix, degrees of freedom are (categories - 1). Categories expected fewer than
    :data:`MIN_EXPECTED` times in the smaller window are pooled, so the χ² approximation holds.
    """
    _, ref, cur = _aligned(reference, current)
    ref, cur = _pool_rare(ref, cur)
    n_ref, n_cur = ref.sum(), cur.sum()
    if len(ref) < 2 or not n_ref or not n_cur:
        return 1.0
    shares = (ref + cur) / (n_ref + n_cur)
    expected_ref, expected_cur = shares * n_ref, shares * n_cur
    statistic = float(
        ((ref - expected_ref) ** 2 / expected_ref + (cur - expected_cur) ** 2 / expected_cur).sum()
    )
    special: Any = importlib.import_module("scipy.special")
    return float(special.chdtrc(len(ref) - 1, statistic))


def _pool_rare(ref: FloatArray, cur: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Pool the categories too rare for the χ² approximation into one (then grow it if needed)."""
    smaller, grand = min(ref.sum(), cur.sum()), ref.sum() + cur.sum()
    if not smaller:
        return ref, cur
    order = np.argsort(ref + cur, kind="stable")
    ref, cur = ref[order], cur[order]
    totals = ref + cur
    needed = MIN_EXPECTED * grand / smaller  # a category's total for expected counts >= 5
    rare = int(np.searchsorted(totals, needed, side="left"))
    if rare == 0:
        return ref, cur
    # The pooled category must itself be common enough: absorb the next rarest until it is.
    while rare < len(totals) and totals[:rare].sum() < needed:
        rare += 1
    pooled_ref = np.concatenate([[ref[:rare].sum()], ref[rare:]])
    pooled_cur = np.concatenate([[cur[:rare].sum()], cur[rare:]])
    return pooled_ref, pooled_cur


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


def total_variation(reference: Counts, current: Counts) -> float:
    """Total variation distance: the share of the traffic that moved between categories.

    Half the sum of the absolute share changes, in [0, 1]: 0.2 when 20 points of one category
    went to others. The alarm's effect size for categories (floor 0.1).
    """
    _, ref, cur = aligned_shares(reference, current)
    return float(np.abs(ref - cur).sum() / 2.0)


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
