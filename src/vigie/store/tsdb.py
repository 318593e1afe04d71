"""The on-disk store: head + WAL + persisted blocks, behind the appender/querier interface.

:class:`DiskStorage` is what ``vigie server`` runs on. A commit is written to the WAL (and synced
per the fsync policy) before it returns, then made visible to queriers at once. When the head
spans 1.5 block ranges (3 h by default) a maintenance thread cuts its oldest aligned 2 h window
into a block; blocks are merged into 6 h and 24 h ones; retention deletes the oldest. See
docs/store.md.

Commit semantics: every sample is validated while inserting; the valid ones of the batch are
stored and become visible together; afterwards, if some were rejected, ``commit`` raises the
first rejection's class (:class:`~vigie.exceptions.OutOfOrderSampleError` or
:class:`~vigie.exceptions.DuplicateSampleError`) with the count in the message. If the WAL write
fails (:class:`~vigie.exceptions.StorageFullError`), nothing of the batch is stored.

Example::

    >>> import tempfile
    >>> storage = DiskStorage(tempfile.mkdtemp())
    >>> appender = storage.appender()
    >>> appender.append({"__name__": "up", "job": "api"}, 1_000, 1.0)
    >>> appender.commit()
    >>> [s.values.tolist() for s in storage.querier().select([], 0, 2_000)]
    [[1.0]]
    >>> storage.close()
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import IO

import numpy as np

from vigie.exceptions import (
    CorruptionError,
    DuplicateSampleError,
    OutOfOrderSampleError,
    StorageFullError,
    StoreError,
)
from vigie.store.blocks import Block, BlockMeta, BlockWriter, directory_size, join_series
from vigie.store.cache import DEFAULT_CACHE_SAMPLES, ChunkCache
from vigie.store.compaction import DEFAULT_RANGES, merge, plan, retention
from vigie.store.exemplars import DEFAULT_MAX_EXEMPLARS, Exemplar, ExemplarStorage
from vigie.store.head import Head, MemSeries
from vigie.store.interface import LabelPairs, Matcher, Series, SeriesRef, label_pairs
from vigie.store.wal import WAL, ChunkRecord, FsyncPolicy, SamplesRecord, SeriesRecord, verify_file

__all__ = ["DiskAppender", "DiskQuerier", "DiskStorage", "IntegrityReport", "StoreStats"]

logger = logging.getLogger("vigie.store")

DAY_MS = 86_400_000
#: Prometheus's default time retention.
DEFAULT_RETENTION_MS = 15 * DAY_MS
_RETRY_AFTER_FAILURE_S = 30.0
_HOUSEKEEPING_INTERVAL_S = 60.0
_MIN_TIME, _MAX_TIME = -(2**63), 2**63 - 1
_REF = attrgetter("ref")
#: Suffixes of block directories being written or deleted: removed at start.
_LEFTOVER = (".tmp", ".deleting")


def _lock_directory(data_dir: str) -> IO[bytes]:
    """Take the data directory's lock: two processes writing one WAL would corrupt it."""
    file = open(os.path.join(data_dir, "lock"), "ab")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        file.close()
        raise StoreError(f"{data_dir} is in use by another store (lock held): {error}") from None
    return file


def _delete_block(path: str) -> None:
    """Delete a block directory so that a crash midway never leaves a half block behind."""
    doomed = path + ".deleting"
    try:
        os.replace(path, doomed)
    except FileNotFoundError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


@dataclass(frozen=True)
class StoreStats:
    """Self-monitoring figures (the server exports them as ``vigie_store_*`` metrics)."""

    head_series: int
    head_min_time: int | None
    head_max_time: int | None
    samples_appended: int
    samples_rejected: int
    blocks: int
    bytes_on_disk: int
    wal_bytes: int
    corruptions: int
    storage_full_errors: int
    compactions: int
    healthy: bool
    last_error: str | None


@dataclass
class IntegrityReport:
    """What :meth:`DiskStorage.check` found: every file it verified and every problem."""

    files_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_for_problems(self) -> None:
        """Raise CorruptionError listing the problems, if any."""
        if self.problems:
            raise CorruptionError(f"{len(self.problems)} problem(s): " + "; ".join(self.problems))


class DiskStorage:
    """A persistent time-series store in ``data_dir``.

    ``retention_ms`` / ``retention_bytes``: delete the oldest blocks beyond this age / size
    (``None`` disables). ``fsync``: ``"always"`` (default), ``"never"`` or seconds between syncs.
    ``out_of_order_window_ms``: accept samples this much older than the newest one (0: reject).
    ``background``: cut, compact and apply retention in a maintenance thread (default), so no
    commit waits for a block to be written; ``False`` runs them inside the commit that finds
    them due (deterministic, for tests). ``chunk_cache_samples``: how many decoded samples of
    block and head chunks to keep for repeated queries (16 bytes each; 0 disables the cache;
    see store/cache.py). ``max_exemplars``: the exemplar ring's size (Prometheus's
    ``storage.exemplars.max_exemplars``; 0 keeps none).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        retention_ms: int | None = DEFAULT_RETENTION_MS,
        retention_bytes: int | None = None,
        fsync: FsyncPolicy = "always",
        out_of_order_window_ms: int = 0,
        block_ranges: Sequence[int] = DEFAULT_RANGES,
        wal_segment_bytes: int = 64 * 1024 * 1024,
        background: bool = True,
        chunk_cache_samples: int = DEFAULT_CACHE_SAMPLES,
        max_exemplars: int = DEFAULT_MAX_EXEMPLARS,
    ) -> None:
        self.data_dir = os.fspath(data_dir)
        self.retention_ms = retention_ms
        self.retention_bytes = retention_bytes
        self.block_ranges = tuple(block_ranges)
        self._blocks_dir = os.path.join(self.data_dir, "blocks")
        #: Decoded block chunks, shared by every block (0 disables it).
        self.chunk_cache = ChunkCache(chunk_cache_samples)
        os.makedirs(self._blocks_dir, exist_ok=True)
        self._lock_file = _lock_directory(self.data_dir)
        self._write_lock = threading.Lock()
        # Outermost lock: one maintenance (cut, compaction, retention) at a time.
        self._maintenance_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._head = Head(out_of_order_window_ms=out_of_order_window_ms)
        self._blocks: list[Block] = []
        self._closed = False
        self._samples_appended = 0
        self._samples_rejected = 0
        self._corruptions = 0
        self._storage_full = 0
        self._compactions = 0
        self._last_error: str | None = None
        self._retry_at = 0.0
        self._housekeeping_at = 0.0
        try:
            self._open_blocks()
            self._wal = WAL(
                os.path.join(self.data_dir, "wal"), fsync=fsync, segment_bytes=wal_segment_bytes
            )
            self._replay()
            #: Exemplars of committed samples (``exemplars/log``, see vigie.store.exemplars).
            self.exemplars = ExemplarStorage(
                os.path.join(self.data_dir, "exemplars"),
                max_exemplars=max_exemplars,
                fsync=fsync,
                on_corruption=self._corrupted,
            )
        except BaseException:
            self._lock_file.close()
            raise
        self._maintain()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(
                target=self._background, name="vigie-store-maintenance", daemon=True
            )
            self._thread.start()
        self.ready = True

    # -- opening -----------------------------------------------------------------------------

    def _open_blocks(self) -> None:
        names = sorted(os.listdir(self._blocks_dir))
        for name in names:
            if name.endswith(_LEFTOVER):
                shutil.rmtree(os.path.join(self._blocks_dir, name), ignore_errors=True)
        metas: dict[str, BlockMeta] = {}
        for name in names:
            path = os.path.join(self._blocks_dir, name)
            if name.endswith(_LEFTOVER) or not os.path.isdir(path):
                continue
            try:
                metas[name] = BlockMeta.load(path)
            except CorruptionError as error:
                self._corrupted(error)
        # A merged block lists what it replaced; those left behind by a crash go now.
        replaced = {s for meta in metas.values() for s in meta.sources if s != meta.id}
        for name, meta in metas.items():
            if name in replaced or meta.id in replaced:
                _delete_block(os.path.join(self._blocks_dir, name))
                continue
            try:
                self._blocks.append(
                    Block(
                        os.path.join(self._blocks_dir, name),
                        on_corruption=self._corrupted,
                        cache=self.chunk_cache,
                    )
                )
            except CorruptionError as error:
                self._corrupted(error)
        self._blocks.sort(key=lambda b: b.meta.mint)
        if self._blocks:
            self._head.min_valid_time = max(b.meta.maxt for b in self._blocks)

    def _replay(self) -> None:
        head = self._head
        rejected = 0
        for record in self._wal.replay():
            if isinstance(record, SeriesRecord):
                for ref, labels in record.series:
                    head.restore_series(ref, labels)
            elif isinstance(record, ChunkRecord):
                head.restore_chunk(record.ref, record.mint, record.maxt, record.data)
            elif isinstance(record, SamplesRecord):
                chosen: list[MemSeries] = []
                ts: list[int] = []
                vals: list[float] = []
                resolve = head.resolve
                for ref, t, v in zip(
                    record.refs.tolist(),
                    record.timestamps.tolist(),
                    record.values.tolist(),
                    strict=True,
                ):
                    s = resolve(ref)
                    if s is not None:
                        chosen.append(s)
                        ts.append(t)
                        vals.append(v)
                rejected += len(head.insert(chosen, ts, vals))
        head.reindex()
        for message in self._wal.corruptions:
            self._corrupted(CorruptionError(message))
        if rejected:
            logger.info("WAL replay skipped %d samples already persisted or rejected", rejected)

    # -- the Storage protocol ----------------------------------------------------------------

    def appender(self) -> DiskAppender:
        return DiskAppender(self)

    def querier(self) -> DiskQuerier:
        return DiskQuerier(self)

    def _commit(
        self, series: list[MemSeries], timestamps: list[int], values: list[float], generation: int
    ) -> None:
        head = self._head
        with self._write_lock:
            if self._closed:
                raise StoreError("the store is closed")
            if generation != head.generation:
                series = [
                    s if head.series.get(s.ref) is s else head.get_or_create(dict(s.labels))
                    for s in series
                ]
            new = list({s.ref: s for s in series if not s.logged}.values())
            refs = np.fromiter(map(_REF, series), dtype=np.uint32, count=len(series))
            try:
                sequence = self._wal.log(
                    [(s.ref, s.labels) for s in new],
                    refs,
                    np.array(timestamps, dtype=np.int64),
                    np.array(values, dtype=np.float64),
                    sync=False,
                )
            except StorageFullError as error:
                self._storage_full += 1
                self._last_error = str(error)
                logger.error("commit failed, nothing stored: %s", error)
                raise
            for s in new:
                s.logged = True
            errors = head.insert(series, timestamps, values)
            self._samples_appended += len(timestamps) - len(errors)
            self._samples_rejected += len(errors)
        try:
            # Outside the write lock: commits that wrote meanwhile share one fdatasync.
            self._wal.sync_through(sequence)
        except OSError as error:
            self._last_error = f"WAL sync failed: {error}"
            raise StoreError(f"WAL sync failed, durability unknown: {error}") from error
        if self._due():
            if self._thread is not None:
                self._wake.set()
            else:
                self._maintain()
        if errors:
            first = errors[0]
            raise type(first)(
                f"{len(errors)} of {len(timestamps)} samples rejected; first: {first}"
            )

    # -- maintenance: cut, compact, retain ---------------------------------------------------

    def _due(self) -> bool:
        """Whether a head cut or the periodic compaction/retention pass is due (cheap)."""
        now = time.monotonic()
        if now < self._retry_at:
            return False
        head = self._head
        span = head.maxt - head.mint
        return span > self.block_ranges[0] * 3 // 2 or now >= self._housekeeping_at

    def _background(self) -> None:
        """The maintenance thread: runs when a commit finds work due, and every minute."""
        while not self._stopping:
            self._wake.wait(_HOUSEKEEPING_INTERVAL_S)
            self._wake.clear()
            if self._stopping:
                return
            try:
                self._maintain()
            except Exception:  # never let the thread die: report and go on
                logger.exception("store maintenance crashed")
                self._last_error = "store maintenance crashed (see log)"
                self._retry_at = time.monotonic() + _RETRY_AFTER_FAILURE_S

    def _maintain(self, *, force: bool = False) -> None:
        """Cut the head into blocks when due, compact, apply retention (no lock held)."""
        with self._maintenance_lock:
            self._maintain_locked(force=force)

    def _maintain_locked(self, *, force: bool) -> None:
        now = time.monotonic()
        if now < self._retry_at and not force:
            return
        try:
            head = self._head
            size = self.block_ranges[0]
            cut = False
            while head.series and (force or head.maxt - head.mint > size * 3 // 2):
                if head.mint > head.maxt:
                    break
                start = head.mint // size * size
                self._cut(start, start + size)
                cut = True
            # Compaction and retention only change after a cut, or as the WAL grows: not on
            # every commit (they stat every block file).
            if cut or force or now >= self._housekeeping_at:
                self._housekeeping_at = now + _HOUSEKEEPING_INTERVAL_S
                self._compact()
                self._retain()
        except StoreError as error:
            self._fail(error)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                self._fail(StorageFullError(f"disk full while writing a block: {error}"))
            else:
                self._fail(StoreError(f"block maintenance failed: {error}"))

    def _fail(self, error: StoreError) -> None:
        if isinstance(error, StorageFullError):
            self._storage_full += 1
        self._last_error = str(error)
        self._retry_at = time.monotonic() + _RETRY_AFTER_FAILURE_S
        logger.error("store maintenance failed, will retry: %s", error)

    def _cut(self, start: int, boundary: int) -> None:
        head = self._head
        # Commits wait only for this: the head's content now is exactly WAL segments <= covered.
        with self._write_lock, head.lock:
            if self._closed:
                raise StoreError("the store is closed")
            head.min_valid_time = max(head.min_valid_time, boundary)
            covered = self._wal.rotate()
            snapshot = head.snapshot_for_checkpoint(boundary)
        dump = head.encode_checkpoint(snapshot)
        writer = BlockWriter(self._blocks_dir, mint=start, maxt=boundary)
        block = None
        try:
            for labels, chunks in head.before(boundary):
                writer.add_encoded(labels, chunks)
            if writer.empty:
                writer.abort()
            else:
                block = Block(
                    writer.finish(), on_corruption=self._corrupted, cache=self.chunk_cache
                )
        except BaseException:
            writer.abort()
            raise
        try:
            self._wal.write_checkpoint(covered, *dump)
        except StoreError as error:
            # The old segments stay (they hold everything); the next cut's checkpoint covers them.
            self._fail(error)
        with head.lock:
            if block is not None:
                self._blocks.append(block)
                self._blocks.sort(key=lambda b: b.meta.mint)
            head.truncate_before(boundary)
        self.chunk_cache.forget_head(boundary)  # those chunks are the new block's now

    def _compact(self) -> None:
        while True:
            due = plan(
                [b.meta for b in self._blocks],
                ranges=self._ranges(),
                persisted_until=self._head.min_valid_time,
            )
            if not due:
                return
            ids = {meta.id for meta in due}
            chosen = [b for b in self._blocks if b.id in ids]
            size = next(r for r in self._ranges() if r > due[0].maxt - due[0].mint)
            start = due[0].mint // size * size
            path = merge(self._blocks_dir, chosen, mint=start, maxt=start + size)
            merged = Block(path, on_corruption=self._corrupted, cache=self.chunk_cache)
            with self._head.lock:
                self._blocks = sorted(
                    [b for b in self._blocks if b.id not in ids] + [merged],
                    key=lambda b: b.meta.mint,
                )
            for block in chosen:
                _delete_block(block.path)
                self.chunk_cache.forget(block.id)
            self._compactions += 1

    def _ranges(self) -> tuple[int, ...]:
        # As Prometheus: no block longer than a tenth of the time retention.
        if self.retention_ms is None:
            return self.block_ranges
        limit = max(self.block_ranges[0], self.retention_ms // 10)
        return tuple(r for r in self.block_ranges if r <= limit)

    def _retain(self) -> None:
        sizes = {b.id: b.size() for b in self._blocks}
        doomed = retention(
            [b.meta for b in self._blocks],
            sizes,
            retention_ms=self.retention_ms,
            retention_bytes=self.retention_bytes,
            other_bytes=self._wal.size() if self.retention_bytes is not None else 0,
        )
        if not doomed:
            return
        ids = {meta.id for meta in doomed}
        with self._head.lock:
            removed = [b for b in self._blocks if b.id in ids]
            self._blocks = [b for b in self._blocks if b.id not in ids]
        for block in removed:
            # Readers holding the block keep its mmap; the files go now.
            _delete_block(block.path)
            self.chunk_cache.forget(block.id)
            logger.info("retention deleted block %s", block.id)

    def flush(self) -> None:
        """Persist the whole head as blocks now (later samples older than it are rejected)."""
        self._maintain(force=True)

    def maintain(self) -> None:
        """Run due maintenance now, in the caller's thread (waits for a running one)."""
        self._maintain()

    # -- health ------------------------------------------------------------------------------

    def _corrupted(self, error: CorruptionError) -> None:
        self._corruptions += 1
        self._last_error = str(error)
        logger.error("store corruption: %s", error)

    def stats(self) -> StoreStats:
        """Current self-monitoring figures."""
        head = self._head
        with head.lock:
            blocks = list(self._blocks)
            has_head = bool(head.series) and head.maxt >= head.mint
            head_series = len(head.series)
            mint, maxt = head.mint, head.maxt
        wal_bytes = self._wal.size()
        on_disk = wal_bytes + sum(directory_size(b.path) for b in blocks if os.path.isdir(b.path))
        return StoreStats(
            head_series=head_series,
            head_min_time=mint if has_head else None,
            head_max_time=maxt if has_head else None,
            samples_appended=self._samples_appended,
            samples_rejected=self._samples_rejected,
            blocks=len(blocks),
            bytes_on_disk=on_disk,
            wal_bytes=wal_bytes,
            corruptions=self._corruptions,
            storage_full_errors=self._storage_full,
            compactions=self._compactions,
            healthy=self._corruptions == 0 and time.monotonic() >= self._retry_at,
            last_error=self._last_error,
        )

    def check(self) -> IntegrityReport:
        """Verify every checksum of every block and WAL file; problems are also counted."""
        # Maintenance would delete or add files under our feet: hold it off meanwhile.
        with self._maintenance_lock:
            report = self._check()
        if report.problems:
            self._corruptions += len(report.problems)
            self._last_error = report.problems[0]
        return report

    def _check(self) -> IntegrityReport:
        report = IntegrityReport()
        for name in sorted(os.listdir(self._blocks_dir)):
            path = os.path.join(self._blocks_dir, name)
            if name.endswith(_LEFTOVER) or not os.path.isdir(path):
                continue
            report.files_checked += 3
            try:
                block = Block(path)
            except CorruptionError as error:
                report.problems.append(str(error))
                continue
            try:
                report.problems.extend(block.verify())
            finally:
                block.close()
        wal_dir = self._wal.directory
        segments = self._wal.segments()
        for name in sorted(os.listdir(wal_dir)):
            if name.endswith(".tmp"):
                continue
            report.files_checked += 1
            live = name.isdigit() and int(name) == segments[-1]
            report.problems.extend(verify_file(os.path.join(wal_dir, name), live=live))
        return report

    def close(self) -> None:
        """Stop maintenance, sync and close the WAL; the store is unusable afterwards."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        with self._maintenance_lock, self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._wal.close()
            self.exemplars.close()
            self._lock_file.close()  # releases the directory lock
        for block in self._blocks:
            block.close()

    def __enter__(self) -> DiskStorage:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class DiskAppender:
    """Buffers samples for one :class:`DiskStorage` commit (one writer at a time)."""

    def __init__(self, storage: DiskStorage) -> None:
        self._storage = storage
        self._head = storage._head
        self._generation = self._head.generation
        self._series: list[MemSeries] = []
        self._ts: list[int] = []
        self._vals: list[float] = []
        self._exemplars: list[tuple[LabelPairs, Exemplar]] = []

    def append(self, labels: Mapping[str, str], timestamp_ms: int, value: float) -> None:
        """Buffer one sample; ordering is validated at :meth:`commit`."""
        timestamp = int(timestamp_ms)
        if not _MIN_TIME <= timestamp <= _MAX_TIME:
            raise StoreError(f"timestamp {timestamp} is outside the int64 millisecond range")
        self._series.append(self._resolve(labels))
        self._ts.append(timestamp)
        self._vals.append(float(value))

    def _resolve(self, labels: Mapping[str, str]) -> MemSeries:
        series = self._head.lookup(tuple(labels.items()))
        return series if series is not None else self._head.get_or_create(labels)

    def ref(self, labels: Mapping[str, str]) -> SeriesRef:
        """The head series for these labels (created, unlogged, when new): for append_ref."""
        # The caller keeps the ref: no need to remember the labels' order for later lookups.
        return self._head.get_or_create(labels, remember=False)

    def append_ref(self, ref: SeriesRef, timestamp_ms: int, value: float) -> None:
        """Buffer one sample of a series from :meth:`ref` (checked: a series the head has
        forgotten since, or another store's, is resolved again by its labels)."""
        timestamp = int(timestamp_ms)
        if not _MIN_TIME <= timestamp <= _MAX_TIME:
            raise StoreError(f"timestamp {timestamp} is outside the int64 millisecond range")
        if type(ref) is MemSeries and self._head.series.get(ref.ref) is ref:
            self._series.append(ref)
        else:
            self._series.append(self._ref_again(ref))
        self._ts.append(timestamp)
        self._vals.append(float(value))

    def append_refs(
        self, refs: Sequence[SeriesRef], timestamp_ms: int, values: Sequence[float]
    ) -> None:
        """Buffer one sample per ref, all at ``timestamp_ms``: a whole scrape in one call."""
        count = len(refs)
        if count != len(values):
            raise StoreError(f"{count} refs but {len(values)} values")
        timestamp = int(timestamp_ms)
        if not _MIN_TIME <= timestamp <= _MAX_TIME:
            raise StoreError(f"timestamp {timestamp} is outside the int64 millisecond range")
        live = self._head.series
        again = self._ref_again
        series = [
            ref if type(ref) is MemSeries and live.get(ref.ref) is ref else again(ref)
            for ref in refs
        ]
        self._series.extend(series)
        self._ts.extend(repeat(timestamp, count))
        self._vals.extend(map(float, values))

    def _ref_again(self, ref: SeriesRef) -> MemSeries:
        """The live series of a ref whose series the head forgot; refuses foreign objects."""
        if type(ref) is not MemSeries:
            raise StoreError(f"not a series reference of this store: {ref!r}")
        return self._head.get_or_create(dict(ref.labels))

    def append_many(
        self, labels: Mapping[str, str], timestamps_ms: Sequence[int], values: Sequence[float]
    ) -> None:
        """Buffer a run of samples of one series (validated at :meth:`commit`, as append)."""
        count = len(timestamps_ms)
        if count != len(values):
            raise StoreError(f"{count} timestamps but {len(values)} values")
        if not count:
            return
        if isinstance(timestamps_ms, np.ndarray):
            timestamps_ms = timestamps_ms.tolist()
        if isinstance(values, np.ndarray):
            values = values.tolist()
        ts = [int(t) for t in timestamps_ms]
        if not (min(ts) >= _MIN_TIME and max(ts) <= _MAX_TIME):
            bad = next(t for t in ts if not _MIN_TIME <= t <= _MAX_TIME)
            raise StoreError(f"timestamp {bad} is outside the int64 millisecond range")
        vals = [float(v) for v in values]
        self._series.extend([self._resolve(labels)] * count)
        self._ts.extend(ts)
        self._vals.extend(vals)

    def commit(self) -> None:
        """Write the batch to the WAL, then make its valid samples visible at once."""
        series, ts, vals = self._series, self._ts, self._vals
        self._series, self._ts, self._vals = [], [], []
        generation, self._generation = self._generation, self._head.generation
        exemplars, self._exemplars = self._exemplars, []
        try:
            self._storage._commit(series, ts, vals, generation)
        except (DuplicateSampleError, OutOfOrderSampleError):
            self._add_exemplars(exemplars)  # the valid samples were stored: theirs too
            raise
        if exemplars:
            self._add_exemplars(exemplars)

    def _add_exemplars(self, exemplars: list[tuple[LabelPairs, Exemplar]]) -> None:
        # The samples are durable and visible already: an exemplar log failure (disk full) is
        # reported, not turned into a failed commit.
        try:
            self._storage.exemplars.add(exemplars)
        except StoreError as error:
            logger.error("exemplars of a commit not stored: %s", error)
            self._storage._last_error = str(error)

    def append_exemplar(self, labels: Mapping[str, str], exemplar: Exemplar) -> None:
        """Buffer an exemplar of a series (stored and logged at :meth:`commit`, after its
        samples; a repeat of the series' newest exemplar is skipped there)."""
        self._exemplars.append((label_pairs(labels), exemplar))

    def rollback(self) -> None:
        """Drop the buffered samples."""
        self._series, self._ts, self._vals = [], [], []
        self._exemplars = []
        self._generation = self._head.generation


class DiskQuerier:
    """Reads blocks and head together, as of the moment of each call."""

    def __init__(self, storage: DiskStorage) -> None:
        self._storage = storage

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
        storage = self._storage
        head = storage._head
        with head.lock:  # blocks and head as of one moment: a cut moves samples between them
            blocks = list(storage._blocks)
            gathered = head.gather(matchers, mint, maxt)
        cache = storage.chunk_cache
        with cache.scan():  # one query's chunk reads, newest first (see store/cache.py)
            in_head = head.assemble(gathered, mint, maxt, cache)
            sources = [block.pieces(matchers, mint, maxt) for block in reversed(blocks)]
        sources.reverse()
        if not any(sources):  # the head alone (a recent range, a dashboard's): nothing to join
            maps = gathered.maps
            return [Series(m, t, v) for m, (_, t, v) in zip(maps, in_head, strict=True)]
        sources.append([(labels, [t], [v]) for labels, t, v in in_head])
        # One copy of every sample, series after series (see blocks.join_series).
        # Each series' labels as the head's shared read-only dict (no dict per series per query).
        label_map = head.label_map
        return [Series(label_map(labels), t, v) for labels, t, v in join_series(sources)]

    def _matching(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> set[LabelPairs]:
        """Label sets of the matching series with samples in range, from the indexes."""
        storage = self._storage
        head = storage._head
        with head.lock:
            blocks = list(storage._blocks)
            found = set(head.matching(matchers, mint, maxt))
        for block in blocks:
            found.update(block.matching(matchers, mint, maxt))
        return found

    def label_names(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[str]:
        found = self._matching(matchers, mint, maxt)
        return sorted({name for labels in found for name, _ in labels})

    def label_values(
        self, name: str, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> list[str]:
        found = self._matching(matchers, mint, maxt)
        return sorted({value for labels in found for key, value in labels if key == name})
