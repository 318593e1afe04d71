"""The decoded-chunk cache: bounded by samples, LRU, scan-resistant, head chunks included."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from vigie.store.cache import HEAD, ChunkCache
from vigie.store.encoding import encode_chunk
from vigie.store.interface import Matcher
from vigie.store.tsdb import DiskStorage


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


def _scan_twice(cache: ChunkCache, chunks: int, *, scan: bool) -> int:
    """Read ``chunks`` one-sample chunks twice, as a repeated query would; hits of the 2nd run."""
    for run in range(2):
        hits = cache.hits
        with cache.scan() if scan else nullcontext():
            for i in range(chunks):
                if cache.get(("b", i)) is None:
                    cache.put(("b", i), *_chunk(1))
        if run == 1:
            return cache.hits - hits
    raise AssertionError


def test_a_scan_larger_than_the_cache_keeps_what_fits() -> None:
    """Repeating a 10-chunk query over a 6-chunk cache hits 6 times; plain LRU hits never."""
    assert _scan_twice(ChunkCache(max_samples=6), 10, scan=False) == 0
    cache = ChunkCache(max_samples=6)
    assert _scan_twice(cache, 10, scan=True) == 6
    assert cache.samples == 6
    assert [key[1] for key in cache.cached_keys()] == list(range(6))


def test_a_new_scan_evicts_older_scans_entries() -> None:
    """What another query read is evicted as usual, so the cache follows the workload."""
    cache = ChunkCache(max_samples=4)
    with cache.scan():
        for i in range(4):
            assert cache.put(("old", i), *_chunk(1))
    with cache.scan():
        for i in range(6):
            cache.put(("new", i), *_chunk(1))
    assert cache.cached_keys() == [("new", i) for i in range(4)]


def test_nested_scans_share_the_outer_one() -> None:
    """A block read inside a query's scan does not start a scan of its own."""
    cache = ChunkCache(max_samples=2)
    with cache.scan() as outer, cache.scan() as inner:
        assert inner == outer
        assert cache.put(("a", 0), *_chunk(1))
    with cache.scan() as later:
        assert later != outer


def test_head_chunks_are_keyed_by_their_bytes_and_forgotten_once_persisted() -> None:
    """A re-encoded head chunk never gets the old decoding; forget_head drops persisted ones."""
    cache = ChunkCache(max_samples=100)
    first = encode_chunk(np.array([1, 2]), np.array([1.0, 2.0]))
    second = encode_chunk(np.array([1, 2]), np.array([1.0, 5.0]))  # same bounds, new content
    assert cache.decode_head(2, first)[1].tolist() == [1.0, 2.0]
    assert cache.decode_head(2, second)[1].tolist() == [1.0, 5.0]
    assert cache.decode_head(2, first)[1].tolist() == [1.0, 2.0]
    assert (cache.hits, cache.misses) == (1, 2)
    later = encode_chunk(np.array([9]), np.array([9.0]))
    cache.decode_head(9, later)
    cache.put(("block", 0), *_chunk(3))
    cache.forget_head(5)
    assert [key[:2] for key in cache.cached_keys()] == [(HEAD, 9), ("block", 0)]


HOUR = 3_600_000
STEP = 15_000
START = 1_700_000_000_000 // (24 * HOUR) * (24 * HOUR)


def _append(storage: DiskStorage, first: int, count: int, series: int = 3) -> None:
    appender = storage.appender()
    for i in range(series):
        stamps = [START + (first + n) * STEP for n in range(count)]
        values = [float(s + i) for s in stamps]  # distinct content: distinct chunks
        appender.append_many({"__name__": "x", "i": str(i)}, stamps, values)
    appender.commit()


def _read(storage: DiskStorage) -> dict[str, tuple[list[int], list[float]]]:
    return {
        s.labels["i"]: (s.timestamps.tolist(), s.values.tolist())
        for s in storage.querier().select([Matcher("__name__", "=", "x")], 0, 2**62)
    }


def _expected(first: int, count: int, series: int = 3) -> dict[str, tuple[list[int], list[float]]]:
    stamps = [START + (first + n) * STEP for n in range(count)]
    return {str(i): (stamps, [float(s + i) for s in stamps]) for i in range(series)}


def _head_keys(storage: DiskStorage) -> list[tuple[object, ...]]:
    return [key for key in storage.chunk_cache.cached_keys() if key[0] == HEAD]


def test_closed_head_chunks_are_cached_and_appends_stay_visible(tmp_path: Path) -> None:
    """A repeated head read decodes nothing again; samples appended since are all there."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        _append(storage, 0, 300)  # per series: two closed 120-sample chunks and 60 open
        assert _read(storage) == _expected(0, 300)
        assert len(_head_keys(storage)) == 6
        misses = storage.chunk_cache.misses
        assert _read(storage) == _expected(0, 300)
        assert storage.chunk_cache.misses == misses
        _append(storage, 300, 100)  # cuts a third chunk per series, keeps the others
        assert _read(storage) == _expected(0, 400)
        assert len(_head_keys(storage)) == 9
        assert storage.chunk_cache.misses == misses + 3


def test_out_of_order_insert_into_a_closed_head_chunk_is_read_back(tmp_path: Path) -> None:
    """Inserting into a cached head chunk re-encodes it: the next read has the new sample."""
    with DiskStorage(
        tmp_path, background=False, fsync="never", out_of_order_window_ms=2 * HOUR
    ) as storage:
        _append(storage, 0, 300, series=1)
        _read(storage)
        appender = storage.appender()
        appender.append({"__name__": "x", "i": "0"}, START + 10 * STEP + 1, -1.0)
        appender.commit()
        t, v = _read(storage)["0"]
        assert t[10:13] == [START + 10 * STEP, START + 10 * STEP + 1, START + 11 * STEP]
        assert v[11] == -1.0
        assert len(t) == 301


def test_cuts_forget_persisted_head_chunks_and_results_match_uncached(tmp_path: Path) -> None:
    """Cutting the head forgets its persisted chunks; compaction forgets merged blocks; the
    answers equal those of a store without cache and the budget is never exceeded."""
    cached = DiskStorage(tmp_path / "a", background=False, fsync="never", chunk_cache_samples=500)
    plain = DiskStorage(tmp_path / "b", background=False, fsync="never", chunk_cache_samples=0)
    with cached, plain:
        for hours in range(12):
            for storage in (cached, plain):
                _append(storage, hours * 240, 240)
            assert _read(cached) == _read(plain)
            assert cached.chunk_cache.samples <= 500
            boundary = cached.stats().head_min_time
            assert boundary is not None
            assert _head_keys(cached)
            assert all(key[1] >= boundary for key in _head_keys(cached))
            live = set(os.listdir(tmp_path / "a" / "blocks")) | {HEAD}
            assert {key[0] for key in cached.chunk_cache.cached_keys()} <= live
        assert cached.stats().compactions >= 1
        assert _read(cached) == _expected(0, 12 * 240)


def test_retention_forgets_deleted_blocks(tmp_path: Path) -> None:
    """Blocks deleted by retention leave no entry behind."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        _append(storage, 0, 12 * 240)
        storage.flush()
        _read(storage)
        before = {key[0] for key in storage.chunk_cache.cached_keys()}
        storage.retention_ms = 3 * HOUR
        storage.flush()
        live = set(os.listdir(tmp_path / "blocks"))
        assert before - live  # some cached block was deleted
        assert {key[0] for key in storage.chunk_cache.cached_keys()} <= live
