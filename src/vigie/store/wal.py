"""The write-ahead log: every committed batch is on disk before the commit returns.

Durability model (see docs/store.md):

* each commit is one ``os.write`` of framed records to the current segment *before* it returns, so
  the bytes are in the kernel and survive ``kill -9`` of the process whatever the fsync policy;
* the fsync policy decides what survives an OS crash or power loss: ``"always"`` (default) calls
  ``fdatasync`` on every commit; a number ``n`` syncs at most every ``n`` seconds (a commit that
  finds the last sync older than ``n`` syncs; close and segment rotation always sync); ``"never"``
  syncs only at rotation and close (Prometheus's own WAL behaviour).

Layout: ``wal/00000001``, ``wal/00000002``, ... segments of framed records, and at most one
``wal/checkpoint.NNNNNNNN``: the head's content when segment ``NNNNNNNN`` was closed, so every
segment up to that number can be deleted. A record is::

    <u8 type> <u32 payload length> <u32 crc32(type + payload)> <payload>

A torn record at the end of the last segment (the process died mid-write) is truncated away on
replay; a bad record elsewhere is counted as corruption, logged, and the rest of that segment is
skipped. Nothing in the log is fatal.

Example::

    >>> import tempfile
    >>> import numpy as np
    >>> wal = WAL(tempfile.mkdtemp())
    >>> wal.log([(1, (("__name__", "up"),))], np.array([1], np.uint32),
    ...         np.array([1000], np.int64), np.array([1.0]))
    >>> wal.close()
    >>> [type(record).__name__ for record in WAL(wal.directory).replay()]
    ['SeriesRecord', 'SamplesRecord']
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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from vigie.exceptions import StorageFullError, StoreError

__all__ = [
    "WAL",
    "ChunkRecord",
    "FsyncPolicy",
    "SamplesRecord",
    "SeriesRecord",
    "fsync_directory",
    "verify_file",
]

logger = logging.getLogger("vigie.store")

FsyncPolicy = Literal["always", "never"] | float

_SERIES, _SAMPLES, _CHUNK = 1, 2, 3
_FRAME = struct.Struct("<BII")
_COUNT = struct.Struct("<I")
_CHUNK_HEADER = struct.Struct("<Iqq")
_CHECKPOINT = "checkpoint."
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class SeriesRecord:
    """New series: their refs and label pairs."""

    series: list[tuple[int, tuple[tuple[str, str], ...]]]


@dataclass(frozen=True)
class SamplesRecord:
    """One committed batch of samples, as parallel arrays."""

    refs: npt.NDArray[np.uint32]
    timestamps: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]


@dataclass(frozen=True)
class ChunkRecord:
    """A checkpointed run of one series' samples, as an encoded chunk with its time bounds."""

    ref: int
    mint: int
    maxt: int
    data: bytes


Record = SeriesRecord | SamplesRecord | ChunkRecord


def fsync_directory(path: str) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame(kind: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(bytes((kind,))))
    return _FRAME.pack(kind, len(payload), crc) + payload


def _series_payload(series: Iterable[tuple[int, tuple[tuple[str, str], ...]]]) -> bytes:
    return json.dumps([[ref, list(map(list, labels))] for ref, labels in series]).encode()


def _samples_payload(
    refs: npt.NDArray[np.uint32],
    timestamps: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
) -> bytes:
    return b"".join(
        (
            _COUNT.pack(refs.size),
            refs.astype("<u4", copy=False).tobytes(),
            timestamps.astype("<i8", copy=False).tobytes(),
            values.astype("<f8", copy=False).tobytes(),
        )
    )


def _decode(kind: int, payload: bytes) -> Record:
    if kind == _SERIES:
        entries = json.loads(payload)
        return SeriesRecord(
            [(int(ref), tuple((str(n), str(v)) for n, v in labels)) for ref, labels in entries]
        )
    if kind == _SAMPLES:
        (count,) = _COUNT.unpack_from(payload)
        if len(payload) != _COUNT.size + 20 * count:
            raise ValueError(f"samples record of {len(payload)} bytes for {count} samples")
        offset = _COUNT.size
        refs = np.frombuffer(payload, "<u4", count, offset).astype(np.uint32)
        timestamps = np.frombuffer(payload, "<i8", count, offset + 4 * count).astype(np.int64)
        values = np.frombuffer(payload, "<f8", count, offset + 12 * count).astype(np.float64)
        return SamplesRecord(refs, timestamps, values)
    if kind == _CHUNK:
        ref, mint, maxt = _CHUNK_HEADER.unpack_from(payload)
        return ChunkRecord(ref, mint, maxt, payload[_CHUNK_HEADER.size :])
    raise ValueError(f"unknown record type {kind}")


def _segment_name(number: int) -> str:
    return f"{number:08d}"


class WAL:
    """Segmented write-ahead log of series and sample records (one writer at a time)."""

    def __init__(
        self,
        directory: str,
        *,
        fsync: FsyncPolicy = "always",
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        if not (fsync in ("always", "never") or (isinstance(fsync, int | float) and fsync >= 0)):
            raise ValueError(f"fsync must be 'always', 'never' or seconds >= 0, got {fsync!r}")
        self.directory = directory
        self.fsync = fsync
        self.segment_bytes = segment_bytes
        self.corruptions: list[str] = []
        os.makedirs(directory, exist_ok=True)
        self._fd: int | None = None
        self._segment = 0
        self._written = 0
        self._last_sync = time.monotonic()
        self._sync_lock = threading.Lock()
        self._sequence = 0  # writes done
        self._synced = 0  # writes known to be on disk

    # -- reading -----------------------------------------------------------------------------

    def segments(self) -> list[int]:
        """Numbers of the segment files present, oldest first."""
        return sorted(int(name) for name in os.listdir(self.directory) if name.isdigit())

    def checkpoint(self) -> tuple[int, str] | None:
        """(segment number covered, path) of the newest complete checkpoint, if any."""
        found = [
            (int(name[len(_CHECKPOINT) :]), os.path.join(self.directory, name))
            for name in os.listdir(self.directory)
            if name.startswith(_CHECKPOINT) and name[len(_CHECKPOINT) :].isdigit()
        ]
        return max(found) if found else None

    def replay(self) -> Iterator[Record]:
        """Every record of the checkpoint and the segments after it, repairing a torn tail."""
        checkpoint = self.checkpoint()
        covered = 0
        if checkpoint is not None:
            covered, path = checkpoint
            yield from self._read_file(path, last=False)
        numbers = [number for number in self.segments() if number > covered]
        for index, number in enumerate(numbers):
            path = os.path.join(self.directory, _segment_name(number))
            yield from self._read_file(path, last=index == len(numbers) - 1)

    def _read_file(self, path: str, *, last: bool) -> Iterator[Record]:
        with open(path, "rb") as file:
            data = file.read()
        offset = 0
        while offset < len(data):
            problem = None
            tail = True
            if offset + _FRAME.size > len(data):
                problem = "torn record header"
            else:
                kind, length, crc = _FRAME.unpack_from(data, offset)
                payload = data[offset + _FRAME.size : offset + _FRAME.size + length]
                if len(payload) != length:
                    problem = "torn record"
                elif zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc:
                    problem = "checksum mismatch"
                    # Only the final record can be a torn write; earlier ones are corruption.
                    tail = offset + _FRAME.size + length >= len(data)
            if problem is None:
                try:
                    record = _decode(kind, payload)
                except (ValueError, struct.error, UnicodeDecodeError) as error:
                    problem = f"undecodable record: {error}"
                    tail = False
            if problem is not None:
                self._damaged(path, offset, problem, truncate=last, torn=tail)
                return
            yield record
            offset += _FRAME.size + length

    def _damaged(self, path: str, offset: int, problem: str, *, truncate: bool, torn: bool) -> None:
        if truncate and torn:
            # The process died while writing the last record: that batch was never acknowledged.
            logger.warning(
                "WAL %s: %s at offset %d, truncating the torn tail", path, problem, offset
            )
        else:
            message = f"{path}: {problem} at offset {offset}; rest of the file skipped"
            logger.error("WAL corruption: %s", message)
            self.corruptions.append(message)
        if truncate:
            # New records go to a new segment; cut the damage so the next replay reads cleanly.
            with open(path, "r+b") as file:
                file.truncate(offset)
                os.fsync(file.fileno())

    # -- writing -----------------------------------------------------------------------------

    def _open(self) -> int:
        if self._fd is None:
            numbers = self.segments()
            checkpoint = self.checkpoint()
            floor = checkpoint[0] if checkpoint else 0
            self._segment = max([*numbers, floor]) + 1
            self._open_segment()
        assert self._fd is not None
        return self._fd

    def _open_segment(self) -> None:
        path = os.path.join(self.directory, _segment_name(self._segment))
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._written = os.fstat(self._fd).st_size
        fsync_directory(self.directory)

    def log(
        self,
        series: list[tuple[int, tuple[tuple[str, str], ...]]],
        refs: npt.NDArray[np.uint32],
        timestamps: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
        *,
        sync: bool = True,
    ) -> int:
        """Write new series and one batch of samples as a single write; returns its number.

        With ``sync`` the write is synced per the policy before returning; otherwise the caller
        does it with :meth:`sync_through` (outside its own locks, so syncs can be shared).
        """
        parts = []
        if series:
            parts.append(_frame(_SERIES, _series_payload(series)))
        if refs.size:
            parts.append(_frame(_SAMPLES, _samples_payload(refs, timestamps, values)))
        if parts:
            self._write(b"".join(parts))
            self._sequence += 1
        if sync:
            self.sync_through(self._sequence)
        return self._sequence

    def _write(self, data: bytes) -> None:
        fd = self._open()
        if self._written >= self.segment_bytes:
            self.rotate()
            fd = self._open()
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "short write")
        except OSError as error:
            # Leave no partial record behind: the batch is not acknowledged.
            try:
                os.ftruncate(fd, self._written)
            except OSError:
                logger.exception("could not truncate the WAL after a failed write")
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"WAL write failed: {error}") from error
            raise StoreError(f"WAL write failed: {error}") from error
        self._written += len(data)

    def sync_through(self, sequence: int) -> None:
        """Sync per the policy until write ``sequence`` is on disk (group commit).

        Committers that wrote while another one was syncing share its next ``fdatasync``: with
        many concurrent appenders, one sync serves them all.
        """
        if self.fsync == "never":
            return
        if self.fsync != "always" and time.monotonic() - self._last_sync < float(self.fsync):
            return
        with self._sync_lock:
            if self._synced >= sequence:
                return
            target = self._sequence  # every write counted here has completed
            if self._fd is not None:
                os.fdatasync(self._fd)
            self._synced = target
            self._last_sync = time.monotonic()

    def rotate(self) -> int:
        """Close the current segment (fsynced) and start the next; returns the closed number."""
        with self._sync_lock:
            fd = self._open()
            os.fsync(fd)
            os.close(fd)
            self._synced = self._sequence
            # If opening the next one fails (disk full), the next write retries from scratch.
            self._fd = None
            closed = self._segment
            self._segment += 1
            self._open_segment()
        return closed

    def write_checkpoint(
        self,
        covered: int,
        series: Iterable[tuple[int, tuple[tuple[str, str], ...]]],
        chunks: Iterable[tuple[int, int, int, bytes]],
    ) -> None:
        """Atomically replace segments ``<= covered`` by a checkpoint of the head's content."""
        final = os.path.join(self.directory, f"{_CHECKPOINT}{covered:08d}")
        temporary = final + ".tmp"
        try:
            with open(temporary, "wb") as file:
                file.write(_frame(_SERIES, _series_payload(series)))
                for ref, mint, maxt, data in chunks:
                    file.write(_frame(_CHUNK, _CHUNK_HEADER.pack(ref, mint, maxt) + data))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, final)
            fsync_directory(self.directory)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFullError(f"WAL checkpoint failed: {error}") from error
            raise StoreError(f"WAL checkpoint failed: {error}") from error
        for name in os.listdir(self.directory):
            old = name.startswith(_CHECKPOINT) and name != os.path.basename(final)
            if (name.isdigit() and int(name) <= covered) or old:
                os.unlink(os.path.join(self.directory, name))

    def size(self) -> int:
        """Bytes of every file in the log directory."""
        total = 0
        for name in os.listdir(self.directory):
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(self.directory, name)).st_size
        return total

    def sync(self) -> None:
        """fsync the current segment now."""
        with self._sync_lock:
            if self._fd is not None:
                os.fsync(self._fd)
            self._synced = self._sequence
            self._last_sync = time.monotonic()

    def close(self) -> None:
        """fsync and close the current segment (a failing sync is logged, not raised)."""
        with self._sync_lock:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            try:
                os.fsync(fd)
                self._synced = self._sequence
            except OSError as error:
                logger.error("WAL fsync at close failed: %s", error)
            finally:
                os.close(fd)


def verify_file(path: str, *, live: bool = False) -> list[str]:
    """Problems found by reading every record of one WAL file (without repairing).

    ``live``: the segment being written; its last record may be mid-write, not torn.
    """
    problems: list[str] = []
    with open(path, "rb") as file:
        data = file.read()
    offset = 0
    while offset < len(data):
        if offset + _FRAME.size > len(data):
            if not live:
                problems.append(f"{path}: torn record header at offset {offset}")
            break
        kind, length, crc = _FRAME.unpack_from(data, offset)
        payload = data[offset + _FRAME.size : offset + _FRAME.size + length]
        end = offset + _FRAME.size + length
        if len(payload) != length:
            if not live:
                problems.append(f"{path}: torn record at offset {offset}")
            break
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc and not (
            live and end >= len(data)
        ):
            problems.append(f"{path}: checksum mismatch at offset {offset}")
        offset = end
    return problems
