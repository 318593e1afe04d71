"""The scheduled drift check: per model and feature, a verdict, written as series in the store.

:func:`check_model` compares a model's current window with its reference window feature by
feature (:func:`vigie.quality.methods.evaluate`), and :func:`write_series` appends the results
through a store :class:`~vigie.store.interface.Appender`, all at the check's timestamp:

* ``vigie_drift_score{model,feature,method}``: the test's score, a p-value (``ks``,
  ``chisquare``, ``z``) or a distance (``wasserstein``, ``jensenshannon``, ``psi``, ``mmd``,
  ``centroid``); ``vigie_drift_threshold{model,feature,method}``: what it is compared with.
* ``vigie_drift_detected{model,feature}``: 1 when the feature's drift **alarm** is raised, else
  0 (:mod:`vigie.quality.alarm`: effect size past its floor and Benjamini–Hochberg adjusted
  p-value <= 0.001 across the model's features). This is what alert rules use.
* ``vigie_drift_significant{model,feature}``: 1 when Evidently's test alone says drift
  (informational: ~5% of no-shift checks per KS feature, more for chi-square).
* ``vigie_drift_effect{model,feature,method}``: the effect size the alarm compares with its floor;
  ``vigie_drift_adjusted_p_value{model,feature,test}``: the alarm's adjusted p-value.
* ``vigie_drift_share{model}``: share of the model's features whose alarm is raised;
  ``vigie_drift_model_detected{model}``: 1 when that share >= the drift share (0.5);
  ``vigie_drift_significant_share{model}``: share by Evidently's verdicts (its drift share).
* ``vigie_quality_window_samples{model,window}``: samples in the ``current`` and ``reference``
  windows.
* ``vigie_quality_low_confidence_ratio{model}``, ``vigie_quality_feedback_satisfaction_ratio``,
  ``vigie_quality_answer_empty_ratio``, ``vigie_quality_answer_refusal_ratio``,
  ``vigie_quality_answer_unsourced_ratio`` (each ``{model}``): shares in the current window.

All are gauges. A ratio is written only when its denominator is not zero. An embedding feature
has two scores (``mmd`` and ``centroid``); its verdict is the MMD test's.

Example::

    >>> from vigie.store.memory import MemoryStorage
    >>> storage = MemoryStorage()
    >>> report = ModelReport("m", [], {"samples": 0}, {"samples": 0}, 0.5)
    >>> write_series([report], storage.appender(), 60_000)
    >>> [s.labels["__name__"] for s in storage.querier().select([], 0, 60_000)]
    ['vigie_quality_window_samples', 'vigie_quality_window_samples']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vigie.quality.alarm import raise_alarms
from vigie.quality.methods import ALARM_LEVEL, DRIFT_SHARE, FeatureDrift, evaluate
from vigie.quality.sketches import Sketch
from vigie.store.interface import Appender

__all__ = ["RATIOS", "ModelReport", "check_model", "write_series"]

#: Ratio series: name -> (numerator counter, denominator counter).
RATIOS: dict[str, tuple[str, str]] = {
    "vigie_quality_low_confidence_ratio": ("low_confidence", "confidence"),
    "vigie_quality_feedback_satisfaction_ratio": ("feedback_satisfied", "feedback"),
    "vigie_quality_answer_empty_ratio": ("answers_empty", "answers"),
    "vigie_quality_answer_refusal_ratio": ("answers_refusal", "answers"),
    "vigie_quality_answer_unsourced_ratio": ("answers_unsourced", "answers"),
}


@dataclass
class ModelReport:
    """The outcome of one check of one model."""

    model: str
    drifts: list[FeatureDrift]
    current_counters: Mapping[str, int]
    reference_counters: Mapping[str, int]
    drift_share_threshold: float = DRIFT_SHARE
    alarm_level: float = ALARM_LEVEL

    @property
    def verdicts(self) -> dict[str, FeatureDrift]:
        """One verdict per feature (the first test of each: MMD for embeddings)."""
        found: dict[str, FeatureDrift] = {}
        for drift in self.drifts:
            found.setdefault(drift.feature, drift)
        return found

    @property
    def drift_share(self) -> float:
        """Share of the features whose alarm is raised (``vigie_drift_share``)."""
        verdicts = self.verdicts
        return sum(v.drifted for v in verdicts.values()) / len(verdicts) if verdicts else 0.0

    @property
    def drifted(self) -> bool:
        """The model's alarm: at least the drift share of its features alarm."""
        return bool(self.verdicts) and self.drift_share >= self.drift_share_threshold

    @property
    def significant_share(self) -> float:
        """Share of the features Evidently's tests call drifted (its ``DriftedColumnsCount``)."""
        verdicts = self.verdicts
        return sum(v.significant for v in verdicts.values()) / len(verdicts) if verdicts else 0.0

    @property
    def significant(self) -> bool:
        """Evidently's dataset-drift verdict (``DataDriftPreset``), informational."""
        return bool(self.verdicts) and self.significant_share >= self.drift_share_threshold

    def ratios(self) -> dict[str, float]:
        """The quality ratios of the current window (only those with a denominator)."""
        result = {}
        for name, (numerator, denominator) in RATIOS.items():
            total = self.current_counters.get(denominator, 0)
            if total:
                result[name] = self.current_counters.get(numerator, 0) / total
        return result

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the API, the CLI and the UI."""
        return {
            "model": self.model,
            "drift_share": self.drift_share,
            "drift_share_threshold": self.drift_share_threshold,
            "drifted": self.drifted,
            "significant_share": self.significant_share,
            "significant": self.significant,
            "alarm_level": self.alarm_level,
            "features": [drift.as_dict() for drift in self.drifts],
            "current_samples": self.current_counters.get("samples", 0),
            "reference_samples": self.reference_counters.get("samples", 0),
            "ratios": self.ratios(),
        }


def check_model(
    model: str,
    reference: Mapping[str, Sketch],
    current: Mapping[str, Sketch],
    reference_counters: Mapping[str, int],
    current_counters: Mapping[str, int],
    *,
    methods: Mapping[str, str] | None = None,
    drift_share: float = DRIFT_SHARE,
    alarm_level: float = ALARM_LEVEL,
    effect_floors: Mapping[str, float] | None = None,
) -> ModelReport:
    """Test every feature present in both windows and raise the alarms across them.

    ``methods`` forces a test per feature; ``alarm_level`` is the Benjamini–Hochberg level of
    the alarm and ``effect_floors`` overrides effect-size floors by method (see
    :mod:`vigie.quality.alarm`).
    """
    drifts: list[FeatureDrift] = []
    names = sorted(set(reference) & set(current))
    for feature in names:
        forced = (methods or {}).get(feature)
        drifts.extend(
            evaluate(
                feature,
                reference[feature],
                current[feature],
                forced,
                alarm_level=alarm_level,
                effect_floors=effect_floors,
                family=len(names),  # the permutation test resolves p down to level / family
            )
        )
    return ModelReport(
        model,
        raise_alarms(drifts, alarm_level),
        current_counters,
        reference_counters,
        drift_share,
        alarm_level,
    )


def write_series(reports: Iterable[ModelReport], appender: Appender, timestamp_ms: int) -> None:
    """Append every report's series at ``timestamp_ms`` and commit."""
    try:
        for report in reports:
            model = report.model
            for drift in report.drifts:
                labels = {"model": model, "feature": drift.feature, "method": drift.method}
                appender.append(
                    {"__name__": "vigie_drift_score", **labels}, timestamp_ms, drift.score
                )
                appender.append(
                    {"__name__": "vigie_drift_threshold", **labels}, timestamp_ms, drift.threshold
                )
            for feature, verdict in report.verdicts.items():
                labels = {"model": model, "feature": feature}
                appender.append(
                    {"__name__": "vigie_drift_detected", **labels},
                    timestamp_ms,
                    float(verdict.drifted),
                )
                appender.append(
                    {"__name__": "vigie_drift_significant", **labels},
                    timestamp_ms,
                    float(verdict.significant),
                )
                appender.append(
                    {"__name__": "vigie_drift_effect", **labels, "method": verdict.effect_method},
                    timestamp_ms,
                    verdict.effect,
                )
                if verdict.adjusted_p_value is not None:
                    appender.append(
                        {
                            "__name__": "vigie_drift_adjusted_p_value",
                            **labels,
                            "test": verdict.test,
                        },
                        timestamp_ms,
                        verdict.adjusted_p_value,
                    )
            if report.verdicts:
                appender.append(
                    {"__name__": "vigie_drift_significant_share", "model": model},
                    timestamp_ms,
                    report.significant_share,
                )
                appender.append(
                    {"__name__": "vigie_drift_share", "model": model},
                    timestamp_ms,
                    report.drift_share,
                )
                appender.append(
                    {"__name__": "vigie_drift_model_detected", "model": model},
                    timestamp_ms,
                    float(report.drifted),
                )
            for window, counters in (
                ("current", report.current_counters),
                ("reference", report.reference_counters),
            ):
                appender.append(
                    {"__name__": "vigie_quality_window_samples", "model": model, "window": window},
                    timestamp_ms,
                    float(counters.get("samples", 0)),
                )
            for name, value in report.ratios().items():
                appender.append({"__name__": name, "model": model}, timestamp_ms, value)
    except BaseException:
        appender.rollback()
        raise
    appender.commit()
