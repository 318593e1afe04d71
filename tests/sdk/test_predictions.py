"""Predictions: labels, confidence, inference time, low-confidence threshold."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry

from vigie.exceptions import ConfigurationError
from vigie.sdk.predictions import record_prediction

INTENT = {"model": "intent"}


def test_prediction_metrics(registry: CollectorRegistry) -> None:
    """A prediction counts its label and observes confidence and duration."""
    record_prediction("intent", "refund", 0.93, duration=0.004, registry=registry)
    record_prediction("intent", "refund", 0.71, registry=registry)
    record_prediction("intent", "greeting", registry=registry)
    get = registry.get_sample_value
    assert get("ml_predictions_total", {**INTENT, "label": "refund"}) == 2
    assert get("ml_predictions_total", {**INTENT, "label": "greeting"}) == 1
    assert get("ml_prediction_confidence_count", INTENT) == 2
    assert get("ml_prediction_confidence_sum", INTENT) == pytest.approx(1.64)
    assert get("ml_prediction_confidence_bucket", {**INTENT, "le": "0.9"}) == 1
    assert get("ml_prediction_duration_seconds_sum", INTENT) == 0.004
    assert get("ml_prediction_duration_seconds_bucket", {**INTENT, "le": "0.0025"}) == 0
    assert get("ml_prediction_duration_seconds_bucket", {**INTENT, "le": "0.005"}) == 1
    assert get("ml_low_confidence_predictions_total", INTENT) == 0


def test_default_threshold_is_half(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below 0.5 is low confidence by default; exactly 0.5 is not."""
    monkeypatch.delenv("VIGIE_LOW_CONFIDENCE_THRESHOLD", raising=False)
    for confidence in (0.49, 0.5, 0.1):
        record_prediction("intent", "refund", confidence, registry=registry)
    assert registry.get_sample_value("ml_low_confidence_predictions_total", INTENT) == 2


def test_threshold_from_environment_and_argument(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VIGIE_LOW_CONFIDENCE_THRESHOLD sets the threshold; the argument overrides it."""
    monkeypatch.setenv("VIGIE_LOW_CONFIDENCE_THRESHOLD", "0.8")
    record_prediction("intent", "refund", 0.7, registry=registry)
    record_prediction("intent", "refund", 0.7, threshold=0.6, registry=registry)
    assert registry.get_sample_value("ml_low_confidence_predictions_total", INTENT) == 1


def test_bad_threshold_variable_names_itself(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A threshold that is not a number fails with the variable's name."""
    monkeypatch.setenv("VIGIE_LOW_CONFIDENCE_THRESHOLD", "high")
    with pytest.raises(ConfigurationError, match="VIGIE_LOW_CONFIDENCE_THRESHOLD"):
        record_prediction("intent", "refund", 0.7, registry=registry)


@pytest.mark.parametrize(
    ("confidence", "duration"), [(1.5, None), (float("nan"), None), (0.5, -1.0)]
)
def test_bad_measurements_are_logged_and_dropped(
    registry: CollectorRegistry,
    caplog: pytest.LogCaptureFixture,
    confidence: float,
    duration: float | None,
) -> None:
    """An out-of-range confidence or negative duration is dropped with a warning, not raised."""
    caplog.set_level(logging.WARNING, logger="vigie")
    record_prediction("intent", "refund", confidence, duration=duration, registry=registry)
    assert registry.get_sample_value("ml_predictions_total", {**INTENT, "label": "refund"}) is None
