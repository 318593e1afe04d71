"""Sketches: exact summaries, bounded size, uniform merge, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vigie.quality.sketches import (
    MAX_DISTINCT,
    OTHER,
    CategoricalSketch,
    EmbeddingSketch,
    NumericSketch,
    sketch_from_dict,
)


def test_numeric_merge_is_exact_for_moments() -> None:
    """Merging parts gives the whole's count, mean, std, min and max."""
    data = np.random.default_rng(0).normal(100, 3, 9000)
    whole, left, right = (
        NumericSketch(capacity=100),
        NumericSketch(capacity=100),
        NumericSketch(capacity=100),
    )
    whole.add(data)
    left.add(data[:2500])
    right.add(data[2500:])
    left.merge(right)
    assert left.count == 9000
    assert left.mean == pytest.approx(data.mean(), rel=1e-12)
    assert left.std == pytest.approx(data.std(), rel=1e-9)
    assert (left.minimum, left.maximum) == (data.min(), data.max())
    assert len(left.sample()) == 100


def test_numeric_sample_is_whole_data_below_capacity() -> None:
    """Up to the capacity the sample holds every value; NaN and inf are dropped."""
    sketch = NumericSketch(capacity=10)
    sketch.add([3.0, float("nan"), 1.0, float("inf"), 2.0])
    assert sorted(sketch.sample().tolist()) == [1.0, 2.0, 3.0]
    assert sketch.count == 3


def test_numeric_sample_is_uniform_after_merges() -> None:
    """The bottom-k sample of 2,000 from 100 merged buckets has the population's mean."""
    merged = NumericSketch(capacity=2000, seed=0)
    for bucket in range(100):
        part = NumericSketch(capacity=2000, seed=bucket + 1)
        part.add(np.full(500, float(bucket)))
        merged.merge(part)
    assert merged.count == 50_000
    assert len(merged.sample()) == 2000
    assert merged.sample().mean() == pytest.approx(49.5, abs=1.5)


def test_distinct_values_stop_past_the_cap() -> None:
    """Distinct values are counted until MAX_DISTINCT, then only 'many' is known."""
    sketch = NumericSketch()
    sketch.add([1.0, 1.0, 2.0])
    assert sketch.distinct == {1.0: 2, 2.0: 1}
    sketch.add(np.arange(MAX_DISTINCT + 1, dtype=float))
    assert sketch.n_unique is None


def test_categories_past_the_cap_go_to_other() -> None:
    """A new category past max_categories is counted under __other__."""
    sketch = CategoricalSketch(max_categories=2)
    sketch.add(["a", "b", "c", "a", "d"])
    assert sketch.counts == {"a": 2, "b": 1, OTHER: 2}


def test_round_trip_through_json() -> None:
    """Every sketch kind comes back from its JSON form with the same state."""
    numeric = NumericSketch(capacity=50, seed=3)
    numeric.add(np.arange(80.0))
    category = CategoricalSketch()
    category.add(["x", "y"])
    vectors = EmbeddingSketch(3, capacity=4, seed=1)
    vectors.add(np.arange(18.0).reshape(6, 3))
    for sketch in (numeric, category, vectors):
        back = sketch_from_dict(json.loads(json.dumps(sketch.to_dict())))
        assert back.to_dict() == sketch.to_dict()
    assert vectors.centroid.tolist() == [7.5, 8.5, 9.5]
