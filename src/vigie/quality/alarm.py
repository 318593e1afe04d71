"""The drift alarm of a model's features: large and significant after multiple testing.

A check tests every feature of a model at once, every minute. Evidently's per-feature verdict
at p < 0.05 then raises a false alarm somewhere nearly every time: a model of 20 features at
5% each has a 64% chance that at least one fires on identical data. The alarm
(``FeatureDrift.drifted``, what ``vigie_drift_detected`` and the UI show) therefore needs:

1. **an effect size past its floor** (``FeatureDrift.large``): normed Wasserstein >= 0.1 for a
   numeric feature (a tenth of a standard deviation, Evidently's large-sample threshold), total
   variation >= 0.1 for categories (10 points of the mix moved), MMD² > 0.015 for embeddings
   (Evidently's). Tiny but significant changes in very large windows page no one; and
2. **significance after Benjamini–Hochberg** across the model's features: the two-sample
   p-values are adjusted (:func:`benjamini_hochberg`), and the adjusted p-value must be at most
   the alarm level (``ALARM_LEVEL``, 0.001).

The bound: when no feature of a model moved, Benjamini–Hochberg at level 0.001 keeps the chance
that *any* of its features alarms at a check at most 0.1% (its false discovery rate equals that
family-wise rate under the complete null; it holds for independent or positively dependent
tests, and every p-value here is valid at any window size: KS (exact up to 10,000 values),
sequential permutations (exact), chi-square with rare categories pooled). 0.1 false alarm is
expected per 100 checks, so "none over 100 seeds" holds; at 0.005 it would not (0.5 expected).
The effect floor can only lower it, and does so a lot once windows hold a few hundred rows: the
floor is then out of reach of sampling noise. Measured (``tests/quality/test_controls.py``,
six features): no feature alarm on any of 100 checks at 400 / 400, 5,000 / 100 and 2,000 / 2,000
rows, nor on 200 checks at 60 / 30 rows, where only the correction protects (lowest adjusted
p-value 0.0013); ``benchmarks/bench_drift.py --controls`` gives the same on 20 features.
The price: a shift Evidently calls significant with p in (0.001, 0.05) stays ``significant``
(visible) without alarming. A lone feature of ``F`` needs p <= 0.001 / ``F``: the embedding's
permutation test runs long enough to give it (:mod:`vigie.quality.embeddings`).
A missing p-value (an embedding under its MMD² floor skips its permutation test) counts as 1.

Persistence (the rule's ``for: 15m``) is not part of the bound: the current window is the last
hour, re-tested every minute, so a noisy window stays noisy for most of an hour.

Example::

    >>> [round(q, 3) for q in benjamini_hochberg([0.01, 0.04, 0.03, 0.2])]
    [0.04, 0.053, 0.053, 0.2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from vigie.quality.methods import ALARM_LEVEL, FeatureDrift

__all__ = ["benjamini_hochberg", "raise_alarms"]


def benjamini_hochberg(p_values: Sequence[float | None]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values, in input order (``None`` counts as 1).

    ``q_i = min over j with p_j >= p_i of (p_j x m / rank_j)``, capped at 1: a feature alarms at
    level ``a`` exactly when BH's step-up procedure at false discovery rate ``a`` rejects it.
    """
    if not p_values:
        return []
    values = np.array([1.0 if p is None else p for p in p_values], dtype=float)
    order = np.argsort(values, kind="stable")
    ranked = values[order] * len(values) / np.arange(1, len(values) + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    result = np.empty_like(adjusted)
    result[order] = np.minimum(adjusted, 1.0)
    return [float(q) for q in result]


def raise_alarms(drifts: Sequence[FeatureDrift], level: float = ALARM_LEVEL) -> list[FeatureDrift]:
    """Set each verdict's adjusted p-value and alarm, the family being the features of ``drifts``.

    A feature with several verdicts (an embedding: MMD and centroid) is one member of the
    family, tested by its first verdict's p-value; all its verdicts share its alarm.
    """
    first: dict[str, FeatureDrift] = {}
    for drift in drifts:
        first.setdefault(drift.feature, drift)
    features = list(first)
    adjusted = dict(
        zip(features, benjamini_hochberg([first[f].p_value for f in features]), strict=True)
    )
    alarms = {
        feature: first[feature].large
        and first[feature].p_value is not None
        and adjusted[feature] <= level
        for feature in features
    }
    return [
        replace(
            drift,
            adjusted_p_value=None if drift.p_value is None else adjusted[drift.feature],
            drifted=alarms[drift.feature],
        )
        for drift in drifts
    ]
