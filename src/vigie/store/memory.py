"""An in-memory store: the reference implementation of the store interface, for tests and fakes.

It keeps every sample in Python lists, checks nothing about durability, and is small enough to be
obviously right; the on-disk store is tested against the same behaviour.

Selection goes through a plain inverted index (label name -> value -> series keys), so a selector
looks at the values of the labels it names, not at every series: the query engine's tests and
benchmarks use this store with tens of thousands of series. Each series' numpy copy is cached
until the series next changes (read-only, so no reader can alter another's result).

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
from typing import cast

import numpy as np
import numpy.typing as npt

from vigie.exceptions import DuplicateSampleError, OutOfOrderSampleError, StoreError
from vigie.store.interface import LabelPairs, Matcher, Series, SeriesRef, label_pairs

__all__ = ["MemoryAppender", "MemoryQuerier", "MemoryStorage"]

_Arrays = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


class MemoryStorage:
    """Series kept in memory; appends may be out of order unless ``allow_out_of_order`` is off."""

    def __init__(self, *, allow_out_of_order: bool = True) -> None:
        self.allow_out_of_order = allow_out_of_order
        self._series: dict[LabelPairs, tuple[list[int], list[float]]] = {}
        #: label name -> label value -> keys of the series having it.
        self._index: dict[str, dict[str, set[LabelPairs]]] = {}
        #: numpy copies of a series' samples, dropped whenever the series changes.
        self._arrays: dict[LabelPairs, _Arrays] = {}
        self._lock = threading.Lock()

    def appender(self) -> MemoryAppender:
        return MemoryAppender(self)

    def querier(self) -> MemoryQuerier:
        return MemoryQuerier(self)

    def clear(self) -> None:
        """Drop every series."""
        with self._lock:
            self._series.clear()
            self._index.clear()
            self._arrays.clear()

    def _insert(self, key: LabelPairs, timestamp_ms: int, value: float) -> None:
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = ([], [])
            for name, label_value in key:
                self._index.setdefault(name, {}).setdefault(label_value, set()).add(key)
        timestamps, values = found
        self._arrays.pop(key, None)
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

    def _candidates(self, matcher: Matcher) -> set[LabelPairs]:
        """Keys of the series ``matcher`` selects, from the index (caller holds the lock)."""
        by_value = self._index.get(matcher.name, {})
        if matcher.matches(""):
            # Series without the label match too: every series minus the non-matching values.
            excluded: set[LabelPairs] = set()
            for label_value, keys in by_value.items():
                if not matcher.matches(label_value):
                    excluded |= keys
            return self._series.keys() - excluded
        if matcher.op == "=":
            return set(by_value.get(matcher.value, ()))
        chosen: set[LabelPairs] = set()
        for label_value, keys in by_value.items():
            if matcher.matches(label_value):
                chosen |= keys
        return chosen

    def _arrays_of(self, key: LabelPairs) -> _Arrays:
        """The cached read-only numpy copy of a series (caller holds the lock)."""
        arrays = self._arrays.get(key)
        if arrays is None:
            timestamps, values = self._series[key]
            t = np.array(timestamps, dtype=np.int64)
            v = np.array(values, dtype=np.float64)
            t.flags.writeable = False
            v.flags.writeable = False
            arrays = self._arrays[key] = (t, v)
        return arrays


class MemoryAppender:
    """Buffers samples until :meth:`commit`; a failing sample leaves the others committed."""

    def __init__(self, storage: MemoryStorage) -> None:
        self._storage = storage
        self._pending: list[tuple[LabelPairs, int, float]] = []

    def append(self, labels: Mapping[str, str], timestamp_ms: int, value: float) -> None:
        self._pending.append((label_pairs(labels), int(timestamp_ms), float(value)))

    def ref(self, labels: Mapping[str, str]) -> SeriesRef:
        """The series' reference for :meth:`append_ref`: here, its sorted label pairs."""
        return label_pairs(labels)

    def append_ref(self, ref: SeriesRef, timestamp_ms: int, value: float) -> None:
        if type(ref) is not tuple:
            raise StoreError(f"not a series reference of this store: {ref!r}")
        self._pending.append((ref, int(timestamp_ms), float(value)))

    def append_refs(
        self, refs: Sequence[SeriesRef], timestamp_ms: int, values: Sequence[float]
    ) -> None:
        if len(refs) != len(values):
            raise StoreError(f"{len(refs)} refs but {len(values)} values")
        for ref in refs:
            if type(ref) is not tuple:
                raise StoreError(f"not a series reference of this store: {ref!r}")
        timestamp = int(timestamp_ms)
        self._pending.extend(
            (ref, timestamp, float(v))
            for ref, v in zip(cast("Sequence[LabelPairs]", refs), values, strict=True)
        )

    def append_many(
        self, labels: Mapping[str, str], timestamps_ms: Sequence[int], values: Sequence[float]
    ) -> None:
        if len(timestamps_ms) != len(values):
            raise StoreError(f"{len(timestamps_ms)} timestamps but {len(values)} values")
        key = label_pairs(labels)
        self._pending.extend(
            (key, int(t), float(v)) for t, v in zip(timestamps_ms, values, strict=True)
        )

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
        storage = self._storage
        found: list[Series] = []
        with storage._lock:
            keys: set[LabelPairs] | None = None
            for matcher in matchers:
                candidates = storage._candidates(matcher)
                keys = candidates if keys is None else keys & candidates
                if not keys:
                    return []
            series = storage._series
            for key in sorted(series if keys is None else keys):
                times = series[key][0]
                # bisect on the list: cheaper than a numpy call for one lookup
                low = bisect.bisect_left(times, mint)
                high = bisect.bisect_right(times, maxt)
                if low < high:
                    timestamps, values = storage._arrays_of(key)
                    found.append(Series(dict(key), timestamps[low:high], values[low:high]))
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
