"""Exemplar storage: a bounded circular buffer of exemplars per series, kept on disk too.

An exemplar is one observation a target points at (a slow request's ``trace_id``) next to a
sample. Prometheus keeps them in a fixed-size ring shared by every series
(``tsdb/exemplar.go``: ``storage.exemplars.max_exemplars``, 100,000 by default): a new exemplar
takes the slot of the oldest one, whichever series it belonged to, so memory stays bounded
whatever the targets send. This module is that ring, with Prometheus's rules:

* keyed by the series' label set; per series, exemplars are kept in the order they came;
* an exemplar equal to the newest one of its series (same labels and value, and same timestamp
  when either has one) is a no-op: a target repeats its last exemplar on every scrape, and it
  is stored once;
* an exemplar not newer than its series' newest one is refused as out of order;
* :meth:`ExemplarStorage.select` returns, per series matching any of the matcher groups, its
  exemplars in ``[start, end]``, series sorted by labels (the ``/api/v1/query_exemplars`` data).

Durability: Prometheus writes exemplars to its WAL. Here each committed batch is appended, as
one checksummed frame (``<u32 length> <u32 crc32> <JSON payload>``), to ``exemplars/log`` before
the commit returns, synced per the store's fsync policy, so an acknowledged exemplar survives
``kill -9``. A torn frame at the end (the process died mid-write) is cut away at open; a frame
whose checksum does not match is reported as corruption and skipped, never a crash. When the log
holds twice the ring's capacity it is rewritten (atomically) with the ring's content.

Example::

    >>> store = ExemplarStorage(None, max_exemplars=10)
    >>> series = (("__name__", "latency_bucket"), ("le", "0.5"))
    >>> store.add([(series, Exemplar((("trace_id", "abc"),), 0.3, 1_000, True))])
    1
    >>> store.add([(series, Exemplar((("trace_id", "abc"),), 0.3, 1_000, True))])  # repeated
    0
    >>> [(dict(s), [e.value for e in found]) for s, found in store.select([[]], 0, 2_000)]
    [({'__name__': 'latency_bucket', 'le': '0.5'}, [0.3])]
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from vigie.exceptions import CorruptionError, StorageFullError, StoreError
from vigie.store.interface import LabelPairs, Matcher, label_pairs, matching

__all__ = [
    "DEFAULT_MAX_EXEMPLARS",
    "MAX_EXEMPLAR_LABEL_RUNES",
    "Exemplar",
    "ExemplarAppender",
    "ExemplarStorage",
    "exemplar_from",
]

logger = logging.getLogger("vigie.store")

#: Prometheus's default ``storage.exemplars.max_exemplars``.
DEFAULT_MAX_EXEMPLARS = 100_000
#: OpenMetrics' limit on an exemplar's label names and values together.
MAX_EXEMPLAR_LABEL_RUNES = 128
_FRAME = struct.Struct("<II")
_LOG = "log"
_NONE = -1


class Exemplar(NamedTuple):
    """One exemplar: its labels (``trace_id``...), value and time in ms.

    ``has_timestamp`` is False when the target gave no timestamp and the scrape's time was
    used: two such exemplars with the same labels and value are the same one (as Prometheus).
    """

    labels: LabelPairs
    value: float
    timestamp_ms: int
    has_timestamp: bool = True

    def same_as(self, other: Exemplar) -> bool:
        """Prometheus's ``Exemplar.Equals``: what makes a repeated exemplar a no-op."""
        if self.labels != other.labels:
            return False
        if (self.has_timestamp or other.has_timestamp) and self.timestamp_ms != other.timestamp_ms:
            return False
        # Unlike Go's ==, NaN equals NaN here: a repeated NaN exemplar is stored once too.
        both_nan = self.value != self.value and other.value != other.value
        return self.value == other.value or both_nan


@runtime_checkable
class ExemplarAppender(Protocol):
    """An appender that also takes exemplars, stored when it commits (DiskStorage's)."""

    def append_exemplar(self, labels: Mapping[str, str], exemplar: Exemplar) -> None:
        """Buffer an exemplar of the series with these labels."""


class _Entry:
    """One ring slot: an exemplar, the series it belongs to and the next slot of that series."""

    __slots__ = ("exemplar", "next", "series")

    def __init__(self, series: _Index, exemplar: Exemplar) -> None:
        self.series = series
        self.exemplar = exemplar
        self.next = _NONE


class _Index:
    """A series' first and last slots in the ring."""

    __slots__ = ("labels", "newest", "oldest")

    def __init__(self, labels: LabelPairs, slot: int) -> None:
        self.labels = labels
        self.oldest = slot
        self.newest = slot


class ExemplarStorage:
    """The circular exemplar store; ``directory`` None keeps it in memory only.

    ``fsync`` is the store's policy (``"always"``, ``"never"`` or seconds between syncs);
    ``on_corruption`` hears about damaged frames found when opening the log.
    """

    def __init__(
        self,
        directory: str | None,
        *,
        max_exemplars: int = DEFAULT_MAX_EXEMPLARS,
        fsync: str | float = "always",
        on_corruption: Callable[[CorruptionError], None] | None = None,
    ) -> None:
        if max_exemplars < 0:
            raise ValueError(f"max_exemplars must be >= 0, got {max_exemplars}")
        self.directory = directory
        self.fsync = fsync
        self.corruptions: list[str] = []
        self._on_corruption = on_corruption
        self._lock = threading.Lock()
        self._ring: list[_Entry | None] = [None] * max_exemplars
        self._next = 0
        self._index: dict[LabelPairs, _Index] = {}
        self._fd: int | None = None
        self._logged = 0  # exemplars in the log file
        self._last_sync = time.monotonic()
        self.appended = 0
        self.out_of_order = 0
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
            self._recover()

    @property
    def max_exemplars(self) -> int:
        return len(self._ring)

    def __len__(self) -> int:
        return sum(1 for entry in self._ring if entry is not None)

    # -- writing -------------------------------------------------------------------------------

    def add(self, batch: Iterable[tuple[LabelPairs, Exemplar]]) -> int:
        """Store a commit's exemplars (durably first); returns how many were new.

        Repeats of a series' newest exemplar are skipped; out-of-order ones are counted in
        :attr:`out_of_order` and dropped, as Prometheus does (the scrape goes on).
        """
        if not self._ring:
            return 0
        with self._lock:
            accepted = self._accept(batch)
            if not accepted:
                return 0
            if self.directory is not None:
                self._log(accepted)
            for series, exemplar in accepted:
                self._insert(series, exemplar)
            self.appended += len(accepted)
        return len(accepted)

    def _accept(
        self, batch: Iterable[tuple[LabelPairs, Exemplar]]
    ) -> list[tuple[LabelPairs, Exemplar]]:
        """The exemplars of ``batch`` that the ring would take, without changing it."""
        newest: dict[LabelPairs, Exemplar] = {}
        accepted = []
        for series, exemplar in batch:
            last = newest.get(series)
            if last is None:
                index = self._index.get(series)
                if index is not None:
                    entry = self._ring[index.newest]
                    last = entry.exemplar if entry is not None else None
            if last is not None:
                if exemplar.same_as(last):
                    continue
                if exemplar.timestamp_ms <= last.timestamp_ms:
                    self.out_of_order += 1
                    continue
            newest[series] = exemplar
            accepted.append((series, exemplar))
        return accepted

    def _insert(self, series: LabelPairs, exemplar: Exemplar) -> None:
        ring = self._ring
        slot = self._next
        previous = ring[slot]
        if previous is not None:  # the ring is full: the oldest exemplar of all makes room
            owner = previous.series
            if previous.next == _NONE:
                del self._index[owner.labels]
            else:
                owner.oldest = previous.next
        index = self._index.get(series)
        if index is None:
            index = self._index[series] = _Index(series, slot)
        else:
            last = ring[index.newest]
            assert last is not None
            last.next = slot
            index.newest = slot
        ring[slot] = _Entry(index, exemplar)
        self._next = (slot + 1) % len(ring)

    def resize(self, max_exemplars: int) -> None:
        """Change the capacity, keeping the newest exemplars (a config reload)."""
        if max_exemplars < 0:
            raise ValueError(f"max_exemplars must be >= 0, got {max_exemplars}")
        with self._lock:
            if max_exemplars == len(self._ring):
                return
            kept = self._in_order()[-max_exemplars:] if max_exemplars else []
            self._ring = [None] * max_exemplars
            self._next = 0
            self._index = {}
            for series, exemplar in kept:
                self._insert(series, exemplar)
            if self.directory is not None:
                self._rewrite()

    def _in_order(self) -> list[tuple[LabelPairs, Exemplar]]:
        """Every stored exemplar, oldest first (the ring from the next slot round)."""
        ring = self._ring
        order = ring[self._next :] + ring[: self._next]
        return [(entry.series.labels, entry.exemplar) for entry in order if entry is not None]

    # -- reading -------------------------------------------------------------------------------

    def select(
        self, matcher_groups: Sequence[Sequence[Matcher]], start: int, end: int
    ) -> list[tuple[LabelPairs, list[Exemplar]]]:
        """Exemplars with ``start <= t <= end`` of the series matching any matcher group,
        series sorted by labels, each series' exemplars oldest first."""
        found = []
        with self._lock:
            ring = self._ring
            for labels, index in self._index.items():
                oldest, newest = ring[index.oldest], ring[index.newest]
                if oldest is None or newest is None:
                    continue
                if oldest.exemplar.timestamp_ms > end or newest.exemplar.timestamp_ms < start:
                    continue
                as_dict = dict(labels)
                if not any(matching(as_dict, group) for group in matcher_groups):
                    continue
                exemplars = []
                entry: _Entry | None = oldest
                while entry is not None and entry.exemplar.timestamp_ms <= end:
                    if entry.exemplar.timestamp_ms >= start:
                        exemplars.append(entry.exemplar)
                    entry = ring[entry.next] if entry.next != _NONE else None
                if exemplars:
                    found.append((labels, exemplars))
        found.sort(key=lambda item: item[0])
        return found

    # -- the log -------------------------------------------------------------------------------

    def _path(self) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, _LOG)

    def _log(self, accepted: list[tuple[LabelPairs, Exemplar]]) -> None:
        if self._logged >= 2 * max(len(self._ring), 1_000):
            self._rewrite()  # compaction: the ring's content, then this batch after it
        data = _frame(accepted)
        fd, size = -1, 0
        try:
            fd = self._open()
            size = os.fstat(fd).st_size
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write")
            if self.fsync == "always" or (
                self.fsync != "never" and time.monotonic() - self._last_sync >= float(self.fsync)
            ):
                os.fdatasync(fd)
                self._last_sync = time.monotonic()
        except OSError as error:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no partial frame: the batch is not acknowledged
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"exemplar log write failed: {error}") from error
            raise StoreError(f"exemplar log write failed: {error}") from error
        self._logged += len(accepted)

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        return self._fd

    def _rewrite(self) -> None:
        """Replace the log by the ring's content (temporary file, fsync, rename)."""
        path = self._path()
        temporary = path + ".tmp"
        content = self._in_order()
        try:
            with open(temporary, "wb") as file:
                for start in range(0, len(content), 1_000):
                    file.write(_frame(content[start : start + 1_000]))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
            _sync_directory(os.path.dirname(path))
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"exemplar log rewrite failed: {error}") from error
            raise StoreError(f"exemplar log rewrite failed: {error}") from error
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._logged = len(content)

    def _recover(self) -> None:
        """Refill the ring from the log; cut a torn tail, report and drop damaged frames."""
        path = self._path()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ".tmp")  # a rewrite the process did not finish
        if not self._ring:
            return  # exemplars are off (max_exemplars 0): the log is left as it is
        try:
            with open(path, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            return
        except OSError as error:  # unreadable: report it and start empty rather than not at all
            self._report(f"{path}: cannot be read: {error}")
            return
        offset = 0
        damaged = False
        while offset < len(data):
            end = offset + _FRAME.size
            if end > len(data):
                logger.warning("exemplar log %s: torn frame at offset %d, cut", path, offset)
                damaged = True
                break
            length, crc = _FRAME.unpack_from(data, offset)
            payload = data[end : end + length]
            if len(payload) != length:
                logger.warning("exemplar log %s: torn frame at offset %d, cut", path, offset)
                damaged = True
                break
            offset = end + length
            problem = None
            if zlib.crc32(payload) != crc:
                problem = "checksum mismatch"
            else:
                try:
                    batch = _decode(payload)
                except (ValueError, TypeError, IndexError) as error:
                    problem = f"undecodable frame: {error}"
            if problem is not None:
                self._report(f"{path}: {problem} at offset {end - _FRAME.size}; frame skipped")
                damaged = True
                continue
            for series, exemplar in self._accept(batch):
                self._insert(series, exemplar)
                self._logged += 1
        if damaged:
            self._rewrite()  # the next open reads a clean log

    def _report(self, message: str) -> None:
        logger.error("exemplar log corruption: %s", message)
        self.corruptions.append(message)
        if self._on_corruption is not None:
            self._on_corruption(CorruptionError(message))

    def close(self) -> None:
        """Sync and close the log."""
        with self._lock:
            if self._fd is not None:
                fd, self._fd = self._fd, None
                try:
                    os.fsync(fd)
                except OSError as error:
                    logger.error("exemplar log fsync at close failed: %s", error)
                finally:
                    os.close(fd)


def exemplar_from(
    labels: Mapping[str, str], value: float, timestamp_ms: int | None, scrape_time_ms: int
) -> Exemplar:
    """A store exemplar from parsed parts; the scrape's time when the target gave none."""
    return Exemplar(
        label_pairs(labels),
        float(value),
        scrape_time_ms if timestamp_ms is None else int(timestamp_ms),
        timestamp_ms is not None,
    )


def _frame(batch: Sequence[tuple[LabelPairs, Exemplar]]) -> bytes:
    rows = [
        [[list(p) for p in series], [list(p) for p in e.labels], e.value, e.timestamp_ms,
         e.has_timestamp]
        for series, e in batch
    ]  # fmt: skip
    payload = json.dumps(rows, separators=(",", ":")).encode()
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _decode(payload: bytes) -> list[tuple[LabelPairs, Exemplar]]:
    out = []
    for series, labels, value, timestamp, has_timestamp in json.loads(payload):
        out.append(
            (
                tuple((str(n), str(v)) for n, v in series),
                Exemplar(
                    tuple((str(n), str(v)) for n, v in labels),
                    float(value),
                    int(timestamp),
                    bool(has_timestamp),
                ),
            )
        )
    return out


def _sync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
