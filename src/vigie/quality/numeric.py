"""Drift statistics of a numeric feature: Kolmogorov–Smirnov, normed Wasserstein, PSI.

Each function takes the reference and current values (a sketch's sample, which is the whole
window up to its capacity) and returns the score Evidently reports for the same method, computed
the same way, so verdicts agree:

* :func:`ks_pvalue`: two-sample KS test, two-sided; p-value from SciPy's ``ks_2samp`` (its exact
  distribution below 10,000 values, which a hand-written routine would have to re-implement).
* :func:`wasserstein_normed`: first Wasserstein distance divided by the reference's population
  standard deviation (at least 0.001), numpy only.
* :func:`psi`: population stability index over Sturges bins of both windows, numpy only.

Example::

    >>> import numpy as np
    >>> round(wasserstein_normed(np.array([0.0, 1.0]), np.array([1.0, 2.0])), 3)
    2.0
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ks_pvalue", "psi", "sturges_edges", "wasserstein_distance", "wasserstein_normed"]

FloatArray = npt.NDArray[np.float64]


def ks_pvalue(reference: FloatArray, current: FloatArray) -> float:
    """Two-sided p-value of the two-sample Kolmogorov–Smirnov test (SciPy ``ks_2samp``)."""
    stats: Any = importlib.import_module("scipy.stats")
    return float(stats.ks_2samp(reference, current).pvalue)


def wasserstein_distance(reference: FloatArray, current: FloatArray) -> float:
    """W1 between two empirical distributions: the area between their CDFs."""
    reference, current = np.sort(reference), np.sort(current)
    every = np.sort(np.concatenate([reference, current]))
    deltas = np.diff(every)
    cdf_reference = np.searchsorted(reference, every[:-1], side="right") / len(reference)
    cdf_current = np.searchsorted(current, every[:-1], side="right") / len(current)
    return float(np.sum(np.abs(cdf_reference - cdf_current) * deltas))


def wasserstein_normed(
    reference: FloatArray, current: FloatArray, reference_std: float | None = None
) -> float:
    """W1 divided by the reference's standard deviation (floored at 0.001, as Evidently).

    ``reference_std`` lets a sketch pass the exact standard deviation of the whole window when
    ``reference`` is only a sample of it.
    """
    std = float(np.std(reference)) if reference_std is None else reference_std
    return wasserstein_distance(reference, current) / max(std, 0.001)


def sturges_edges(minimum: float, maximum: float, count: int) -> FloatArray:
    """Bin edges numpy's ``histogram_bin_edges(data, "sturges")`` gives for such data."""
    if maximum <= minimum:
        minimum, maximum = minimum - 0.5, maximum + 0.5
        return np.linspace(minimum, maximum, 2)
    width = (maximum - minimum) / (math.log2(count) + 1.0)
    bins = max(math.ceil((maximum - minimum) / width), 1)
    return np.linspace(minimum, maximum, bins + 1)


def _fill_zeros(percents: FloatArray) -> FloatArray:
    """Evidently's rule: empty bins get a small share so the logarithm stays finite."""
    filled = percents.copy()
    smallest = float(filled[filled != 0].min())
    filled[filled == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return filled


def psi(reference_percents: FloatArray, current_percents: FloatArray) -> float:
    """Population stability index of two binned distributions (shares per bin, zeros filled)."""
    reference, current = _fill_zeros(reference_percents), _fill_zeros(current_percents)
    return float(np.sum((reference - current) * np.log(reference / current)))
