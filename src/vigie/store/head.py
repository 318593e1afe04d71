"""The head: recent samples of every active series, in memory, before they are cut into a block.

Each series (:class:`MemSeries`) appends to two typed arrays (``array('q')`` timestamps,
``array('d')`` values: 16 bytes per sample, no Python object per sample); every
:data:`CHUNK_SAMPLES` samples the open arrays are compressed into an immutable chunk, as
Prometheus's head does with its 120-sample chunks. Series get a small integer *ref* on creation;
the WAL and the postings speak refs, not label sets.

Ordering rules (Prometheus's defaults):

* a sample newer than the series' last one is appended;
* the same timestamp with the same value (NaN equals NaN) is ignored; with another value it is a
  :class:`~vigie.exceptions.DuplicateSampleError`;
* an older timestamp is an :class:`~vigie.exceptions.OutOfOrderSampleError`, unless an
  out-of-order window is configured and the sample is no older than the head's newest timestamp
  minus the window, in which case it is inserted in place;
* a sample older than :attr:`Head.min_valid_time` (the end of the newest persisted block) is
  always rejected as out of bounds: that range is already immutable on disk.

Example::

    >>> head = Head()
    >>> series = head.get_or_create({"__name__": "up"})
    >>> head.insert([series], [1_000], [1.0])
    []
    >>> [(t.tolist(), v.tolist()) for _, t, v in head.select([], 0, 2_000)]
    [([1000], [1.0])]
"""

from __future__ import annotations

import bisect
import math
import sys
import threading
from array import array
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from vigie.exceptions import DuplicateSampleError, OutOfOrderSampleError, StoreError
from vigie.store.encoding import decode_chunk, encode_chunk
from vigie.store.index import Postings
from vigie.store.interface import LabelPairs, Matcher, label_pairs

__all__ = ["CHUNK_SAMPLES", "Head", "HeadChunk", "MemSeries"]

#: Samples per head chunk: two hours of a 60 s scrape, thirty minutes of a 15 s one.
CHUNK_SAMPLES = 120
_NEVER = -(2**63)

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
#: (mint, maxt, encoded chunk) of one immutable head chunk.
HeadChunk = tuple[int, int, bytes]
_CheckpointSnapshot = tuple[
    list[tuple[int, LabelPairs]],
    list[tuple[int, int, int, bytes]],
    list[tuple[int, "array[int]", "array[float]"]],
]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


class MemSeries:
    """One series in the head: compressed chunks, then the open arrays being appended to."""

    __slots__ = ("chunks", "labels", "last_t", "logged", "ref", "ts", "vals")

    def __init__(self, ref: int, labels: LabelPairs) -> None:
        self.ref = ref
        self.labels = labels
        self.chunks: list[HeadChunk] = []
        self.ts = array("q")
        self.vals = array("d")
        self.last_t = _NEVER
        self.logged = False

    def cut(self) -> None:
        """Compress the open arrays into a chunk."""
        if self.ts:
            timestamps = np.frombuffer(self.ts, dtype=np.int64)
            values = np.frombuffer(self.vals, dtype=np.float64)
            data = encode_chunk(timestamps, values, thorough=False)
            self.chunks.append((self.ts[0], self.ts[-1], data))
            self.ts = array("q")
            self.vals = array("d")

    def samples(self, mint: int, maxt: int) -> tuple[Int64Array, Float64Array]:
        """Copies of the samples with ``mint <= t <= maxt``."""
        parts_t: list[Int64Array] = []
        parts_v: list[Float64Array] = []
        for chunk_mint, chunk_maxt, data in self.chunks:
            if chunk_maxt >= mint and chunk_mint <= maxt:
                t, v = decode_chunk(data)
                parts_t.append(t)
                parts_v.append(v)
        if self.ts and self.ts[-1] >= mint and self.ts[0] <= maxt:
            parts_t.append(np.array(self.ts, dtype=np.int64))
            parts_v.append(np.array(self.vals, dtype=np.float64))
        if not parts_t:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        t = np.concatenate(parts_t) if len(parts_t) > 1 else parts_t[0]
        v = np.concatenate(parts_v) if len(parts_v) > 1 else parts_v[0]
        low = int(np.searchsorted(t, mint, side="left"))
        high = int(np.searchsorted(t, maxt, side="right"))
        return t[low:high], v[low:high]

    def has_samples(self, mint: int, maxt: int) -> bool:
        """Whether a sample lies in ``[mint, maxt]`` (decodes only a chunk spanning the range)."""
        for low, high, data in self.chunks:
            if high < mint or low > maxt:
                continue
            if low >= mint or high <= maxt:
                return True
            t, _ = decode_chunk(data)
            if bool(((t >= mint) & (t <= maxt)).any()):
                return True
        if self.ts and self.ts[-1] >= mint and self.ts[0] <= maxt:
            index = bisect.bisect_left(self.ts, mint)
            return index < len(self.ts) and self.ts[index] <= maxt
        return False

    def find(self, timestamp: int) -> float | None:
        """The value at ``timestamp``, if the series has a sample there."""
        if self.ts and timestamp >= self.ts[0]:
            index = bisect.bisect_left(self.ts, timestamp)
            return (
                self.vals[index] if index < len(self.ts) and self.ts[index] == timestamp else None
            )
        for chunk_mint, chunk_maxt, data in self.chunks:
            if chunk_mint <= timestamp <= chunk_maxt:
                t, v = decode_chunk(data)
                index = int(np.searchsorted(t, timestamp))
                return float(v[index]) if index < t.size and t[index] == timestamp else None
        return None

    def insert_old(self, timestamp: int, value: float) -> None:
        """Insert a sample older than the last one (the caller checked it is not a duplicate)."""
        if not self.chunks or timestamp > self.chunks[-1][1]:
            index = bisect.bisect_left(self.ts, timestamp)
            self.ts.insert(index, timestamp)
            self.vals.insert(index, value)
            if len(self.ts) >= CHUNK_SAMPLES:
                self.cut()
            return
        # Into the chunk whose range it extends: the last one starting at or before it.
        starts = [chunk[0] for chunk in self.chunks]
        position = max(0, bisect.bisect_right(starts, timestamp) - 1)
        t, v = decode_chunk(self.chunks[position][2])
        index = int(np.searchsorted(t, timestamp))
        t = np.insert(t, index, timestamp)
        v = np.insert(v, index, value)
        self.chunks[position] = (int(t[0]), int(t[-1]), encode_chunk(t, v, thorough=False))

    def drop_before(self, boundary: int) -> None:
        """Forget every sample older than ``boundary`` (it is persisted in a block now)."""
        kept: list[HeadChunk] = []
        for chunk in self.chunks:
            if chunk[0] >= boundary:
                kept.append(chunk)
            elif chunk[1] >= boundary:
                t, v = decode_chunk(chunk[2])
                keep = t >= boundary
                kept.append(
                    (int(t[keep][0]), chunk[1], encode_chunk(t[keep], v[keep], thorough=False))
                )
        self.chunks = kept
        if self.ts and self.ts[0] < boundary:
            index = bisect.bisect_left(self.ts, boundary)
            self.ts = self.ts[index:]
            self.vals = self.vals[index:]

    def empty(self) -> bool:
        """Whether no sample is left."""
        return not self.chunks and not self.ts


class Head:
    """Every in-memory series, its postings, and the rules for accepting samples."""

    def __init__(self, *, out_of_order_window_ms: int = 0) -> None:
        self.out_of_order_window_ms = out_of_order_window_ms
        self.lock = threading.RLock()
        self.series: dict[int, MemSeries] = {}
        self.by_labels: dict[LabelPairs, MemSeries] = {}
        #: Label dicts' item tuples in insertion order -> series: skips sorting on the hot path.
        self.by_raw: dict[tuple[tuple[str, str], ...], MemSeries] = {}
        self.postings = Postings()
        self.next_ref = 1
        self.min_valid_time = _NEVER
        self.mint = 2**63 - 1
        self.maxt = _NEVER
        #: Bumped when series are garbage-collected: appenders then re-resolve their series.
        self.generation = 0
        self._symbols: dict[str, str] = {}
        self._unordered = False
        #: WAL refs that name an existing series (replay only).
        self.aliases: dict[int, MemSeries] = {}

    def resolve(self, ref: int) -> MemSeries | None:
        """The series a WAL ref names, if it still exists."""
        return self.series.get(ref) or self.aliases.get(ref)

    def __len__(self) -> int:
        return len(self.series)

    def _intern(self, text: str) -> str:
        return self._symbols.setdefault(text, sys.intern(text))

    def get_or_create(self, labels: Mapping[str, str]) -> MemSeries:
        """The series for a label set, created (unlogged) when new."""
        raw = tuple(labels.items())
        found = self.by_raw.get(raw)
        if found is not None:
            return found
        key = label_pairs(labels)
        with self.lock:
            series = self.by_labels.get(key)
            if series is None:
                key = tuple((self._intern(n), self._intern(v)) for n, v in key)
                series = self._create(self.next_ref, key)
            self.by_raw[series.labels if raw == series.labels else raw] = series
            return series

    def _create(self, ref: int, key: LabelPairs) -> MemSeries:
        series = MemSeries(ref, key)
        self.series[ref] = series
        self.by_labels[key] = series
        self.by_raw[key] = series
        self.postings.add(ref, key)
        self.next_ref = max(self.next_ref, ref + 1)
        return series

    def restore_series(self, ref: int, key: LabelPairs) -> None:
        """Recreate a series from the WAL with its logged ref (call :meth:`reindex` after)."""
        with self.lock:
            existing = self.series.get(ref)
            if existing is not None:
                if existing.labels != key:
                    raise StoreError(f"WAL series ref {ref} reused for other labels")
                return
            same = self.by_labels.get(key)
            if same is not None:
                # The labels were logged again under a new ref after a garbage collection.
                self.aliases[ref] = same
                return
            if ref < self.next_ref:
                self._unordered = True  # postings lists need sorting: see reindex()
            key = tuple((self._intern(n), self._intern(v)) for n, v in key)
            self._create(ref, key).logged = True

    def reindex(self) -> None:
        """Rebuild the postings when replay restored refs out of order."""
        with self.lock:
            if self._unordered:
                ordered = sorted((s.ref, s.labels) for s in self.series.values())
                self.postings = Postings.build(ordered)
                self._unordered = False

    def insert(
        self,
        series: Sequence[MemSeries],
        timestamps: Sequence[int],
        values: Sequence[float],
    ) -> list[StoreError]:
        """Insert a batch atomically for readers; returns the rejected samples' errors."""
        errors: list[StoreError] = []
        if not timestamps:
            return errors
        with self.lock:
            floor = self.min_valid_time
            for s, t, v in zip(series, timestamps, values, strict=True):
                if t > s.last_t and t >= floor:
                    ts = s.ts
                    ts.append(t)
                    s.vals.append(v)
                    s.last_t = t
                    if len(ts) >= CHUNK_SAMPLES:
                        s.cut()
                else:
                    error = self._insert_slow(s, t, v)
                    if error is not None:
                        errors.append(error)
            newest = max(timestamps)
            if newest > self.maxt:
                self.maxt = newest
            oldest = max(min(timestamps), floor)
            if oldest < self.mint:
                self.mint = oldest
        return errors

    def _insert_slow(self, s: MemSeries, t: int, v: float) -> StoreError | None:
        if t < self.min_valid_time:
            return OutOfOrderSampleError(
                f"sample at {t} is older than the head's minimum time {self.min_valid_time} "
                f"(out of bounds) for series {dict(s.labels)}"
            )
        existing = s.find(t)
        if existing is not None:
            if _same(existing, v):
                return None
            return DuplicateSampleError(
                f"duplicate sample for timestamp {t} with a different value for {dict(s.labels)}"
            )
        if self.out_of_order_window_ms <= 0 or t < self.maxt - self.out_of_order_window_ms:
            return OutOfOrderSampleError(
                f"out of order sample at {t} (series' newest is {s.last_t}) for {dict(s.labels)}"
            )
        s.insert_old(t, v)
        return None

    def snapshot(self, matchers: Sequence[Matcher]) -> list[MemSeries]:
        """Frozen copies of the matching series (cheap: chunks are immutable, arrays copied)."""
        with self.lock:
            refs = self.postings.select(matchers)
            return [self._frozen(self.series[ref]) for ref in refs.tolist() if ref in self.series]

    @staticmethod
    def _frozen(s: MemSeries) -> MemSeries:
        copy = MemSeries(s.ref, s.labels)
        copy.chunks, copy.ts, copy.vals = list(s.chunks), array("q", s.ts), array("d", s.vals)
        return copy

    @staticmethod
    def decode(
        snapshot: Sequence[MemSeries], mint: int, maxt: int
    ) -> Iterator[tuple[LabelPairs, Int64Array, Float64Array]]:
        """Samples in ``[mint, maxt]`` of snapshotted series, skipping those without any."""
        for s in snapshot:
            t, v = s.samples(mint, maxt)
            if t.size:
                yield s.labels, t, v

    def matching(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[LabelPairs]:
        """Labels of the matching series with a sample in ``[mint, maxt]``."""
        with self.lock:
            refs = self.postings.select(matchers)
            chosen = [self.series[ref] for ref in refs.tolist() if ref in self.series]
            return [s.labels for s in chosen if s.has_samples(mint, maxt)]

    def select(
        self, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> Iterator[tuple[LabelPairs, Int64Array, Float64Array]]:
        """Matching series with at least one sample in ``[mint, maxt]``, unsorted."""
        return self.decode(self.snapshot(matchers), mint, maxt)

    def snapshot_for_checkpoint(self, mint: int) -> _CheckpointSnapshot:
        """Copies of what a checkpoint needs: cheap, for under the lock."""
        with self.lock:
            series = [(s.ref, s.labels) for s in self.series.values()]
            chunks: list[tuple[int, int, int, bytes]] = []
            open_arrays = []
            for s in self.series.values():
                chunks.extend(
                    (s.ref, low, high, data) for low, high, data in s.chunks if high >= mint
                )
                if s.ts:
                    open_arrays.append((s.ref, array("q", s.ts), array("d", s.vals)))
        return series, chunks, open_arrays

    @staticmethod
    def encode_checkpoint(
        snapshot: _CheckpointSnapshot,
    ) -> tuple[list[tuple[int, LabelPairs]], list[tuple[int, int, int, bytes]]]:
        """The checkpoint's series and encoded chunks (the open arrays get encoded here)."""
        series, chunks, open_arrays = snapshot
        chunks = list(chunks)
        for ref, ts, vals in open_arrays:
            t = np.frombuffer(ts, dtype=np.int64)
            v = np.frombuffer(vals, dtype=np.float64)
            chunks.append((ref, ts[0], ts[-1], encode_chunk(t, v, thorough=False)))
        return series, chunks

    def dump(
        self, mint: int
    ) -> tuple[list[tuple[int, LabelPairs]], list[tuple[int, int, int, bytes]]]:
        """Every series, and its samples from about ``mint`` on as encoded chunks (checkpoint)."""
        return self.encode_checkpoint(self.snapshot_for_checkpoint(mint))

    def restore_chunk(self, ref: int, mint: int, maxt: int, data: bytes) -> None:
        """Load a checkpointed chunk of series ``ref`` (samples before the floor are skipped)."""
        s = self.resolve(ref)
        if s is None or maxt < self.min_valid_time:
            return
        if mint >= self.min_valid_time and mint > s.last_t and not s.ts:
            # The usual case: in order, nothing to skip: keep the chunk without decoding it.
            s.chunks.append((mint, maxt, data))
            s.last_t = maxt
            self.maxt = max(self.maxt, maxt)
            self.mint = min(self.mint, mint)
            return
        t, v = decode_chunk(data)
        keep = t >= self.min_valid_time
        self.insert([s] * int(keep.sum()), t[keep].tolist(), v[keep].tolist())

    def before(self, boundary: int) -> Iterator[tuple[LabelPairs, list[HeadChunk]]]:
        """Every series' samples older than ``boundary`` as encoded chunks, in label order.

        Head chunks entirely before the boundary are passed on as they are (no decoding): the
        block they land in is re-encoded into larger chunks when it is compacted.
        """
        with self.lock:
            chosen = sorted(self.series.values(), key=lambda s: s.labels)
        for s in chosen:
            with self.lock:
                chunks, ts, vals = list(s.chunks), array("q", s.ts), array("d", s.vals)
            kept = [chunk for chunk in chunks if chunk[1] < boundary]
            rest = MemSeries(s.ref, s.labels)
            rest.chunks = [chunk for chunk in chunks if chunk[0] < boundary <= chunk[1]]
            rest.ts, rest.vals = ts, vals
            t, v = rest.samples(_NEVER + 1, boundary - 1)
            if t.size:
                kept.append((int(t[0]), int(t[-1]), encode_chunk(t, v, thorough=False)))
            if kept:
                yield s.labels, kept

    def truncate_before(self, boundary: int) -> None:
        """Drop samples older than ``boundary`` and the series left empty."""
        with self.lock:
            for s in self.series.values():
                s.drop_before(boundary)
            dead = [ref for ref, s in self.series.items() if s.empty()]
            for ref in dead:
                s = self.series.pop(ref)
                del self.by_labels[s.labels]
            if dead:
                self.generation += 1
                self.by_raw = {s.labels: s for s in self.series.values()}
                self.postings = Postings.build((s.ref, s.labels) for s in self.series.values())
            self.mint = max(self.mint, boundary)
            if not self.series:
                self.mint, self.maxt = 2**63 - 1, _NEVER
