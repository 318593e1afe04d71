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
  under no shift whatever the window sizes.

Example::

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> same = mmd_squared(rng.normal(size=(200, 4)), rng.normal(size=(200, 4)))
    >>> same < MMD_THRESHOLD
    True
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "CENTROID_THRESHOLD",
    "MMD_THRESHOLD",
    "PERMUTATIONS",
    "PERMUTATION_ROWS",
    "centroid_distance",
    "mmd_permutation_pvalue",
    "mmd_squared",
]

MMD_THRESHOLD = 0.015
CENTROID_THRESHOLD = 0.2
#: Label permutations of the MMD test: the smallest p-value it can give is 1 / (1 + 4000).
PERMUTATIONS = 4000
#: Vectors per window the permutation test uses (a uniform subset): it costs (2 x rows)² x 4000.
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


def mmd_permutation_pvalue(
    reference: FloatArray,
    current: FloatArray,
    *,
    permutations: int = PERMUTATIONS,
    rows: int = PERMUTATION_ROWS,
    seed: int = 0,
) -> float:
    """p-value of the MMD² two-sample test, by permuting window labels.

    The kernel width is the median distance over *both* windows pooled, so it does not depend on
    the labels and the test is exact: under no shift, P(p <= a) <= a. Each statistic of a
    labelling ``a`` (1 for reference rows) is ``a'Ka``-based, so all permutations cost one
    matrix product. Returns ``(1 + #{permuted >= observed}) / (1 + permutations)``.
    """
    rng = np.random.default_rng(seed)
    if len(reference) > rows:
        reference = reference[rng.choice(len(reference), rows, replace=False)]
    if len(current) > rows:
        current = current[rng.choice(len(current), rows, replace=False)]
    m, n = len(reference), len(current)
    if m < 2 or n < 2:
        return 1.0
    pooled = np.concatenate([reference, current])
    squared = _squared_distances(pooled, pooled)
    upper = np.sqrt(squared[np.triu_indices(m + n, 1)])
    sigma2 = float(np.median(upper)) ** 2
    kernel = np.exp(-squared / (sigma2 if sigma2 > 0 else 1.0))
    labels = np.zeros((m + n, permutations + 1))
    labels[:m, 0] = 1.0  # column 0: the observed split
    shuffled = np.argpartition(rng.random((m + n, permutations)), m - 1, axis=0)[:m]
    labels[shuffled, np.arange(1, permutations + 1)] = 1.0
    k_labels = kernel @ labels
    within_ref = (labels * k_labels).sum(axis=0)  # a'Ka
    ref_to_all = k_labels.sum(axis=0)  # 1'Ka
    within_cur = kernel.sum() - 2.0 * ref_to_all + within_ref  # b'Kb with b = 1 - a
    across = ref_to_all - within_ref  # a'Kb
    # The Gaussian kernel's diagonal is 1: remove it (m and n terms) for the unbiased MMD².
    statistics = (
        (within_ref - m) / (m * (m - 1.0))
        + (within_cur - n) / (n * (n - 1.0))
        - 2.0 * across / (m * n)
    )
    exceeded = int(np.count_nonzero(statistics[1:] >= statistics[0] - 1e-12))
    return (1.0 + exceeded) / (1.0 + permutations)
