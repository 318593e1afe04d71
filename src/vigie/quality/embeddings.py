"""Drift of embedding vectors: maximum mean discrepancy (MMD) and centroid distance.

A topic shift moves the cloud of embeddings; no single coordinate need move much. Two
measures, both as Evidently computes them, on the (sampled, reduced) vectors of each window:

* :func:`mmd_squared`: unbiased MMD² with a Gaussian kernel whose width is the median pairwise
  distance between the windows (the *median heuristic*); drift above :data:`MMD_THRESHOLD`
  (Evidently's ``MMDDriftMethod`` default, 0.015).
* :func:`centroid_distance`: Euclidean distance between the window means; drift above
  :data:`CENTROID_THRESHOLD` (Evidently's ``DistanceDriftMethod`` default, 0.2).

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

__all__ = ["CENTROID_THRESHOLD", "MMD_THRESHOLD", "centroid_distance", "mmd_squared"]

MMD_THRESHOLD = 0.015
CENTROID_THRESHOLD = 0.2

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
