"""Per-model history: buckets, counters, kind conflicts, retention and frozen references."""

from __future__ import annotations

from vigie.quality.history import ModelHistory
from vigie.quality.ingest import QualitySample
from vigie.quality.windows import ReferenceSpec, Window, WindowSettings

SETTINGS = WindowSettings(current_seconds=600, reference_seconds=1200, bucket_seconds=300)
DAY = WindowSettings()


def test_samples_fold_into_buckets_and_counters() -> None:
    """Each sample lands in its bucket; counters count confidence, answers and feedback."""
    history = ModelHistory()
    history.add(
        [
            QualitySample("m", 10, numeric={"prediction.confidence": 0.2}, satisfied=True),
            QualitySample("m", 20, numeric={"prediction.confidence": 0.9}, satisfied=False),
            QualitySample(
                "m", 310, categorical={"answer.empty": "true", "answer.refusal": "false"}
            ),
        ],
        SETTINGS,
        low=0.5,
    )
    assert sorted(history.buckets) == [0, 300]
    first = history.buckets[0].counters
    assert (
        first["confidence"],
        first["low_confidence"],
        first["feedback"],
        first["feedback_satisfied"],
    ) == (2, 1, 2, 1)
    assert history.buckets[300].counters["answers_empty"] == 1
    features, counters = history.window(Window(0, 600))
    assert counters["samples"] == 3
    assert set(features) == {"prediction.confidence", "answer.empty", "answer.refusal"}


def test_a_feature_keeps_its_first_kind() -> None:
    """Values of a known feature sent with another kind or dimension are dropped and counted."""
    history = ModelHistory()
    history.add(
        [QualitySample("m", 1, numeric={"x": 1.0}, embeddings={"e": [1.0, 2.0]})], SETTINGS, 0.5
    )
    history.add(
        [QualitySample("m", 2, categorical={"x": "a"}, embeddings={"e": [1.0]})], SETTINGS, 0.5
    )
    assert history.dropped == 2


def test_prune_keeps_what_windows_need() -> None:
    """Old buckets go, except those of a fixed reference not yet frozen."""
    history = ModelHistory()
    history.add(
        [QualitySample("m", t, numeric={"x": 1.0}) for t in (600, 3000, 6000)], SETTINGS, 0.5
    )
    history.prune(SETTINGS, 6100)
    assert sorted(history.buckets) == [6000]
    history = ModelHistory()
    history.add(
        [QualitySample("m", t, numeric={"x": 1.0}) for t in (600, 3000, 6000)], SETTINGS, 0.5
    )
    history.set_reference(ReferenceSpec("fixed", 3000, 3300))
    history.prune(SETTINGS, 3200)
    assert sorted(history.buckets) == [3000, 6000]
    history.reference_window(SETTINGS, 6100)  # the period is over: frozen
    assert history.frozen is not None
    history.prune(SETTINGS, 6100)
    assert sorted(history.buckets) == [6000]
    assert history.reference_window(SETTINGS, 6100)[1]["samples"] == 1


def test_old_buckets_fold_into_hours() -> None:
    """Fine buckets before the current window's hour become one bucket per hour, counts kept."""
    history = ModelHistory()
    times = [3600 * 10 + 60 * minute for minute in range(0, 180, 2)]  # 3 hours, 1 every 2 min
    history.add([QualitySample("m", t, numeric={"x": float(t)}) for t in times], DAY, 0.5)
    assert len(history.buckets) == 36
    history.prune(DAY, now=3600 * 13 + 1800)  # current window: 12:30..13:30
    assert sorted(history.buckets) == [36000, 39600, 43200, 43500, 43800, 44100, 44400, 44700,
                                       45000, 45300, 45600, 45900, 46200, 46500]  # fmt: skip
    assert history.buckets[36000].counters["samples"] == 30
    assert history.buckets[36000].features["x"].count == 30  # type: ignore[union-attr]
    features, counters = history.window(Window(0, 1e9))
    assert counters["samples"] == 90
    assert features["x"].count == 90  # type: ignore[union-attr]
