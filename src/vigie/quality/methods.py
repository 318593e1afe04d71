"""Which drift test applies to a feature, its threshold, and the verdict: Evidently's defaults.

The selection is Evidently's ``_get_default_stattest`` (file
``evidently/legacy/calculations/stattests/registry.py``, evidently 0.7.23), with the thresholds
and comparison directions of each test's module in the same folder:

======================  ==========================  =========================  ============
feature                 reference rows <= 1000       reference rows > 1000      drift when
======================  ==========================  =========================  ============
numeric, > 5 distinct   ``ks`` (p-value)             ``wasserstein`` (normed)   p <= 0.05 /
                                                                                score >= 0.1
numeric, 3–5 distinct   ``chisquare`` (p-value)      ``jensenshannon``          p < 0.05 /
                                                                                score >= 0.1
numeric, <= 2 distinct  ``z`` (p-value)              ``jensenshannon``          same
categorical, > 2        ``chisquare``                ``jensenshannon``          same
categorical, <= 2       ``z``                        ``jensenshannon``          same
embedding               ``mmd`` (MMD², 0.015) and ``centroid`` (Euclidean, 0.2)  score > t
======================  ==========================  =========================  ============

"Distinct" counts the values of both windows together. ``psi`` (threshold 0.1) is available on
request. A model drifts when the share of its drifted features is at least
:data:`DRIFT_SHARE` (0.5, Evidently's ``DataDriftPreset(drift_share=0.5)``).

Example::

    >>> select_method("numeric", reference_rows=800, n_unique=40)
    Method(name='ks', threshold=0.05, kind='p_value')
    >>> select_method("categorical", reference_rows=5000, n_unique=3).name
    'jensenshannon'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from vigie.quality import categorical, embeddings, numeric
from vigie.quality.sketches import CategoricalSketch, EmbeddingSketch, NumericSketch, Sketch

__all__ = [
    "DRIFT_SHARE",
    "METHODS",
    "SMALL_REFERENCE",
    "FeatureDrift",
    "Method",
    "evaluate",
    "select_method",
]

#: Share of drifted features from which the whole model (dataset) is drifting.
DRIFT_SHARE = 0.5
#: Reference sizes up to this use statistical tests; larger ones use distances.
SMALL_REFERENCE = 1000

Kind = Literal["numeric", "categorical", "embedding"]


@dataclass(frozen=True)
class Method:
    """A drift test: ``kind`` says whether a low p-value or a high distance means drift."""

    name: str
    threshold: float
    kind: Literal["p_value", "distance"]

    def drifted(self, score: float) -> bool:
        """Evidently's comparison for this test (``<=``, ``<``, ``>=`` or ``>``)."""
        if self.name == "ks":
            return score <= self.threshold
        if self.kind == "p_value":
            return score < self.threshold
        if self.name in ("mmd", "centroid"):
            return score > self.threshold
        return score >= self.threshold


METHODS: dict[str, Method] = {
    "ks": Method("ks", 0.05, "p_value"),
    "chisquare": Method("chisquare", 0.05, "p_value"),
    "z": Method("z", 0.05, "p_value"),
    "wasserstein": Method("wasserstein", 0.1, "distance"),
    "jensenshannon": Method("jensenshannon", 0.1, "distance"),
    "psi": Method("psi", 0.1, "distance"),
    "mmd": Method("mmd", embeddings.MMD_THRESHOLD, "distance"),
    "centroid": Method("centroid", embeddings.CENTROID_THRESHOLD, "distance"),
}


def select_method(kind: Kind, *, reference_rows: int, n_unique: int | None) -> Method:
    """Evidently's default test for a feature; ``n_unique`` None means "many" (> 64)."""
    if kind == "embedding":
        return METHODS["mmd"]
    many = n_unique is None or n_unique > 5
    if reference_rows <= SMALL_REFERENCE:
        if kind == "numeric" and many:
            return METHODS["ks"]
        few = n_unique is not None and n_unique <= 2
        return METHODS["z"] if few else METHODS["chisquare"]
    if kind == "numeric" and many:
        return METHODS["wasserstein"]
    return METHODS["jensenshannon"]


@dataclass(frozen=True)
class FeatureDrift:
    """The verdict on one feature: which test, its score and threshold, drifted or not."""

    feature: str
    kind: Kind
    method: str
    score: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int

    def as_dict(self) -> dict[str, object]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
        }


def evaluate(
    feature: str, reference: Sketch, current: Sketch, method: str | None = None
) -> list[FeatureDrift]:
    """Test ``current`` against ``reference``; embeddings give two verdicts (MMD and centroid).

    ``method`` forces a test (for example ``"psi"``); by default Evidently's choice applies.
    Returns an empty list when either window has no value.
    """
    if isinstance(reference, EmbeddingSketch) and isinstance(current, EmbeddingSketch):
        return _embedding(feature, reference, current)
    if isinstance(reference, NumericSketch) and isinstance(current, NumericSketch):
        return _numeric(feature, reference, current, method)
    if isinstance(reference, CategoricalSketch) and isinstance(current, CategoricalSketch):
        return _categorical(feature, reference, current, method)
    return []


def _verdict(
    feature: str, kind: Kind, chosen: Method, score: float, ref: int, cur: int
) -> FeatureDrift:
    return FeatureDrift(
        feature, kind, chosen.name, score, chosen.threshold, chosen.drifted(score), ref, cur
    )


def _numeric(
    feature: str, reference: NumericSketch, current: NumericSketch, method: str | None
) -> list[FeatureDrift]:
    if not reference.count or not current.count:
        return []
    n_unique = None
    if reference.distinct is not None and current.distinct is not None:
        n_unique = len(set(reference.distinct) | set(current.distinct))
    chosen = (
        METHODS[method]
        if method
        else select_method("numeric", reference_rows=reference.count, n_unique=n_unique)
    )
    ref_values, cur_values = reference.sample(), current.sample()
    if chosen.name == "ks":
        score = numeric.ks_pvalue(ref_values, cur_values)
    elif chosen.name == "wasserstein":
        score = numeric.wasserstein_normed(ref_values, cur_values, reference.std)
    elif chosen.name in ("chisquare", "z") or (
        chosen.name == "jensenshannon"
        and reference.distinct is not None
        and len(reference.distinct) <= 20
    ):
        score = _on_counts(chosen.name, reference.distinct or {}, current.distinct or {})
    else:  # jensenshannon or psi over Sturges bins of both windows
        ref_shares, cur_shares = _binned(reference, current)
        score = (
            numeric.psi(ref_shares, cur_shares)
            if chosen.name == "psi"
            else categorical.jensen_shannon_shares(ref_shares, cur_shares)
        )
    return [_verdict(feature, "numeric", chosen, score, reference.count, current.count)]


def _binned(
    reference: NumericSketch, current: NumericSketch
) -> tuple[numeric.FloatArray, numeric.FloatArray]:
    edges = numeric.sturges_edges(
        min(reference.minimum, current.minimum),
        max(reference.maximum, current.maximum),
        reference.count + current.count,
    )
    ref_values, cur_values = reference.sample(), current.sample()
    ref_shares = np.histogram(ref_values, edges)[0] / len(ref_values)
    cur_shares = np.histogram(cur_values, edges)[0] / len(cur_values)
    return ref_shares.astype(float), cur_shares.astype(float)


def _on_counts(name: str, reference: categorical.Counts, current: categorical.Counts) -> float:
    if name == "chisquare":
        return categorical.chi_square_pvalue(reference, current)
    if name == "z":
        return categorical.z_test_pvalue(reference, current)
    if name == "psi":
        _, ref, cur = categorical.aligned_shares(reference, current)
        return numeric.psi(ref, cur)
    return categorical.jensen_shannon(reference, current)


def _categorical(
    feature: str, reference: CategoricalSketch, current: CategoricalSketch, method: str | None
) -> list[FeatureDrift]:
    if not reference.count or not current.count:
        return []
    n_unique = len(set(reference.counts) | set(current.counts))
    chosen = (
        METHODS[method]
        if method
        else select_method("categorical", reference_rows=reference.count, n_unique=n_unique)
    )
    score = _on_counts(chosen.name, reference.counts, current.counts)
    return [_verdict(feature, "categorical", chosen, score, reference.count, current.count)]


def _embedding(
    feature: str, reference: EmbeddingSketch, current: EmbeddingSketch
) -> list[FeatureDrift]:
    if reference.count < 2 or current.count < 2:
        return []
    mmd = embeddings.mmd_squared(reference.sample(), current.sample())
    centroid = embeddings.centroid_distance(reference.centroid, current.centroid)
    ref, cur = reference.count, current.count
    return [
        _verdict(feature, "embedding", METHODS["mmd"], mmd, ref, cur),
        _verdict(feature, "embedding", METHODS["centroid"], centroid, ref, cur),
    ]
