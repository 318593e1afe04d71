"""What the server remembers per model: sketches per time bucket, counters, the reference.

Samples are folded into the bucket of their timestamp at ingest (vectorised per feature), so
memory is bounded by (buckets kept) x (features) x (sketch size), whatever the traffic. Besides
the drift sketches, each bucket keeps exact counters for the quality ratios:

=====================  ================================================================
counter                counted from
=====================  ================================================================
``confidence``         samples with ``numeric["prediction.confidence"]``
``low_confidence``     ... whose confidence is below the low-confidence threshold
``answers``            samples with ``categorical["answer.empty"]``
``answers_empty``      ... equal to ``"true"``
``answers_refusal``    samples with ``categorical["answer.refusal"] == "true"``
``answers_unsourced``  samples with ``numeric["answer.sources"] == 0``
``feedback``           samples with ``feedback``
``feedback_satisfied`` ... thumbs up or a score of 4 or 5
=====================  ================================================================

Example::

    >>> from vigie.quality.ingest import QualitySample
    >>> history = ModelHistory()
    >>> history.add([QualitySample("m", 10.0, numeric={"x": 1.0})], WindowSettings(), 0.5)
    >>> sorted(history.buckets[0].features)
    ['x']
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigie.quality.ingest import QualitySample
from vigie.quality.sketches import (
    CategoricalSketch,
    EmbeddingSketch,
    NumericSketch,
    Sketch,
    sketch_from_dict,
)
from vigie.quality.windows import ReferenceSpec, Window, WindowSettings

__all__ = ["COUNTERS", "HOUR", "MAX_FEATURES_PER_MODEL", "Bucket", "ModelHistory"]

HOUR = 3600
#: Features kept per model and bucket; values of further features are dropped and counted.
MAX_FEATURES_PER_MODEL = 500

COUNTERS = (
    "samples",
    "confidence",
    "low_confidence",
    "answers",
    "answers_empty",
    "answers_refusal",
    "answers_unsourced",
    "feedback",
    "feedback_satisfied",
)


@dataclass
class Bucket:
    """One time bucket of one model: a sketch per feature and the quality counters."""

    features: dict[str, Sketch] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": {name: sketch.to_dict() for name, sketch in self.features.items()},
            "counters": self.counters,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Bucket:
        bucket = cls({name: sketch_from_dict(raw) for name, raw in data["features"].items()})
        bucket.counters.update({k: int(v) for k, v in data["counters"].items()})
        return bucket


def _merged(into: dict[str, Sketch], features: Mapping[str, Sketch]) -> None:
    for name, sketch in features.items():
        mine = into.get(name)
        if mine is None:
            into[name] = sketch.copy()
        elif type(mine) is type(sketch):
            mine.merge(sketch)  # type: ignore[arg-type]


@dataclass
class ModelHistory:
    """Buckets of one model plus its reference choice (and frozen reference, once complete)."""

    buckets: dict[int, Bucket] = field(default_factory=dict)
    reference: ReferenceSpec = field(default_factory=ReferenceSpec)
    frozen: dict[str, Sketch] | None = None
    frozen_counters: dict[str, int] | None = None
    dropped: int = 0  # values refused (a feature seen with another kind or dimension)

    def add(self, samples: Iterable[QualitySample], settings: WindowSettings, low: float) -> None:
        """Fold samples (already timestamped) into their buckets."""
        numeric: dict[tuple[int, str], list[float]] = defaultdict(list)
        categorical: dict[tuple[int, str], list[str]] = defaultdict(list)
        vectors: dict[tuple[int, str], list[list[float]]] = defaultdict(list)
        for sample in samples:
            start = settings.bucket_of(sample.time or 0.0)
            self._count(self.buckets.setdefault(start, Bucket()).counters, sample, low)
            for name, value in sample.numeric.items():
                numeric[start, name].append(value)
            for name, text in sample.categorical.items():
                categorical[start, name].append(text)
            for name, vector in sample.embeddings.items():
                vectors[start, name].append(vector)
        for (start, name), values in numeric.items():
            sketch = self._sketch(start, name, NumericSketch)
            if sketch is None:
                self.dropped += len(values)
            else:
                sketch.add(np.asarray(values))
        for (start, name), texts in categorical.items():
            category = self._sketch(start, name, CategoricalSketch)
            if category is None:
                self.dropped += len(texts)
            else:
                category.add(texts)
        for (start, name), rows in vectors.items():
            width = len(rows[0])
            kept = [row for row in rows if len(row) == width]
            embedding = self._sketch(start, name, EmbeddingSketch, width)
            if embedding is None or embedding.dimensions != width:
                self.dropped += len(rows)
                continue
            self.dropped += len(rows) - len(kept)
            embedding.add(np.asarray(kept))

    def _sketch(self, start: int, name: str, kind: type[Any], width: int = 0) -> Any:
        features = self.buckets[start].features
        sketch = features.get(name)
        if sketch is None:
            if len(features) >= MAX_FEATURES_PER_MODEL:
                return None  # bounded memory: past the limit, new features are dropped
            sketch = features[name] = kind(width) if kind is EmbeddingSketch else kind()
        return sketch if isinstance(sketch, kind) else None

    @staticmethod
    def _count(counters: dict[str, int], sample: QualitySample, low: float) -> None:
        counters["samples"] += 1
        confidence = sample.numeric.get("prediction.confidence")
        if confidence is not None:
            counters["confidence"] += 1
            counters["low_confidence"] += confidence < low
        if "answer.empty" in sample.categorical:
            counters["answers"] += 1
            counters["answers_empty"] += sample.categorical["answer.empty"] == "true"
            counters["answers_refusal"] += sample.categorical.get("answer.refusal") == "true"
            counters["answers_unsourced"] += sample.numeric.get("answer.sources") == 0.0
        if sample.satisfied is not None:
            counters["feedback"] += 1
            counters["feedback_satisfied"] += sample.satisfied

    def window(self, window: Window) -> tuple[dict[str, Sketch], dict[str, int]]:
        """Merged sketches and summed counters of the buckets starting inside ``window``."""
        features: dict[str, Sketch] = {}
        counters = dict.fromkeys(COUNTERS, 0)
        for start in sorted(self.buckets):
            if window.contains(start):
                bucket = self.buckets[start]
                _merged(features, bucket.features)
                for name, value in bucket.counters.items():
                    counters[name] = counters.get(name, 0) + value
        return features, counters

    def reference_window(
        self, settings: WindowSettings, now: float
    ) -> tuple[dict[str, Sketch], dict[str, int]]:
        """The reference sketches; a fixed reference is frozen once its period is over."""
        if self.frozen is not None and self.frozen_counters is not None:
            return self.frozen, self.frozen_counters
        window = settings.reference(self.reference, now)
        features, counters = self.window(window)
        if self.reference.kind == "fixed" and now >= window.end and counters["samples"]:
            self.frozen, self.frozen_counters = features, counters
        return features, counters

    def set_reference(self, spec: ReferenceSpec) -> None:
        """Use ``spec`` from now on (drops a frozen reference)."""
        self.reference, self.frozen, self.frozen_counters = spec, None, None

    def prune(self, settings: WindowSettings, now: float) -> None:
        """Drop buckets no window can use any more; fold older fine buckets into hours.

        Buckets wholly before the current window's hour are merged into one bucket per hour,
        so a day of trailing reference is about 24 sketches per feature, not 288.
        """
        keep_from = now - settings.retention_seconds
        if self.reference.kind == "fixed" and self.frozen is None and self.reference.start:
            keep_from = min(keep_from, self.reference.start)
        for start in list(self.buckets):
            span = HOUR if start % HOUR == 0 else settings.bucket_seconds  # maybe a folded hour
            if start + span < keep_from:
                del self.buckets[start]
        cut = (now - settings.current_seconds) // HOUR * HOUR
        for start in sorted(self.buckets):
            hour = int(start // HOUR * HOUR)
            if hour == start or start + settings.bucket_seconds > cut:
                continue
            bucket = self.buckets.pop(start)
            target = self.buckets.setdefault(hour, Bucket())
            _merged(target.features, bucket.features)
            for name, value in bucket.counters.items():
                target.counters[name] = target.counters.get(name, 0) + value

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference.as_dict(),
            "frozen": None
            if self.frozen is None
            else {name: sketch.to_dict() for name, sketch in self.frozen.items()},
            "frozen_counters": self.frozen_counters,
            "buckets": {str(start): bucket.to_dict() for start, bucket in self.buckets.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelHistory:
        history = cls(
            {int(start): Bucket.from_dict(raw) for start, raw in data["buckets"].items()},
            ReferenceSpec.from_dict(data["reference"]),
        )
        if data.get("frozen") is not None:
            history.frozen = {name: sketch_from_dict(raw) for name, raw in data["frozen"].items()}
            history.frozen_counters = dict(data.get("frozen_counters") or {})
        return history
