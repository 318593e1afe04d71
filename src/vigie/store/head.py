"""The head: recent samples of every active series, in memory, before they are cut into a block.

Each series (:class:`MemSeries`) appends to two typed arrays (``array('q')`` timestamps,
``array('d')`` values: 16 bytes per sample, no Python object per sample); every
:data:`CHUNK_SAMPLES` samples the open arrays are compressed into an immutable chunk, as
Prometheus's head does with its 120-sample chunks. Series get a small integer *ref* on creation;
the WAL and the postings speak refs, not label sets.

Memory and reads are sized for ~200,000 series on a small machine (docs/reliability.md): label
pairs and strings are shared between series; a read copies only the samples in its range, under
the lock, into one buffer shared by the whole answer, and decodes chunks after releasing it
(:meth:`Head.gather`, :meth:`Head.assemble`); queries get one read-only label dict per series
(:class:`FrozenLabels`) instead of a new dict per series per query.

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
from dataclasses import dataclass
from operator import attrgetter
from typing import NoReturn

import numpy as np
import numpy.typing as npt

from vigie.exceptions import DuplicateSampleError, OutOfOrderSampleError, StoreError
from vigie.store.cache import ChunkCache
from vigie.store.encoding import decode_chunk, encode_chunk
from vigie.store.index import Postings
from vigie.store.interface import LabelPairs, Matcher, label_pairs

__all__ = [
    "CHUNK_SAMPLES",
    "FrozenLabels",
    "Gathered",
    "Head",
    "HeadChunk",
    "HeadSeries",
    "MemSeries",
]

#: Samples per head chunk: two hours of a 60 s scrape, thirty minutes of a 15 s one.
CHUNK_SAMPLES = 120
_NEVER = -(2**63)

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]
#: One series' labels and its samples in a queried range.
HeadSeries = tuple[LabelPairs, Int64Array, Float64Array]
_NO_TIMES: Int64Array = np.empty(0, dtype=np.int64)
_NO_VALUES: Float64Array = np.empty(0, dtype=np.float64)
_SERIES_LABELS = attrgetter("labels")
#: At most this many series references in the cached selections (8 bytes each).
_SELECTION_CACHE_SERIES = 2_000_000
#: (mint, maxt, encoded chunk) of one immutable head chunk.
HeadChunk = tuple[int, int, bytes]
_CheckpointSnapshot = tuple[
    list[tuple[int, LabelPairs]],
    list[tuple[int, int, int, bytes]],
    list[tuple[int, "array[int]", "array[float]"]],
]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


class FrozenLabels(dict[str, str]):
    """A series' labels as a dict that refuses changes: one per head series, shared by queries.

    Why: a query over every series of a metric built one dict per series per query, a tenth
    of the query's time and as much memory as the samples it read. Copy it to change it.

    Example::

        >>> labels = FrozenLabels((("job", "api"),))
        >>> labels["job"], dict(labels) | {"env": "prod"}
        ('api', {'job': 'api', 'env': 'prod'})
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a series' labels are shared by queries: copy them (dict(labels)) first")

    __setitem__ = __delitem__ = pop = popitem = clear = update = setdefault = _refuse
    __ior__ = _refuse

    def __reduce__(self) -> tuple[type[FrozenLabels], tuple[tuple[tuple[str, str], ...]]]:
        # copy, deepcopy and pickle rebuild it whole (the default would set items one by one).
        return (FrozenLabels, (tuple(self.items()),))


class MemSeries:
    """One series in the head: compressed chunks, then the open arrays being appended to."""

    __slots__ = ("chunks", "label_map", "labels", "last_t", "logged", "ref", "ts", "vals")

    def __init__(self, ref: int, labels: LabelPairs) -> None:
        self.ref = ref
        self.labels = labels
        #: The labels as a read-only dict, made by the first query that returns the series.
        self.label_map: FrozenLabels | None = None
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


@dataclass
class Gathered:
    """A head read in progress: what :meth:`Head.gather` copied under the lock."""

    labels: list[LabelPairs]
    #: Each series' shared read-only label dict (see FrozenLabels), beside ``labels``.
    maps: list[dict[str, str]]
    #: Where each series' samples end in the shared open-array buffers.
    ends: list[int]
    open_t: array[int]
    open_v: array[float]
    #: (position in ``labels``, its immutable chunks overlapping the range).
    chunked: list[tuple[int, list[HeadChunk]]]


class Head:
    """Every in-memory series, its postings, and the rules for accepting samples."""

    def __init__(self, *, out_of_order_window_ms: int = 0) -> None:
        self.out_of_order_window_ms = out_of_order_window_ms
        self.lock = threading.RLock()
        self.series: dict[int, MemSeries] = {}
        self.by_labels: dict[LabelPairs, MemSeries] = {}
        #: Label dicts' item tuples in another order than sorted -> series: skips sorting on the
        #: hot path (sorted ones are found in by_labels).
        self.by_raw: dict[tuple[tuple[str, str], ...], MemSeries] = {}
        self.postings = Postings()
        self.next_ref = 1
        self.min_valid_time = _NEVER
        self.mint = 2**63 - 1
        self.maxt = _NEVER
        #: Bumped when series are garbage-collected: appenders then re-resolve their series.
        self.generation = 0
        #: Every label pair of a live series, once (see _canonical).
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}
        #: Each ref's position in label order (see _in_label_order); None after a series came
        #: or went.
        self._rank: npt.NDArray[np.int64] | None = None
        #: Large selections by matchers, in label order, while no series comes or goes.
        self._selections: dict[tuple[Matcher, ...], list[MemSeries]] = {}
        self._selected = 0
        self._unordered = False
        #: WAL refs that name an existing series (replay only).
        self.aliases: dict[int, MemSeries] = {}

    def resolve(self, ref: int) -> MemSeries | None:
        """The series a WAL ref names, if it still exists."""
        return self.series.get(ref) or self.aliases.get(ref)

    def __len__(self) -> int:
        return len(self.series)

    def _canonical(self, key: LabelPairs) -> LabelPairs:
        """``key`` built from shared pairs of interned strings.

        Why: most label pairs repeat across series (``job``, ``instance``, ``__name__``, a
        route): storing each once instead of once per series saves about half of a label set's
        memory, and equal strings that are the same object compare by identity when sorting.
        """
        pairs = self._pairs
        shared = []
        for pair in key:
            found = pairs.get(pair)
            if found is None:
                found = pairs[pair] = (sys.intern(pair[0]), sys.intern(pair[1]))
            shared.append(found)
        return tuple(shared)

    def label_map(self, labels: LabelPairs) -> dict[str, str]:
        """``labels`` as a dict: the head series' shared read-only one when it has the series."""
        series = self.by_labels.get(labels)
        if series is None:
            return dict(labels)
        found = series.label_map
        if found is None:  # two readers racing here build equal dicts: either one is right
            found = series.label_map = FrozenLabels(series.labels)
        return found

    def lookup(self, raw: LabelPairs) -> MemSeries | None:
        """The series of a label dict's items (any order seen before), without sorting them."""
        found = self.by_labels.get(raw)
        return found if found is not None else self.by_raw.get(raw)

    def get_or_create(self, labels: Mapping[str, str], *, remember: bool = True) -> MemSeries:
        """The series for a label set, created (unlogged) when new.

        With ``remember``, the order of ``labels`` is remembered so that the next lookup of the
        same dict skips sorting (one more tuple per series: callers that keep the series they
        get, as the scrape loop does, pass False).
        """
        raw = tuple(labels.items())
        found = self.lookup(raw)
        if found is not None:
            return found
        key = label_pairs(labels)
        with self.lock:
            series = self.by_labels.get(key)
            if series is None:
                series = self._create(self.next_ref, self._canonical(key))
            if remember and raw != series.labels:
                self.by_raw[raw] = series
            return series

    def _create(self, ref: int, key: LabelPairs) -> MemSeries:
        series = MemSeries(ref, key)
        self.series[ref] = series
        self.by_labels[key] = series
        self.postings.add(ref, key)
        self.next_ref = max(self.next_ref, ref + 1)
        self._forget_order()
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
            self._create(ref, self._canonical(key)).logged = True

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

    def read(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[HeadSeries]:
        """Matching series with a sample in ``[mint, maxt]``, in label order, as of one moment."""
        with self.lock:
            gathered = self.gather(matchers, mint, maxt)
        return self.assemble(gathered, mint, maxt)

    def gather(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> Gathered:
        """What a read needs, copied while the caller holds :attr:`lock`; see :meth:`assemble`.

        Why this shape: a dashboard query reads every series of a metric, so the per-series cost
        is what counts. Under the lock only the open arrays' samples in range are copied, in
        label order, into one buffer shared by the whole answer (each series gets a view of it:
        no allocation of its own, and the query engine can use the buffer without concatenating
        it again), and the immutable chunks overlapping the range are picked; they are decoded
        in :meth:`assemble`, after the lock is released, so commits wait for the copy only.
        """
        bisect_left, bisect_right = bisect.bisect_left, bisect.bisect_right
        open_t: array[int] = array("q")
        open_v: array[float] = array("d")
        chosen: list[LabelPairs] = []
        maps: list[dict[str, str]] = []
        ends: list[int] = []
        chunked: list[tuple[int, list[HeadChunk]]] = []
        for s in self._selection(matchers):
            before = len(open_t)
            ts = s.ts
            if ts and ts[0] <= maxt and ts[-1] >= mint:
                low = bisect_left(ts, mint) if ts[0] < mint else 0
                high = bisect_right(ts, maxt) if ts[-1] > maxt else len(ts)
                if low < high:
                    open_t += ts[low:high]
                    open_v += s.vals[low:high]
            picked = None
            chunks = s.chunks
            if chunks and chunks[-1][1] >= mint and chunks[0][0] <= maxt:
                picked = [c for c in chunks if c[1] >= mint and c[0] <= maxt]
            if not picked and len(open_t) == before:
                continue
            if picked:
                chunked.append((len(chosen), picked))
            chosen.append(s.labels)
            label_map = s.label_map
            if label_map is None:
                label_map = s.label_map = FrozenLabels(s.labels)
            maps.append(label_map)
            ends.append(len(open_t))
        return Gathered(chosen, maps, ends, open_t, open_v, chunked)

    def _selection(self, matchers: Sequence[Matcher]) -> list[MemSeries]:
        """The series matching ``matchers`` in label order (call under the lock).

        Large answers are kept until a series comes or goes: a dashboard asks for the same
        selectors at every refresh, and between two new series the answer is the same.
        """
        key = tuple(matchers)
        found = self._selections.get(key)
        if found is None:
            found = self._in_label_order(self.postings.select(matchers))
            if len(found) >= 1_000:
                self._selected += len(found)
                if self._selected > _SELECTION_CACHE_SERIES:
                    self._selections.clear()
                    self._selected = len(found)
                self._selections[key] = found
        return found

    def _forget_order(self) -> None:
        """A series came or went: the label order and the cached selections are stale."""
        self._rank = None
        if self._selections:
            self._selections = {}
            self._selected = 0

    def _in_label_order(self, refs: npt.NDArray[np.int64]) -> list[MemSeries]:
        """The live series of ``refs``, sorted by labels (call under the lock).

        Sorting a large answer by label tuples costs more than the rest of the read, and the
        order of all series changes only when a series comes or goes: for large answers it is
        computed once (a rank per ref) and reused, so sorting becomes one numpy ``argsort``.
        """
        live = self.series
        if len(refs) < 1_000 or len(refs) * 4 < len(live):
            chosen = [s for s in map(live.get, refs.tolist()) if s is not None]
            chosen.sort(key=_SERIES_LABELS)
            return chosen
        if self._rank is None:
            ordered = sorted(live.values(), key=_SERIES_LABELS)
            rank = np.zeros(self.next_ref, dtype=np.int64)
            rank[[s.ref for s in ordered]] = np.arange(len(ordered), dtype=np.int64)
            self._rank = rank
        ordered_refs = refs[np.argsort(self._rank[refs], kind="stable")]
        return [s for s in map(live.get, ordered_refs.tolist()) if s is not None]

    def assemble(
        self, gathered: Gathered, mint: int, maxt: int, cache: ChunkCache | None = None
    ) -> list[HeadSeries]:
        """The series of :meth:`gather` with their samples, in label order (no lock needed);
        ``gathered.maps`` is left beside the result (same length, same order).

        ``cache`` keeps the decoded closed chunks (immutable once cut) for the next reads."""
        open_t, open_v = gathered.open_t, gathered.open_v
        all_t = np.frombuffer(open_t, dtype=np.int64) if open_t else _NO_TIMES
        all_v = np.frombuffer(open_v, dtype=np.float64) if open_v else _NO_VALUES
        found: list[HeadSeries] = []
        start = 0
        for labels, end in zip(gathered.labels, gathered.ends, strict=True):
            found.append((labels, all_t[start:end], all_v[start:end]))
            start = end
        if gathered.chunked:
            gone = self._add_chunks(found, gathered.chunked, mint, maxt, cache)
            if gone:
                found = [entry for i, entry in enumerate(found) if i not in gone]
                gathered.maps = [entry for i, entry in enumerate(gathered.maps) if i not in gone]
        return found

    @staticmethod
    def _add_chunks(
        found: list[HeadSeries],
        chunked: list[tuple[int, list[HeadChunk]]],
        mint: int,
        maxt: int,
        cache: ChunkCache | None = None,
    ) -> set[int]:
        """Prepend the decoded chunk samples in range; returns the entries left empty."""
        gone: set[int] = set()
        for index, picked in chunked:
            labels, open_t, open_v = found[index]
            if cache is None:
                parts = [decode_chunk(data) for _, _, data in picked]
            else:
                parts = [cache.decode_head(high, data) for _, high, data in picked]
            t = np.concatenate([p[0] for p in parts] + [open_t])
            v = np.concatenate([p[1] for p in parts] + [open_v])
            low = int(np.searchsorted(t, mint, side="left"))
            high = int(np.searchsorted(t, maxt, side="right"))
            if low >= high:
                gone.add(index)
            found[index] = (labels, t[low:high], v[low:high])
        return gone

    def select(
        self, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> Iterator[tuple[LabelPairs, Int64Array, Float64Array]]:
        """Matching series with at least one sample in ``[mint, maxt]``, in label order."""
        return iter(self.read(matchers, mint, maxt))

    def matching(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[LabelPairs]:
        """Labels of the matching series with a sample in ``[mint, maxt]``."""
        with self.lock:
            refs = self.postings.select(matchers)
            chosen = [self.series[ref] for ref in refs.tolist() if ref in self.series]
            return [s.labels for s in chosen if s.has_samples(mint, maxt)]

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
                self._forget_order()
                self.by_raw = {}
                self._pairs = {pair: pair for s in self.series.values() for pair in s.labels}
                self.postings = Postings.build((s.ref, s.labels) for s in self.series.values())
            self.mint = max(self.mint, boundary)
            if not self.series:
                self.mint, self.maxt = 2**63 - 1, _NEVER
