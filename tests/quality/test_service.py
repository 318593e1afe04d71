"""QualityService end to end: ingest, scheduled check, series in a real store, restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vigie.exceptions import ConfigurationError, PayloadError
from vigie.quality.service import QualityService
from vigie.store.interface import Matcher
from vigie.store.memory import MemoryStorage

HOUR = 3600.0
NOW = 100 * HOUR


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _samples(rng: np.random.Generator, start: float, shift: float, n: int = 600) -> dict[str, Any]:
    times = start + rng.uniform(0, HOUR, n)
    labels = rng.choice(
        ["refund", "billing", "other"], n, p=[0.5, 0.3, 0.2] if not shift else [0.2, 0.3, 0.5]
    )
    samples = []
    for i in range(n):
        samples.append(
            {
                "model": "intent",
                "time": float(times[i]),
                "numeric": {
                    "amount": float(rng.normal(50 + 20 * shift, 10)),
                    "prediction.confidence": float(rng.uniform(0.3 if shift else 0.6, 1.0)),
                    "answer.sources": float(i % 4),
                },
                "categorical": {"prediction.label": str(labels[i]), "answer.empty": "false"},
                "feedback": "up" if i % 5 else "down",
            }
        )
    return {"version": 1, "samples": samples}


def _value(storage: MemoryStorage, name: str, **labels: str) -> float:
    matchers = [Matcher("__name__", "=", name)] + [Matcher(k, "=", v) for k, v in labels.items()]
    (series,) = storage.querier().select(matchers, 0, int(NOW * 1000))
    return float(series.values[-1])


def test_shift_is_detected_and_written_as_series(tmp_path: Path) -> None:
    """A shifted current hour yields drift series, the drift share and the quality ratios."""
    storage, rng = MemoryStorage(), np.random.default_rng(0)
    service = QualityService(tmp_path, storage.appender, Clock(NOW))
    service.ingest(_samples(rng, NOW - 3 * HOUR, shift=0))
    service.ingest(_samples(rng, NOW - HOUR, shift=1))
    report = service.run_checks()
    (model,) = report["models"]
    verdicts = {f["feature"]: (f["method"], f["drifted"]) for f in model["features"]}
    assert verdicts == {
        "amount": ("ks", True),
        "answer.empty": ("z", False),
        "answer.sources": ("chisquare", False),
        "prediction.confidence": ("ks", True),
        "prediction.label": ("chisquare", True),
    }
    assert _value(storage, "vigie_drift_detected", model="intent", feature="amount") == 1.0
    assert _value(storage, "vigie_drift_share", model="intent") == pytest.approx(3 / 5)
    assert _value(storage, "vigie_drift_model_detected", model="intent") == 1.0
    assert (
        _value(storage, "vigie_drift_score", model="intent", feature="amount", method="ks") < 0.05
    )
    assert _value(storage, "vigie_quality_feedback_satisfaction_ratio", model="intent") == 0.8
    assert _value(storage, "vigie_quality_answer_unsourced_ratio", model="intent") == 0.25
    low = _value(storage, "vigie_quality_low_confidence_ratio", model="intent")
    assert 0.2 < low < 0.4  # uniform(0.3, 1) below 0.5: 2/7
    assert _value(storage, "vigie_quality_window_samples", model="intent", window="current") == 600
    assert service.report() == report


def test_fixed_reference_survives_restart(tmp_path: Path) -> None:
    """A reference set on a good period is frozen, saved, and used after a restart."""
    storage, rng, clock = MemoryStorage(), np.random.default_rng(1), Clock(NOW)
    service = QualityService(tmp_path, storage.appender, clock)
    service.ingest(_samples(rng, NOW - 30 * HOUR, shift=0))
    summary = service.set_reference("intent", NOW - 30 * HOUR, NOW - 29 * HOUR)
    assert summary["samples"] == 600
    service.run_checks()
    clock.now = NOW + 200 * HOUR  # far past retention: the buckets are gone, the reference stays
    restarted = QualityService(tmp_path, storage.appender, clock)
    restarted.ingest(_samples(rng, clock.now - HOUR, shift=1))
    (model,) = restarted.run_checks()["models"]
    assert model["reference"]["kind"] == "fixed"
    assert model["reference"]["frozen"]
    assert model["reference_samples"] == 600
    assert model["drifted"]
    restarted.reset_reference("intent")
    clock.now += 60
    (model,) = QualityService(tmp_path, storage.appender, clock).run_checks()["models"]
    assert (model["reference"]["kind"], model["reference"]["frozen"]) == ("trailing", False)
    assert model["reference_samples"] < 600  # only the new hour's edge bucket is that old


def test_bad_batch_keeps_nothing(tmp_path: Path) -> None:
    """A batch with one bad sample is refused whole."""
    service = QualityService(tmp_path, MemoryStorage().appender, Clock(NOW))
    batch = {
        "samples": [{"model": "m", "numeric": {"x": 1}}, {"model": "m", "numeric": {"x": "?"}}]
    }
    with pytest.raises(PayloadError, match=r"samples\[1\]\.numeric\.x"):
        service.ingest(batch)
    assert service.models == {}


def test_distributions_for_the_ui(tmp_path: Path) -> None:
    """Reference and current shares per bin or category, as plain lists."""
    rng = np.random.default_rng(2)
    service = QualityService(tmp_path, MemoryStorage().appender, Clock(NOW))
    service.ingest(_samples(rng, NOW - 3 * HOUR, shift=0))
    service.ingest(_samples(rng, NOW - HOUR, shift=1))
    numeric = service.distributions("intent", "amount", bins=10)
    assert numeric["kind"] == "numeric"
    assert len(numeric["edges"]) == 11
    assert sum(numeric["reference"]) == pytest.approx(1.0)
    labels = service.distributions("intent", "prediction.label")
    assert labels["categories"] == ["billing", "other", "refund"]
    assert labels["current"][1] > labels["reference"][1]
    with pytest.raises(ConfigurationError, match="no samples"):
        service.distributions("unknown", "x")


def test_unknown_forced_method_is_refused(tmp_path: Path) -> None:
    """A forced method must be one vigie knows."""
    with pytest.raises(ConfigurationError, match="unknown drift method 'anderson'"):
        QualityService(tmp_path, MemoryStorage().appender, methods={"x": "anderson"})


def test_model_count_is_bounded(tmp_path: Path) -> None:
    """A batch that would track more than MAX_MODELS models is refused, naming the model."""
    from vigie.quality.service import MAX_MODELS

    service = QualityService(tmp_path, MemoryStorage().appender, Clock(NOW))
    service.ingest({"samples": [{"model": f"m{i}"} for i in range(MAX_MODELS)]})
    with pytest.raises(PayloadError, match="model: 'extra' would exceed the limit of 200 models"):
        service.ingest({"samples": [{"model": "m1"}, {"model": "extra"}]})
    assert len(service.models) == MAX_MODELS


def test_future_timestamps_land_now(tmp_path: Path) -> None:
    """A sample stamped in the future is counted at the arrival time."""
    service = QualityService(tmp_path, MemoryStorage().appender, Clock(NOW))
    service.ingest({"samples": [{"model": "m", "time": NOW + 10 * HOUR, "numeric": {"x": 1}}]})
    assert list(service.models["m"].buckets) == [int(NOW // 300 * 300)]


def test_alarm_options_are_validated(tmp_path: Path) -> None:
    """alarm_level must be in (0, 1); effect floors apply to distance methods only."""
    appender = MemoryStorage().appender
    with pytest.raises(ConfigurationError, match="alarm level") as caught:
        QualityService(tmp_path, appender, alarm_level=0.0)
    assert caught.value.field == "alarm_level"
    with pytest.raises(ConfigurationError, match="'ks' is not an effect size") as caught:
        QualityService(tmp_path, appender, effect_floors={"ks": 0.2})
    assert caught.value.field == "effect_floors"
    service = QualityService(
        tmp_path, appender, alarm_level=0.01, effect_floors={"total_variation": 0.2}
    )
    assert (service.alarm_level, service.effect_floors) == (0.01, {"total_variation": 0.2})


def test_effect_floor_option_reaches_the_check(tmp_path: Path) -> None:
    """A label mix that moved 30 points alarms by default, not with a floor of 0.5 on it."""
    rng = np.random.default_rng(0)
    for floors, expected in ((None, True), ({"total_variation": 0.5}, False)):
        service = QualityService(
            tmp_path / str(expected), MemoryStorage().appender, Clock(NOW), effect_floors=floors
        )
        service.ingest(_samples(rng, NOW - 3 * HOUR, shift=0))
        service.ingest(_samples(rng, NOW - HOUR, shift=1))
        (model,) = service.run_checks()["models"]
        label = next(f for f in model["features"] if f["feature"] == "prediction.label")
        assert (label["significant"], label["drifted"]) == (True, expected)
