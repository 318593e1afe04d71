"""A bounded cache of decoded chunks, shared by a store's blocks and its head.

Why: decoding a chunk costs tens of microseconds of numpy calls however small it is, and
dashboards re-read the same recent chunks every refresh. The budget counts samples (16 bytes
each), so memory stays bounded whatever the chunk sizes. Cached arrays are read-only: a reader
that tried to modify one would raise instead of corrupting the next reader's result.

Keys, and why an entry can never be stale:

* a block's chunk is ``(block id, chunk number)``: blocks are immutable, so the entry is right
  until the block is deleted (:meth:`ChunkCache.forget`, on compaction and retention);
* a head chunk is ``(HEAD, chunk maxt, encoded bytes)``: the decoded arrays are a function of
  the bytes alone, so a head chunk that is re-encoded (an out-of-order sample inserted into it,
  its older part dropped when the head is truncated) simply has another key; appending to a
  series never touches its closed chunks. :meth:`ChunkCache.forget_head` drops the entries of
  chunks the head no longer holds once they are persisted in a block. Those keys hold the
  encoded bytes (about a tenth of the decoded size), which the budget does not count.

Scan resistance: with plain LRU, a query that reads more samples than the cache holds gets no
hit at all, run after run (each miss evicts the very chunk the next run wants first). A query
therefore reads inside :meth:`ChunkCache.scan`: an entry read or stored during the current scan
is never evicted by that scan; once the cache is full of them, the scan's further chunks are
decoded but not kept. Repeating the query then hits on the part that fits (cache size over
query size) instead of nothing. Reads outside a scan behave as plain LRU.

Example::

    >>> import numpy as np
    >>> cache = ChunkCache(max_samples=2)
    >>> cache.put(("block", 0), np.array([1, 2]), np.array([1.0, 2.0]))
    True
    >>> cache.get(("block", 0))[0].tolist()
    [1, 2]
    >>> cache.put(("block", 1), np.array([3]), np.array([3.0]))  # evicts the oldest
    True
    >>> cache.get(("block", 0)) is None
    True
    >>> with cache.scan():
    ...     cache.put(("block", 2), np.array([4]), np.array([4.0]))  # evicts block 1
    ...     cache.put(("block", 3), np.array([5]), np.array([5.0]))
    ...     cache.put(("block", 4), np.array([6]), np.array([6.0]))  # full of this scan
    True
    True
    False
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import numpy.typing as npt

from vigie.store.encoding import decode_chunk

__all__ = ["DEFAULT_CACHE_SAMPLES", "HEAD", "ChunkCache"]

#: 16 M samples: 256 MiB of decoded timestamps and values.
DEFAULT_CACHE_SAMPLES = 16 * 1024 * 1024
#: First element of the keys of head chunks.
HEAD = "<head>"

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
_Key = tuple[Hashable, ...]
_Entry = tuple[Int64Array, Float64Array, int]

#: The scan the current thread (or task) reads under; 0 outside any scan.
_CURRENT_SCAN: ContextVar[int] = ContextVar("vigie_chunk_cache_scan", default=0)


class ChunkCache:
    """Decoded ``(timestamps, values)`` by key, at most ``max_samples`` samples in all."""

    def __init__(self, max_samples: int = DEFAULT_CACHE_SAMPLES) -> None:
        self.max_samples = max_samples
        self.samples = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._scans = itertools.count(1)

    @contextmanager
    def scan(self) -> Iterator[int]:
        """Read one query's chunks under a scan of their own (see the module docstring); inside
        another scan, that one goes on (a block's read is part of its query's scan)."""
        current = _CURRENT_SCAN.get()
        if current:
            yield current
            return
        token = _CURRENT_SCAN.set(next(self._scans))
        try:
            yield _CURRENT_SCAN.get()
        finally:
            _CURRENT_SCAN.reset(token)

    def get(self, key: _Key) -> tuple[Int64Array, Float64Array] | None:
        """The cached chunk, marked as recently used (and as the current scan's); None when
        absent."""
        scan = _CURRENT_SCAN.get()
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            if scan and found[2] != scan:
                self._entries[key] = (found[0], found[1], scan)
            self.hits += 1
            return found[0], found[1]

    def put(self, key: _Key, timestamps: Int64Array, values: Float64Array) -> bool:
        """Cache a decoded chunk (made read-only), evicting the least recently used; False when
        it is not kept (larger than the budget, or the cache is full of the current scan's)."""
        size = int(timestamps.size)
        if size > self.max_samples:
            return False
        scan = _CURRENT_SCAN.get()
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.samples -= int(previous[0].size)
            entries = self._entries
            while self.samples + size > self.max_samples:
                oldest_key, oldest = next(iter(entries.items()))
                if scan and oldest[2] == scan:
                    return False
                del entries[oldest_key]
                self.samples -= int(oldest[0].size)
            timestamps.flags.writeable = False
            values.flags.writeable = False
            entries[key] = (timestamps, values, scan)
            self.samples += size
            return True

    def decode(self, key: _Key, data: bytes | memoryview) -> tuple[Int64Array, Float64Array]:
        """Chunk ``data`` decoded: from the cache, else decoded and kept under ``key``.

        Raises :class:`~vigie.exceptions.CorruptionError` as :func:`decode_chunk` does.
        """
        found = self.get(key)
        if found is not None:
            return found
        timestamps, values = decode_chunk(data)
        self.put(key, timestamps, values)
        return timestamps, values

    def decode_head(self, maxt: int, data: bytes) -> tuple[Int64Array, Float64Array]:
        """A closed head chunk ending at ``maxt``, decoded (through the cache)."""
        if not isinstance(data, bytes):  # a view cannot be a key: decode it every time
            return decode_chunk(data)
        return self.decode((HEAD, maxt, data), data)

    def forget(self, block_id: str) -> None:
        """Drop every chunk of a deleted block."""
        self._drop(lambda key: key[0] == block_id)

    def forget_head(self, before: int) -> None:
        """Drop the head chunks ending before ``before`` (persisted in a block now)."""
        self._drop(lambda key: key[0] == HEAD and isinstance(key[1], int) and key[1] < before)

    def _drop(self, doomed: Callable[[_Key], bool]) -> None:
        with self._lock:
            for key in [key for key in self._entries if doomed(key)]:
                self.samples -= int(self._entries.pop(key)[0].size)

    def cached_keys(self) -> list[_Key]:
        """The cached keys, least recently used first (for introspection and tests)."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
