"""Drift of embedding vectors: maximum mean discrepancy (MMD) and centroid distance.

A topic shift moves the cloud of embeddings; no single coordinate need move much. Two
measures, both as Evidently computes them, on the (sampled, reduced) vectors of each window:

* :func:`mmd_squared`: unbiased MMD² with a Gaussian kernel whose width is the median pairwise
  distance between the windows (the *median heuristic*); drift above :data:`MMD_THRESHOLD`
  (Evidently's ``MMDDriftMethod`` default, 0.015).
* :func:`centroid_distance`: Euclidean distance between the window means; drift above
  :data:`CENTROID_THRESHOLD` (Evidently's ``DistanceDriftMethod`` default, 0.2).
* :func:`mmd_permutation_pvalue`: the p-value behind the drift *alarm*. The MMD² threshold alone
  fires on small windows of identical data (34% of controls with 5 vectors, 10% with 20, in
  8 dimensions), so the alarm also asks for significance: a permutation test of the MMD², exact
  under no shift whatever the window sizes. It is *sequential* (Besag and Clifford, 1991):
  permutations run in batches of :data:`PERMUTATION_BATCH`, it stops as soon as
  :data:`EXCEEDANCES` permuted statistics reach the observed one (the p-value is then clearly
  large) and otherwise goes on until its smallest p-value is below the caller's ``min_p`` (the
  alarm needs ``alarm level / features``), never past :data:`MAX_PERMUTATIONS`.

Example::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> same = mmd_squared(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)))
    >>> same < MMD_THRESHOLD
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "CENTROID_THRESHOLD",
    "EXCEEDANCES",
    "MAX_PERMUTATIONS",
    "MMD_THRESHOLD",
    "PERMUTATION_BATCH",
    "PERMUTATION_ROWS",
    "PermutationTest",
    "centroid_distance",
    "mmd_permutation_pvalue",
    "mmd_permutation_test",
    "mmd_squared",
    "permutations_for",
]

MMD_THRESHOLD = 0.015
CENTROID_THRESHOLD = 0.2
#: Label permutations per batch of the sequential test: one (2 x rows)² x 2,000 matrix product.
PERMUTATION_BATCH = 2000
#: Hard cap on the permutations of one test, so on its cost: its smallest p-value is 1 / 100,001.
MAX_PERMUTATIONS = 100_000
#: The test stops once this many permuted statistics reach the observed one (Besag–Clifford's h).
EXCEEDANCES = 10
#: Vectors per window the permutation test uses (a uniform subset): a batch of it costs
#: (2 x rows)² x 2,000 multiply-adds, about 10 ms at 150 rows.
PERMUTATION_ROWS = 150

FloatArray = npt.NDArray[np.float64]


def _squared_distances(x: FloatArray, y: FloatArray) -> FloatArray:
    squared = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * x @ y.T
    result: FloatArray = np.maximum(squared, 0.0)
    return result


def mmd_squared(reference: FloatArray, current: FloatArray) -> float:
    """Unbiased MMD² between two sets of vectors (rows), Gaussian kernel, median heuristic.

    Never negative in the result (the unbiased estimate can dip below zero; 0 is reported).
    """
    m, n = len(reference), len(current)
    if m < 2 or n < 2:
        return 0.0
    # Evidently takes the median over reference x current distances of (up to) 1000 rows each.
    sigma2 = float(np.median(np.sqrt(_squared_distances(reference, current)))) ** 2
    gamma = 1.0 / sigma2 if sigma2 > 0 else 1.0
    k_xx = np.exp(-gamma * _squared_distances(reference, reference))
    k_yy = np.exp(-gamma * _squared_distances(current, current))
    k_xy = np.exp(-gamma * _squared_distances(reference, current))
    value = (
        (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1.0))
        + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1.0))
        - 2.0 * k_xy.sum() / (m * n)
    )
    return max(float(value), 0.0)


def centroid_distance(reference_centroid: FloatArray, current_centroid: FloatArray) -> float:
    """Euclidean distance between the mean vectors of the two windows."""
    return float(np.linalg.norm(np.asarray(current_centroid) - np.asarray(reference_centroid)))


@dataclass(frozen=True)
class PermutationTest:
    """A sequential permutation test's p-value and how many permutations it drew."""

    p_value: float
    permutations: int


def permutations_for(min_p: float) -> int:
    """The fewest permutations whose smallest p-value, ``1 / (1 + n)``, is below ``min_p``.

    Capped at :data:`MAX_PERMUTATIONS`: ``permutations_for(0.001 / 6)`` is 6,000 (a 6-feature
    model at the alarm level 0.001), ``permutations_for(1e-9)`` is 100,000.
    """
    if not 0.0 < min_p <= 1.0:
        raise ValueError(f"min_p must be in (0, 1], got {min_p!r}")
    return max(1, min(MAX_PERMUTATIONS, math.ceil(1.0 / min_p)))


def mmd_permutation_pvalue(
    reference: FloatArray,
    current: FloatArray,
    *,
    min_p: float | None = None,
    permutations: int | None = None,
    rows: int = PERMUTATION_ROWS,
    seed: int = 0,
) -> float:
    """p-value of the MMD² two-sample test: :func:`mmd_permutation_test`'s ``p_value``."""
    return mmd_permutation_test(
        reference, current, min_p=min_p, permutations=permutations, rows=rows, seed=seed
    ).p_value


def mmd_permutation_test(
    reference: FloatArray,
    current: FloatArray,
    *,
    min_p: float | None = None,
    permutations: int | None = None,
    rows: int = PERMUTATION_ROWS,
    seed: int = 0,
    batch: int = PERMUTATION_BATCH,
) -> PermutationTest:
    """Sequential permutation test of the MMD²: stops early when the p-value is clearly large.

    The kernel width is the median distance over *both* windows pooled, so it does not depend on
    the labels and the test is exact: under no shift, P(p <= a) <= a. Random labellings are
    drawn in batches of ``batch``; each statistic of a labelling ``a`` (1 for reference rows) is
    ``a'Ka``-based, so a batch costs one matrix product. At most ``permutations`` are drawn
    (default :func:`permutations_for(min_p) <permutations_for>`, the cap when ``min_p`` is None).
    Besag and Clifford's sequential p-value, valid like the fixed-size one:

    * once :data:`EXCEEDANCES` (``h``) permuted statistics reach the observed one, at the
      ``L``-th permutation, it stops and returns ``h / L`` (>= ``h`` / max: clearly large);
    * otherwise ``(1 + exceedances) / (1 + permutations)``.

    The labellings are one seeded stream, so the result is deterministic and does not depend
    on ``batch`` (only the cost does).

    Example::

        >>> rng = np.random.default_rng(0)
        >>> same = mmd_permutation_test(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)))
        >>> same.p_value > 0.01, same.permutations < PERMUTATION_BATCH
        (True, True)
    """
    if permutations is not None:
        most = permutations
    else:
        most = MAX_PERMUTATIONS if min_p is None else permutations_for(min_p)
    rng = np.random.default_rng(seed)
    if len(reference) > rows:
        reference = reference[rng.choice(len(reference), rows, replace=False)]
    if len(current) > rows:
        current = current[rng.choice(len(current), rows, replace=False)]
    m, n = len(reference), len(current)
    if m < 2 or n < 2:
        return PermutationTest(1.0, 0)
    pooled = np.concatenate([reference, current])
    squared = _squared_distances(pooled, pooled)
    upper = np.sqrt(squared[np.triu_indices(m + n, 1)])
    sigma2 = float(np.median(upper)) ** 2
    kernel = np.exp(-squared / (sigma2 if sigma2 > 0 else 1.0))
    observed_labels = np.zeros((1, m + n))
    observed_labels[0, :m] = 1.0
    observed = _statistics(kernel, observed_labels, m, n)[0]
    drawn = exceeded = 0
    while drawn < most:
        size = min(batch, most - drawn)
        labels = np.zeros((size, m + n))
        # Row i is the i-th labelling of one stream: the same whatever the batch size.
        chosen = np.argpartition(rng.random((size, m + n)), m - 1, axis=1)[:, :m]
        np.put_along_axis(labels, chosen, 1.0, axis=1)
        hits = np.flatnonzero(_statistics(kernel, labels, m, n) >= observed - 1e-12)
        if exceeded + len(hits) >= EXCEEDANCES:
            stop = drawn + int(hits[EXCEEDANCES - exceeded - 1]) + 1
            return PermutationTest(EXCEEDANCES / stop, stop)
        exceeded += len(hits)
        drawn += size
    return PermutationTest((1.0 + exceeded) / (1.0 + drawn), drawn)


def _statistics(kernel: FloatArray, labels: FloatArray, m: int, n: int) -> FloatArray:
    """Unbiased MMD² of each labelling (a row of ``labels``: 1 for the ``m`` reference rows)."""
    k_labels = labels @ kernel  # the kernel is symmetric: row i is (K a_i)'
    within_ref = np.einsum("ij,ij->i", labels, k_labels)  # a'Ka
    ref_to_all = k_labels.sum(axis=1)  # 1'Ka
    within_cur = kernel.sum() - 2.0 * ref_to_all + within_ref  # b'Kb with b = 1 - a
    across = ref_to_all - within_ref  # a'Kb
    # The Gaussian kernel's diagonal is 1: remove it (m and n terms) for the unbiased MMD².
    result: FloatArray = (
        (within_ref - m) / (m * (m - 1.0))
        + (within_cur - n) / (n * (n - 1.0))
        - 2.0 * across / (m * n)
    )
    return result
