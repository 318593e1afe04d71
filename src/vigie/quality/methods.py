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

Two verdicts per feature. ``significant`` is Evidently's verdict above, kept for parity and
shown as information: on windows of identical data it fires on ~5% of KS tests, ~27% of
chi-square tests and, past 1000 reference rows, on most small current windows (the normed
Wasserstein distance of 100 values is >= 0.1 in 70% of controls). ``drifted`` is the **alarm**,
what ``vigie_drift_detected`` and the UI show: the feature's change must be both

* large: its effect size passes a floor: normed Wasserstein >= 0.1 (Evidently's large-sample
  threshold: a tenth of a standard deviation) for a numeric feature, total variation >= 0.1
  (10 points of the mix moved) for categories and numeric features with at most 5 values,
  MMD² > 0.015 (Evidently's) for embeddings; a forced distance method is its own effect size,
  and
* significant: the two-sample test's p-value (KS; chi-square test of homogeneity; MMD
  permutation test), adjusted by Benjamini–Hochberg across the model's features
  (:mod:`vigie.quality.alarm`), is at most :data:`ALARM_LEVEL` (0.001): when nothing moved, at
  most 0.1% of a model's checks alarm. A shift Evidently calls significant with a p-value
  between 0.001 and 0.05 stays ``significant`` (visible) without alarming.

:func:`evaluate` alone treats its feature as a family of one; its ``family`` argument (the
number of features tested together) only sets how fine the embedding's permutation test resolves
small p-values (``alarm_level / family``).

Example::

    >>> select_method("numeric", reference_rows=800, n_unique=40)
    Method(name='ks', threshold=0.05, kind='p_value')
    >>> select_method("categorical", reference_rows=5000, n_unique=3).name
    'jensenshannon'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from vigie.quality import categorical, embeddings, numeric
from vigie.quality.sketches import CategoricalSketch, EmbeddingSketch, NumericSketch, Sketch

__all__ = [
    "ALARM_LEVEL",
    "DRIFT_SHARE",
    "EFFECT_FLOORS",
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
#: Level of the drift alarm: Benjamini–Hochberg false-discovery rate across a model's features,
#: so the bound on the share of no-shift checks of a model that alarm (0.1%).
ALARM_LEVEL = 0.001
#: Numeric features with at most this many distinct values are compared as categories.
FEW_VALUES = 5

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

#: Default floor of each effect size: the threshold Evidently gives the distance, and 10 points
#: of the category mix for the total variation distance.
EFFECT_FLOORS = {
    **{name: method.threshold for name, method in METHODS.items() if method.kind == "distance"},
    "total_variation": 0.1,
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
    """The verdicts on one feature: Evidently's test (``significant``) and the alarm (``drifted``).

    ``method``, ``score`` and ``threshold`` are Evidently's default test and ``significant`` its
    verdict. ``drifted`` is the alarm: ``effect`` passes ``effect_threshold`` and the ``test``'s
    ``p_value``, adjusted across the model's features (``adjusted_p_value``), is at most the
    alarm level. ``p_value`` is None for an embedding whose MMD² is under its floor (the
    permutation test is skipped; it counts as 1).
    """

    feature: str
    kind: Kind
    method: str
    score: float
    threshold: float
    drifted: bool
    reference_rows: int
    current_rows: int
    significant: bool = False
    test: str = ""
    p_value: float | None = None
    adjusted_p_value: float | None = None
    effect_method: str = ""
    effect: float = 0.0
    effect_threshold: float = 0.0

    @property
    def large(self) -> bool:
        """Whether the effect size passes its floor (the first condition of the alarm)."""
        return Method(self.effect_method, self.effect_threshold, "distance").drifted(self.effect)

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
            "significant": self.significant,
            "test": self.test,
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "effect_method": self.effect_method,
            "effect": self.effect,
            "effect_threshold": self.effect_threshold,
        }


@dataclass(frozen=True)
class _Evidence:
    """What the alarm needs: a two-sample test's p-value and an effect size with its floor."""

    test: str
    p_value: float | None
    effect_method: str
    effect: float


def evaluate(
    feature: str,
    reference: Sketch,
    current: Sketch,
    method: str | None = None,
    *,
    alarm_level: float = ALARM_LEVEL,
    effect_floors: Mapping[str, float] | None = None,
    family: int | None = None,
) -> list[FeatureDrift]:
    """Test ``current`` against ``reference``; embeddings give two verdicts (MMD and centroid).

    ``method`` forces a test (for example ``"psi"``); by default Evidently's choice applies.
    ``effect_floors`` overrides an effect size's floor by method name (``{"wasserstein": 0.2}``).
    The alarm treats the feature as a family of one (``check_model`` adjusts across features).
    ``family`` is the number of features the alarm will adjust across: Benjamini–Hochberg then
    needs p <= ``alarm_level / family`` for a feature that moved alone, so the embedding's
    permutation test runs until it can give that (None: unknown, as far as its cap allows,
    1 / 100,001, enough for 100 features at 0.001).
    Returns an empty list when either window has no value.
    """
    floors = {**EFFECT_FLOORS, **(effect_floors or {})}
    if isinstance(reference, EmbeddingSketch) and isinstance(current, EmbeddingSketch):
        min_p = None if family is None else alarm_level / max(family, 1)
        return _embedding(feature, reference, current, floors, alarm_level, min_p)
    if isinstance(reference, NumericSketch) and isinstance(current, NumericSketch):
        return _numeric(feature, reference, current, method, floors, alarm_level)
    if isinstance(reference, CategoricalSketch) and isinstance(current, CategoricalSketch):
        return _categorical(feature, reference, current, method, floors, alarm_level)
    return []


def _verdict(
    feature: str,
    kind: Kind,
    chosen: Method,
    score: float,
    rows: tuple[int, int],
    evidence: _Evidence,
    floors: Mapping[str, float],
    alarm_level: float,
) -> FeatureDrift:
    drift = FeatureDrift(
        feature,
        kind,
        chosen.name,
        score,
        chosen.threshold,
        False,
        rows[0],
        rows[1],
        significant=chosen.drifted(score),
        test=evidence.test,
        p_value=evidence.p_value,
        adjusted_p_value=evidence.p_value,
        effect_method=evidence.effect_method,
        effect=evidence.effect,
        effect_threshold=floors[evidence.effect_method],
    )
    alarm = drift.large and evidence.p_value is not None and evidence.p_value <= alarm_level
    return replace(drift, drifted=alarm)


def _numeric(
    feature: str,
    reference: NumericSketch,
    current: NumericSketch,
    method: str | None,
    floors: Mapping[str, float],
    alarm_level: float,
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
    evidence = _numeric_evidence(reference, current, n_unique, chosen, bool(method), score)
    rows = (reference.count, current.count)
    return [_verdict(feature, "numeric", chosen, score, rows, evidence, floors, alarm_level)]


def _numeric_evidence(
    reference: NumericSketch,
    current: NumericSketch,
    n_unique: int | None,
    chosen: Method,
    forced: bool,
    score: float,
) -> _Evidence:
    """A few values are compared as categories (chi-square, TV); others by KS and Wasserstein."""
    if n_unique is not None and n_unique <= FEW_VALUES:
        ref_counts, cur_counts = reference.distinct or {}, current.distinct or {}
        p_value = categorical.homogeneity_pvalue(ref_counts, cur_counts)
        if forced and chosen.kind == "distance":  # a forced distance is its own effect size
            return _Evidence("chisquare_homogeneity", p_value, chosen.name, score)
        effect = categorical.total_variation(ref_counts, cur_counts)
        return _Evidence("chisquare_homogeneity", p_value, "total_variation", effect)
    ref_values, cur_values = reference.sample(), current.sample()
    # The KS test on the same values as Evidently's: reuse its p-value when it is the score.
    p_value = score if chosen.name == "ks" else numeric.ks_pvalue(ref_values, cur_values)
    if chosen.name == "wasserstein" or (forced and chosen.kind == "distance"):
        return _Evidence("ks", p_value, chosen.name, score)  # the score is the effect size
    effect = numeric.wasserstein_normed(ref_values, cur_values, reference.std)
    return _Evidence("ks", p_value, "wasserstein", effect)


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
    feature: str,
    reference: CategoricalSketch,
    current: CategoricalSketch,
    method: str | None,
    floors: Mapping[str, float],
    alarm_level: float,
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
    p_value = categorical.homogeneity_pvalue(reference.counts, current.counts)
    if method and chosen.kind == "distance":  # a forced distance is its own effect size
        evidence = _Evidence("chisquare_homogeneity", p_value, chosen.name, score)
    else:
        effect = categorical.total_variation(reference.counts, current.counts)
        evidence = _Evidence("chisquare_homogeneity", p_value, "total_variation", effect)
    rows = (reference.count, current.count)
    return [_verdict(feature, "categorical", chosen, score, rows, evidence, floors, alarm_level)]


def _embedding(
    feature: str,
    reference: EmbeddingSketch,
    current: EmbeddingSketch,
    floors: Mapping[str, float],
    alarm_level: float,
    min_p: float | None,
) -> list[FeatureDrift]:
    if reference.count < 2 or current.count < 2:
        return []
    ref_vectors, cur_vectors = reference.sample(), current.sample()
    mmd = embeddings.mmd_squared(ref_vectors, cur_vectors)
    centroid = embeddings.centroid_distance(reference.centroid, current.centroid)
    # The permutation test costs a matrix product per batch of permutations: run it only when
    # the effect could alarm, and only as far as the alarm needs (down to min_p).
    large = Method("mmd", floors["mmd"], "distance").drifted(mmd)
    p_value = (
        embeddings.mmd_permutation_pvalue(ref_vectors, cur_vectors, min_p=min_p) if large else None
    )
    evidence = _Evidence("mmd_permutation", p_value, "mmd", mmd)
    rows = (reference.count, current.count)
    verdict = _verdict(
        feature, "embedding", METHODS["mmd"], mmd, rows, evidence, floors, alarm_level
    )
    by_centroid = _verdict(
        feature, "embedding", METHODS["centroid"], centroid, rows, evidence, floors, alarm_level
    )
    return [verdict, by_centroid]
