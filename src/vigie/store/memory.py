"""An in-memory store: the reference implementation of the store interface, for tests and fakes.

It keeps every sample in Python lists, checks nothing about durability, and is small enough to be
obviously right; the on-disk store is tested against the same behaviour.

Example::

    >>> storage = MemoryStorage()
    >>> appender = storage.appender()
    >>> appender.append({"__name__": "x"}, 0, 1.0)
    >>> appender.commit()
    >>> storage.querier().select([], 0, 10)[0].values.tolist()
    [1.0]
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Mapping, Sequence

import numpy as np

from vigie.exceptions import DuplicateSampleError, OutOfOrderSampleError
from vigie.store.interface import LabelPairs, Matcher, Series, label_pairs, matching

__all__ = ["MemoryAppender", "MemoryQuerier", "MemoryStorage"]


class MemoryStorage:
    """Series kept in memory; appends may be out of order unless ``allow_out_of_order`` is off."""

    def __init__(self, *, allow_out_of_order: bool = True) -> None:
        self.allow_out_of_order = allow_out_of_order
        self._series: dict[LabelPairs, tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()

    def appender(self) -> MemoryAppender:
        return MemoryAppender(self)

    def querier(self) -> MemoryQuerier:
        return MemoryQuerier(self)

    def clear(self) -> None:
        """Drop every series."""
        with self._lock:
            self._series.clear()

    def _insert(self, key: LabelPairs, timestamp_ms: int, value: float) -> None:
        timestamps, values = self._series.setdefault(key, ([], []))
        if timestamps and timestamp_ms <= timestamps[-1]:
            index = bisect.bisect_left(timestamps, timestamp_ms)
            if index < len(timestamps) and timestamps[index] == timestamp_ms:
                same = values[index] == value or (math.isnan(values[index]) and math.isnan(value))
                if not same:
                    raise DuplicateSampleError(f"duplicate sample for timestamp {timestamp_ms}")
                return
            if not self.allow_out_of_order:
                raise OutOfOrderSampleError(f"out of order sample at {timestamp_ms}")
            timestamps.insert(index, timestamp_ms)
            values.insert(index, value)
            return
        timestamps.append(timestamp_ms)
        values.append(value)


class MemoryAppender:
    """Buffers samples until :meth:`commit`; a failing sample leaves the others committed."""

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self._pending: list[tuple[LabelPairs, int, float]] = []

    def append(self, labels: Mapping[str, str], timestamp_ms: int, value: float) -> None:
        self._pending.append((label_pairs(labels), int(timestamp_ms), float(value)))

    def commit(self) -> None:
        pending, self._pending = self._pending, []
        with self._storage._lock:
            for key, timestamp_ms, value in pending:
                self._storage._insert(key, timestamp_ms, value)

    def rollback(self) -> None:
        self._pending = []


class MemoryQuerier:
    """Reads a :class:`MemoryStorage`."""

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
        found: list[Series] = []
        with self._storage._lock:
            items = list(self._storage._series.items())
        for key, (timestamps, values) in items:
            labels = dict(key)
            if not matching(labels, matchers):
                continue
            low = bisect.bisect_left(timestamps, mint)
            high = bisect.bisect_right(timestamps, maxt)
            if low >= high:
                continue
            found.append(
                Series(
                    labels,
                    np.array(timestamps[low:high], dtype=np.int64),
                    np.array(values[low:high], dtype=np.float64),
                )
            )
        found.sort(key=lambda series: label_pairs(series.labels))
        return found

    def label_names(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[str]:
        names = {name for series in self.select(matchers, mint, maxt) for name in series.labels}
        return sorted(names)

    def label_values(
        self, name: str, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> list[str]:
        values = {
            series.labels[name]
            for series in self.select(matchers, mint, maxt)
            if name in series.labels
        }
        return sorted(values)
