"""Model predictions: what a classifier (or any scored model) answers, and how sure it is.

A model degrading in production rarely errors; it answers with less confidence, or starts
predicting one label much more often. :func:`record_prediction` counts predictions per label,
observes confidence and inference time, and counts low-confidence predictions against a
threshold (``VIGIE_LOW_CONFIDENCE_THRESHOLD``, 0.5 by default).

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> record_prediction("intent", "refund", 0.42, duration=0.012, registry=registry)
    >>> registry.get_sample_value("ml_low_confidence_predictions_total", {"model": "intent"})
    1.0
"""

from __future__ import annotations

import logging
import math
import sys

from prometheus_client import CollectorRegistry

from vigie.environment_variables import VIGIE_LOW_CONFIDENCE_THRESHOLD
from vigie.sdk import instruments
from vigie.sdk.failsafe import guard

__all__ = ["CONFIDENCE_BUCKETS", "INFERENCE_BUCKETS", "record_prediction"]

logger = logging.getLogger("vigie")

CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.predictions = instruments.counter(
            "ml_predictions", "Predictions by model and predicted label.", ["model", "label"],
            registry=registry,
        )  # fmt: skip
        self.confidence = instruments.histogram(
            "ml_prediction_confidence",
            "Confidence (0 to 1) of each prediction.",
            ["model"],
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self.duration = instruments.histogram(
            "ml_prediction_duration_seconds",
            "Inference time per prediction.",
            ["model"],
            buckets=INFERENCE_BUCKETS,
            registry=registry,
        )
        self.low = instruments.counter(
            "ml_low_confidence_predictions",
            "Predictions whose confidence is below the low-confidence threshold.",
            ["model"],
            registry=registry,
        )


_warned: set[str] = set()
_metrics = instruments.PerRegistry(_Metrics)


def _drop(what: str, value: object) -> None:
    """A bad measurement is the caller's mistake: log it once per kind, drop it, carry on."""
    if what not in _warned:
        _warned.add(what)
        logger.warning("vigie: dropped a prediction with invalid %s %r", what, value)


def record_prediction(
    model: str,
    label: str,
    confidence: float | None = None,
    *,
    duration: float | None = None,
    threshold: float | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Record one prediction of ``model``: its ``label``, ``confidence`` (0..1) and ``duration``.

    ``label`` must be one of a bounded set (the model's classes), never free text or a user id.
    A confidence outside [0, 1] or NaN, or a negative duration, is logged once and dropped.
    ``threshold`` overrides ``VIGIE_LOW_CONFIDENCE_THRESHOLD`` for this call.
    """
    if confidence is not None and not 0.0 <= confidence <= 1.0:  # also rejects NaN
        _drop("confidence", confidence)
        return
    if duration is not None and not (duration >= 0 and math.isfinite(duration)):
        _drop("duration", duration)
        return
    if threshold is None:
        threshold = VIGIE_LOW_CONFIDENCE_THRESHOLD.read_float() or 0.0
    with guard("record_prediction"):
        metrics = _metrics(registry)
        metrics.predictions.labels(model, label).inc()
        if confidence is not None:
            metrics.confidence.labels(model).observe(confidence)
            low = metrics.low.labels(model)  # exists at 0 from the first prediction on
            if confidence < threshold:
                low.inc()
        if duration is not None:
            metrics.duration.labels(model).observe(duration)
    # Quality sampling costs nothing unless the app configured it (the module is then loaded).
    sampling = sys.modules.get("vigie.sdk.quality_sampling")
    if sampling is not None:
        with guard("record_prediction quality sample"):
            sampler = sampling.default_sampler()
            if sampler is not None and sampler.from_record_prediction:
                sampling.sample_prediction(model, label, confidence)
