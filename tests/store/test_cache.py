"""The decoded-chunk LRU cache: bounded by samples, least recently used evicted, read-only."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.store.cache import ChunkCache


def _chunk(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(size, dtype=np.int64), np.arange(size, dtype=np.float64)


def test_least_recently_used_is_evicted_past_the_budget() -> None:
    """Reading an entry protects it; the oldest unread one goes when the budget is exceeded."""
    cache = ChunkCache(max_samples=10)
    cache.put(("a", 0), *_chunk(4))
    cache.put(("a", 1), *_chunk(4))
    assert cache.get(("a", 0)) is not None
    cache.put(("b", 0), *_chunk(4))
    assert cache.get(("a", 1)) is None
    assert cache.get(("a", 0)) is not None
    assert cache.get(("b", 0)) is not None
    assert cache.samples == 8
    assert (cache.hits, cache.misses) == (3, 1)


def test_oversized_chunk_is_not_cached_and_arrays_are_read_only() -> None:
    """A chunk larger than the whole budget is skipped; cached arrays refuse writes."""
    cache = ChunkCache(max_samples=3)
    cache.put(("a", 0), *_chunk(4))
    assert len(cache) == 0
    cache.put(("a", 1), *_chunk(2))
    found = cache.get(("a", 1))
    assert found is not None
    with pytest.raises(ValueError, match="read-only"):
        found[1][0] = 5.0


def test_forget_drops_every_chunk_of_a_block() -> None:
    """Forgetting a deleted block frees its samples and leaves other blocks cached."""
    cache = ChunkCache(max_samples=100)
    cache.put(("a", 0), *_chunk(3))
    cache.put(("a", 1), *_chunk(3))
    cache.put(("b", 0), *_chunk(3))
    cache.forget("a")
    assert len(cache) == 1
    assert cache.samples == 3
    assert cache.get(("b", 0)) is not None
