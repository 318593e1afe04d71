"""The check's series: names, labels and values in a real store."""

from __future__ import annotations

import numpy as np

from vigie.quality.detector import check_model, write_series
from vigie.quality.sketches import EmbeddingSketch, NumericSketch
from vigie.store.memory import MemoryStorage


def test_series_names_labels_and_values() -> None:
    """Scores, thresholds, verdicts, share and model verdict are written at the check time."""
    rng = np.random.default_rng(0)
    windows = []
    for shift in (0.0, 3.0):
        amount, vectors = NumericSketch(), EmbeddingSketch(4)
        amount.add(rng.normal(shift, 1, 200))
        vectors.add(rng.normal(0, 1, (100, 4)))
        windows.append({"amount": amount, "query": vectors})
    report = check_model(
        "intent",
        windows[0],
        windows[1],
        {"samples": 200},
        {"samples": 200, "feedback": 4, "feedback_satisfied": 3},
    )
    storage = MemoryStorage()
    write_series([report], storage.appender(), 5_000)
    found = {
        tuple(sorted(s.labels.items())): (s.timestamps.tolist(), s.values.tolist())
        for s in storage.querier().select([], 0, 10_000)
    }
    values = {
        dict(k)["__name__"] + str({n: v for n, v in k if n != "__name__"}): v[1][0]
        for k, v in found.items()
    }
    assert all(timestamps == [5_000] for timestamps, _ in found.values())
    assert values["vigie_drift_detected{'feature': 'amount', 'model': 'intent'}"] == 1.0
    assert values["vigie_drift_detected{'feature': 'query', 'model': 'intent'}"] == 0.0
    assert (
        values["vigie_drift_threshold{'feature': 'query', 'method': 'mmd', 'model': 'intent'}"]
        == 0.015
    )
    assert (
        values["vigie_drift_threshold{'feature': 'query', 'method': 'centroid', 'model': 'intent'}"]
        == 0.2
    )
    assert (
        values["vigie_drift_score{'feature': 'amount', 'method': 'ks', 'model': 'intent'}"] < 1e-10
    )
    assert values["vigie_drift_share{'model': 'intent'}"] == 0.5
    assert values["vigie_drift_significant{'feature': 'amount', 'model': 'intent'}"] == 1.0
    assert values["vigie_drift_significant{'feature': 'query', 'model': 'intent'}"] == 0.0
    assert values["vigie_drift_significant_share{'model': 'intent'}"] == 0.5
    effect = values[
        "vigie_drift_effect{'feature': 'amount', 'method': 'wasserstein', 'model': 'intent'}"
    ]
    assert 2.5 < effect < 3.5  # a 3-std mean shift
    adjusted = "vigie_drift_adjusted_p_value{'feature': 'amount', 'model': 'intent', 'test': 'ks'}"
    assert values[adjusted] < 1e-10
    # The embedding's MMD² is under its floor: no permutation test, so no adjusted p-value.
    assert not any(k.startswith("vigie_drift_adjusted_p_value{'feature': 'query'") for k in values)
    assert values["vigie_drift_model_detected{'model': 'intent'}"] == 1.0
    assert values["vigie_quality_feedback_satisfaction_ratio{'model': 'intent'}"] == 0.75
    assert "vigie_quality_low_confidence_ratio{'model': 'intent'}" not in values  # no confidence
    assert values["vigie_quality_window_samples{'model': 'intent', 'window': 'reference'}"] == 200


def test_report_keeps_evidently_verdicts_beside_the_alarm() -> None:
    """as_dict has both verdicts per feature and both shares; the old keys keep their place."""
    rng = np.random.default_rng(1)
    reference, current = {}, {}
    for name in ("a", "b", "c", "d"):
        reference[name], current[name] = NumericSketch(), NumericSketch()
        reference[name].add(rng.normal(0, 1, 400))
        current[name].add(rng.normal(0.04 if name == "a" else 0.0, 1, 400))
    data = check_model("m", reference, current, {}, {}).as_dict()
    assert list(data)[:5] == [
        "model",
        "drift_share",
        "drift_share_threshold",
        "drifted",
        "significant_share",
    ]
    assert (data["drifted"], data["significant"], data["alarm_level"]) == (False, False, 0.001)
    first = data["features"][0]
    assert set(first) >= {"feature", "method", "score", "threshold", "drifted", "significant",
                          "test", "p_value", "adjusted_p_value", "effect_method", "effect",
                          "effect_threshold"}  # fmt: skip
    assert (first["test"], first["effect_method"], first["effect_threshold"]) == (
        "ks",
        "wasserstein",
        0.1,
    )
    assert first["adjusted_p_value"] >= first["p_value"]
