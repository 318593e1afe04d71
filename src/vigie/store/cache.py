"""A bounded least-recently-used cache of decoded chunks, shared by a store's blocks.

Why: decoding a chunk costs tens of microseconds of numpy calls however small it is, and
dashboards re-read the same recent chunks every refresh. Blocks are immutable, so a decoded chunk
stays right until its block is deleted; keys carry the block's id. The budget counts samples
(16 bytes each), so memory stays bounded whatever the chunk sizes. Cached arrays are read-only:
a reader that tried to modify one would raise instead of corrupting the next reader's result.

Example::

    >>> import numpy as np
    >>> cache = ChunkCache(max_samples=2)
    >>> cache.put(("block", 0), np.array([1, 2]), np.array([1.0, 2.0]))
    >>> cache.get(("block", 0))[0].tolist()
    [1, 2]
    >>> cache.put(("block", 1), np.array([3]), np.array([3.0]))  # evicts the oldest
    >>> cache.get(("block", 0)) is None
    True
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_CACHE_SAMPLES", "ChunkCache"]

#: 16 M samples: 256 MiB of decoded timestamps and values.
DEFAULT_CACHE_SAMPLES = 16 * 1024 * 1024

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
_Key = tuple[str, int]


class ChunkCache:
    """Decoded ``(timestamps, values)`` by ``(block id, chunk number)``, at most ``max_samples``."""

    def __init__(self, max_samples: int = DEFAULT_CACHE_SAMPLES) -> None:
        self.max_samples = max_samples
        self.samples = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[_Key, tuple[Int64Array, Float64Array]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _Key) -> tuple[Int64Array, Float64Array] | None:
        """The cached chunk, marked as recently used; None when absent."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: _Key, timestamps: Int64Array, values: Float64Array) -> None:
        """Cache a decoded chunk (made read-only), evicting the least recently used."""
        size = int(timestamps.size)
        if size > self.max_samples:
            return
        timestamps.flags.writeable = False
        values.flags.writeable = False
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.samples -= int(previous[0].size)
            self._entries[key] = (timestamps, values)
            self.samples += size
            while self.samples > self.max_samples:
                _, (old, _) = self._entries.popitem(last=False)
                self.samples -= int(old.size)

    def forget(self, block_id: str) -> None:
        """Drop every chunk of a deleted block."""
        with self._lock:
            for key in [key for key in self._entries if key[0] == block_id]:
                self.samples -= int(self._entries.pop(key)[0].size)

    def __len__(self) -> int:
        return len(self._entries)
