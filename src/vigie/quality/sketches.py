"""Bounded per-window summaries of one feature, so a drift check costs the same at any traffic.

A window's raw samples are never kept. Each feature of each time bucket keeps a *sketch* whose
size has a ceiling, and sketches merge exactly, so a window of any length is the merge of its
buckets:

* :class:`NumericSketch`: exact count, mean, variance (Chan's parallel update), min and max; the
  distinct values and their counts while there are few (the drift method depends on it); and a
  uniform *bottom-k* sample (each value gets a random key, the ``capacity`` smallest keys are
  kept), which stays uniform under merge. Up to ``capacity`` values it is the whole data, so
  the tests then equal Evidently's exactly.
* :class:`CategoricalSketch`: exact counts per category up to ``max_categories``, the rest
  counted under :data:`OTHER`.
* :class:`EmbeddingSketch`: exact count and vector sum (the centroid) and a bottom-k sample of
  vectors for the MMD test.

Example::

    >>> sketch = NumericSketch(capacity=4, seed=1)
    >>> sketch.add([1.0, 2.0, 3.0])
    >>> sketch.count, sketch.mean, sorted(sketch.sample().tolist())
    (3, 2.0, [1.0, 2.0, 3.0])
"""

from __future__ import annotations

import base64
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_EMBEDDING_CAPACITY",
    "MAX_CATEGORIES",
    "MAX_DISTINCT",
    "OTHER",
    "CategoricalSketch",
    "EmbeddingSketch",
    "NumericSketch",
    "Sketch",
    "sketch_from_dict",
]

#: Values kept per numeric sketch: windows up to this size are tested on their exact data.
DEFAULT_CAPACITY = 5000
#: Vectors kept per embedding sketch (MMD costs the square of it).
DEFAULT_EMBEDDING_CAPACITY = 500
#: Distinct numeric values tracked exactly; past it only "many" is known (methods need <= 20).
MAX_DISTINCT = 64
#: Categories counted exactly per feature; the rest are counted together under OTHER.
MAX_CATEGORIES = 1000
OTHER = "__other__"

FloatArray = npt.NDArray[np.float64]


def _encode(array: npt.NDArray[Any]) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f8").tobytes()).decode("ascii")


def _decode(text: str) -> FloatArray:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").astype(np.float64)


class _BottomK:
    """A uniform sample of at most ``capacity`` rows: those with the smallest random keys."""

    def __init__(self, capacity: int, width: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.width = width
        self.rng = rng
        self.keys: FloatArray = np.empty(0)
        self.rows: FloatArray = np.empty((0, width))

    def add(self, rows: FloatArray) -> None:
        self._keep(np.concatenate([self.keys, self.rng.random(len(rows))]), rows)

    def merge(self, other: _BottomK) -> None:
        self._keep(np.concatenate([self.keys, other.keys]), other.rows)

    def _keep(self, keys: FloatArray, new_rows: FloatArray) -> None:
        rows = np.concatenate([self.rows, new_rows.reshape(-1, self.width)])
        if len(keys) > self.capacity:
            keep = np.argpartition(keys, self.capacity - 1)[: self.capacity]
            keys, rows = keys[keep], rows[keep]
        self.keys, self.rows = keys, rows

    def copy(self) -> _BottomK:
        clone = _BottomK(self.capacity, self.width, self.rng)
        clone.keys, clone.rows = self.keys.copy(), self.rows.copy()
        return clone


class NumericSketch:
    """Summary of a numeric feature: moments, min/max, few distinct values, a bounded sample."""

    kind = "numeric"

    def __init__(self, capacity: int = DEFAULT_CAPACITY, seed: int | None = None) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviations from the mean (Welford / Chan)
        self.minimum = math.inf
        self.maximum = -math.inf
        self.distinct: dict[float, int] | None = {}
        self._sample = _BottomK(capacity, 1, np.random.default_rng(seed))

    @property
    def std(self) -> float:
        """Population standard deviation (``ddof=0``, as ``numpy.std``)."""
        return math.sqrt(self.m2 / self.count) if self.count else 0.0

    @property
    def n_unique(self) -> int | None:
        """Distinct values, or ``None`` when more than :data:`MAX_DISTINCT`."""
        return None if self.distinct is None else len(self.distinct)

    def sample(self) -> FloatArray:
        """The kept values: all of them while ``count <= capacity``, else a uniform subset."""
        return self._sample.rows[:, 0]

    def add(self, values: Iterable[float]) -> None:
        """Add finite values (NaN and infinities are ignored, as Evidently drops them)."""
        array = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, float)
        array = array[np.isfinite(array)]
        if not len(array):
            return
        self._combine(len(array), float(array.mean()), float(((array - array.mean()) ** 2).sum()))
        self.minimum = min(self.minimum, float(array.min()))
        self.maximum = max(self.maximum, float(array.max()))
        if self.distinct is not None:
            uniques, counts = np.unique(array, return_counts=True)
            if len(uniques) > MAX_DISTINCT:  # "many" already: skip the per-value dictionary
                self.distinct = None
            else:
                self._count_distinct(zip(uniques.tolist(), counts.tolist(), strict=True))
        self._sample.add(array.reshape(-1, 1))

    def merge(self, other: NumericSketch) -> None:
        """Fold ``other`` into this sketch (exact for every summary but the sample's choice)."""
        if not other.count:
            return
        self._combine(other.count, other.mean, other.m2)
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        if other.distinct is None:
            self.distinct = None
        elif self.distinct is not None:
            self._count_distinct(other.distinct.items())
        self._sample.merge(other._sample)

    def _combine(self, count: int, mean: float, m2: float) -> None:
        total = self.count + count
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * count / total
        self.mean += delta * count / total
        self.count = total

    def _count_distinct(self, pairs: Iterable[tuple[float, int]]) -> None:
        assert self.distinct is not None
        for value, count in pairs:
            self.distinct[value] = self.distinct.get(value, 0) + count
        if len(self.distinct) > MAX_DISTINCT:
            self.distinct = None

    def copy(self) -> NumericSketch:
        """An independent copy (merging into it leaves this one unchanged)."""
        clone = NumericSketch(self._sample.capacity)
        clone.merge(self)
        clone._sample = self._sample.copy()
        return clone

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (arrays as base64 little-endian float64)."""
        return {
            "kind": self.kind,
            "capacity": self._sample.capacity,
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.minimum if self.count else None,
            "max": self.maximum if self.count else None,
            "distinct": None
            if self.distinct is None
            else [[value, count] for value, count in self.distinct.items()],
            "keys": _encode(self._sample.keys),
            "values": _encode(self._sample.rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericSketch:
        """Rebuild a sketch saved by :meth:`to_dict`."""
        sketch = cls(int(data["capacity"]))
        sketch.count, sketch.mean, sketch.m2 = int(data["count"]), data["mean"], data["m2"]
        if sketch.count:
            sketch.minimum, sketch.maximum = float(data["min"]), float(data["max"])
        distinct = data["distinct"]
        sketch.distinct = None if distinct is None else {float(v): int(c) for v, c in distinct}
        sketch._sample.keys = _decode(data["keys"])
        sketch._sample.rows = _decode(data["values"]).reshape(-1, 1)
        return sketch


class CategoricalSketch:
    """Exact counts per category, at most :data:`MAX_CATEGORIES` of them (then :data:`OTHER`)."""

    kind = "categorical"

    def __init__(self, max_categories: int = MAX_CATEGORIES) -> None:
        self.max_categories = max_categories
        self.counts: dict[str, int] = {}

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    @property
    def n_unique(self) -> int:
        return len(self.counts)

    def add(self, values: Iterable[str]) -> None:
        """Count each value."""
        for value, count in Counter(values).items():
            self._increment(str(value), count)

    def merge(self, other: CategoricalSketch) -> None:
        """Fold ``other``'s counts into this sketch."""
        for value, count in other.counts.items():
            self._increment(value, count)

    def _increment(self, value: str, count: int) -> None:
        if value not in self.counts and len(self.counts) >= self.max_categories:
            value = OTHER
        self.counts[value] = self.counts.get(value, 0) + count

    def copy(self) -> CategoricalSketch:
        clone = CategoricalSketch(self.max_categories)
        clone.counts = dict(self.counts)
        return clone

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "max_categories": self.max_categories, "counts": self.counts}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalSketch:
        sketch = cls(int(data["max_categories"]))
        sketch.counts = {str(key): int(value) for key, value in data["counts"].items()}
        return sketch


class EmbeddingSketch:
    """Count, vector sum (so the centroid is exact) and a bounded uniform sample of vectors."""

    kind = "embedding"

    def __init__(
        self, dimensions: int, capacity: int = DEFAULT_EMBEDDING_CAPACITY, seed: int | None = None
    ) -> None:
        self.dimensions = dimensions
        self.count = 0
        self.total: FloatArray = np.zeros(dimensions)
        self._sample = _BottomK(capacity, dimensions, np.random.default_rng(seed))

    @property
    def centroid(self) -> FloatArray:
        return self.total / max(self.count, 1)

    def sample(self) -> FloatArray:
        """The kept vectors, one per row."""
        return self._sample.rows

    def add(self, vectors: Sequence[Sequence[float]] | FloatArray) -> None:
        """Add vectors of this sketch's dimension."""
        array = np.asarray(vectors, dtype=float).reshape(-1, self.dimensions)
        self.count += len(array)
        self.total = self.total + array.sum(axis=0)
        self._sample.add(array)

    def merge(self, other: EmbeddingSketch) -> None:
        if other.dimensions != self.dimensions or not other.count:
            return
        self.count += other.count
        self.total = self.total + other.total
        self._sample.merge(other._sample)

    def copy(self) -> EmbeddingSketch:
        clone = EmbeddingSketch(self.dimensions, self._sample.capacity)
        clone.count, clone.total, clone._sample = self.count, self.total.copy(), self._sample.copy()
        return clone

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "dimensions": self.dimensions,
            "capacity": self._sample.capacity,
            "count": self.count,
            "total": _encode(self.total),
            "keys": _encode(self._sample.keys),
            "values": _encode(self._sample.rows),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EmbeddingSketch:
        sketch = cls(int(data["dimensions"]), int(data["capacity"]))
        sketch.count = int(data["count"])
        sketch.total = _decode(data["total"])
        sketch._sample.keys = _decode(data["keys"])
        sketch._sample.rows = _decode(data["values"]).reshape(-1, sketch.dimensions)
        return sketch


Sketch = NumericSketch | CategoricalSketch | EmbeddingSketch


def sketch_from_dict(data: Mapping[str, Any]) -> Sketch:
    """Rebuild any sketch from its :meth:`to_dict` form."""
    kind = data.get("kind")
    if kind == "numeric":
        return NumericSketch.from_dict(data)
    if kind == "categorical":
        return CategoricalSketch.from_dict(data)
    if kind == "embedding":
        return EmbeddingSketch.from_dict(data)
    raise ValueError(f"unknown sketch kind {kind!r}")
