"""Persisted blocks: an immutable time range of every series, with its own index and chunk file.

A block directory holds::

    meta.json   {"version": 1, "id", "mint", "maxt", "series", "samples", "chunks", "level",
                 "sources"}        time range [mint, maxt) (maxt exclusive), compaction level,
                                   ids of the blocks it replaced
    chunks      framed, CRC32-checked chunks (see chunks.py)
    index       b"VGINDEX1" <u32 crc32(body)> body; body is <u32 n> JSON {symbols, series,
                chunks} then four little-endian arrays of n entries: chunk series number
                (int32), chunk mint, chunk maxt, chunk offset (int64)

Series are stored sorted by labels, so a block's series numbers are already in output order.
Blocks are written to ``<id>.tmp`` and renamed into place once every file is fsynced: a block
directory without the ``.tmp`` suffix is always complete.

Reading never crashes on a bad chunk: the error is reported through ``on_corruption`` and the
chunk is skipped; every other chunk stays readable.

Example::

    >>> import tempfile, numpy as np
    >>> root = tempfile.mkdtemp()
    >>> writer = BlockWriter(root, mint=0, maxt=7_200_000)
    >>> writer.add((("__name__", "up"),), np.array([1_000]), np.array([1.0]))
    >>> block = Block(writer.finish())
    >>> [labels for labels, _, _ in block.select([], 0, 2_000)]
    [(('__name__', 'up'),)]
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import numpy.typing as npt

from vigie.exceptions import CorruptionError
from vigie.store.cache import ChunkCache
from vigie.store.chunks import ChunkReader, ChunkWriter
from vigie.store.encoding import chunk_count, decode_chunk, decode_chunks, encode_chunk
from vigie.store.index import Postings
from vigie.store.interface import LabelPairs, Matcher
from vigie.store.wal import fsync_directory

__all__ = [
    "BLOCK_CHUNK_SAMPLES",
    "Block",
    "BlockMeta",
    "BlockWriter",
    "Pieces",
    "SeriesSamples",
    "directory_size",
    "join_series",
]

logger = logging.getLogger("vigie.store")

#: Samples per chunk in a block: larger chunks compress better, smaller ones decode less.
BLOCK_CHUNK_SAMPLES = 1440
#: Chunks decoded together at most: bounds the decoder's temporary matrices.
_DECODE_BATCH = 256
_INDEX_MAGIC = b"VGINDEX1"
_U32 = struct.Struct("<I")

Int64Array = npt.NDArray[np.int64]
Float64Array = npt.NDArray[np.float64]


def directory_size(path: str) -> int:
    """Bytes of the files directly inside ``path``."""
    total = 0
    for entry in os.scandir(path):
        if entry.is_file():
            total += entry.stat().st_size
    return total


#: One series of one source's answer to a select: its labels and its samples as consecutive
#: runs (a block's chunks, the head's arrays), timestamps and values.
Pieces = tuple[LabelPairs, list[Int64Array], list[Float64Array]]
#: One series with its samples.
SeriesSamples = tuple[LabelPairs, Int64Array, Float64Array]


def join_series(sources: Sequence[Sequence[Pieces]]) -> list[SeriesSamples]:
    """The answers of several sources (blocks oldest first, then the head) as one, in label order.

    Why this shape: a query over a day reads every series from one or more blocks, each series
    made of several chunks. Every run is copied once, series after series, into one buffer, and
    each series is a slice of it: one copy of the samples whatever the number of blocks and
    chunks, and the query engine finds the series back to back (:func:`vigie.query.values.join`
    then copies nothing more). Sources cover disjoint times, so a series' runs are put end to
    end; a series whose runs overlap (blocks left overlapping by a crash) is sorted and
    de-duplicated, the earlier source's sample kept. When every series is a single run already
    (a short range inside one chunk, or the head alone), the runs are returned as they are.
    Chunk arrays from the cache are read-only, so a caller never writes into a result.

    Example::

        >>> import numpy as np
        >>> old = [((("__name__", "x"),), [np.array([1, 2])], [np.array([1.0, 2.0])])]
        >>> new = [((("__name__", "x"),), [np.array([3])], [np.array([3.0])]),
        ...        ((("__name__", "y"),), [np.array([3])], [np.array([9.0])])]
        >>> [(labels, t.tolist()) for labels, t, _ in join_series([old, new])]
        [((('__name__', 'x'),), [1, 2, 3]), ((('__name__', 'y'),), [3])]
    """
    sources = [source for source in sources if source]
    if len(sources) == 1:
        ordered: Sequence[Pieces] = sources[0]
        if all(len(times) == 1 for _, times, _ in ordered):  # nothing to join: no copy
            return [(labels, times[0], values[0]) for labels, times, values in ordered]
    else:
        merged: dict[LabelPairs, Pieces] = {}
        for source in sources:
            for labels, times, values in source:
                found = merged.get(labels)
                if found is None:
                    merged[labels] = (labels, list(times), list(values))
                else:
                    found[1].extend(times)
                    found[2].extend(values)
        ordered = [merged[labels] for labels in sorted(merged)]
    all_times = [t for _, times, _ in ordered for t in times]
    if not all_times:
        return []
    all_t = np.concatenate(all_times)
    all_v = np.concatenate([v for _, _, values in ordered for v in values])
    result: list[SeriesSamples] = []
    position = 0
    for labels, times, _ in ordered:
        end = position + sum(len(t) for t in times)
        t, v = all_t[position:end], all_v[position:end]
        position = end
        if len(times) > 1 and any(a[-1] >= b[0] for a, b in pairwise(times)):
            order = np.argsort(t, kind="stable")
            t, v = t[order], v[order]
            keep = np.concatenate(([True], np.diff(t) > 0))
            t, v = t[keep], v[keep]
        result.append((labels, t, v))
    return result


@dataclass(frozen=True)
class BlockMeta:
    """What ``meta.json`` says about a block."""

    id: str
    mint: int
    maxt: int
    series: int
    samples: int
    chunks: int
    level: int
    sources: tuple[str, ...]

    @classmethod
    def load(cls, path: str) -> BlockMeta:
        try:
            with open(os.path.join(path, "meta.json"), encoding="utf-8") as file:
                raw = json.load(file)
            return cls(
                id=str(raw["id"]),
                mint=int(raw["mint"]),
                maxt=int(raw["maxt"]),
                series=int(raw["series"]),
                samples=int(raw["samples"]),
                chunks=int(raw["chunks"]),
                level=int(raw["level"]),
                sources=tuple(str(s) for s in raw["sources"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CorruptionError(f"unreadable meta.json: {error}", path=path) from error


def _write_file(path: str, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


class BlockWriter:
    """Writes one block from series given in label order; :meth:`finish` publishes it."""

    def __init__(
        self,
        root: str,
        *,
        mint: int,
        maxt: int,
        level: int = 1,
        sources: Sequence[str] = (),
        chunk_samples: int = BLOCK_CHUNK_SAMPLES,
    ) -> None:
        self.id = f"{mint:015d}-{uuid.uuid4().hex[:12]}"
        self.root = root
        self.mint, self.maxt, self.level = mint, maxt, level
        self.sources = tuple(sources) or (self.id,)
        self.chunk_samples = chunk_samples
        self.final = os.path.join(root, self.id)
        self.temporary = self.final + ".tmp"
        os.makedirs(self.temporary)
        self._chunks = ChunkWriter(os.path.join(self.temporary, "chunks"))
        self._symbols: dict[str, int] = {}
        self._series: list[list[int]] = []
        self._chunk_series: list[int] = []
        self._chunk_mint: list[int] = []
        self._chunk_maxt: list[int] = []
        self._chunk_offset: list[int] = []
        self._samples = 0
        self._last: LabelPairs | None = None

    def _symbol(self, text: str) -> int:
        number = self._symbols.get(text)
        if number is None:
            number = self._symbols[text] = len(self._symbols)
        return number

    def add(self, labels: LabelPairs, timestamps: Int64Array, values: Float64Array) -> None:
        """Add one series' samples (sorted by time); series must come in label order."""
        chunks = []
        for start in range(0, timestamps.size, self.chunk_samples):
            t = timestamps[start : start + self.chunk_samples]
            v = values[start : start + self.chunk_samples]
            chunks.append((int(t[0]), int(t[-1]), encode_chunk(t, v)))
        self.add_encoded(labels, chunks)

    def add_encoded(self, labels: LabelPairs, chunks: Sequence[tuple[int, int, bytes]]) -> None:
        """Add one series as already encoded ``(mint, maxt, chunk)`` runs, oldest first."""
        if not chunks:
            return
        if self._last is not None and labels <= self._last:
            raise ValueError(f"series added out of label order: {labels} after {self._last}")
        self._last = labels
        number = len(self._series)
        self._series.append([self._symbol(part) for pair in labels for part in pair])
        for mint, maxt, data in chunks:
            self._chunk_offset.append(self._chunks.write(data))
            self._chunk_series.append(number)
            self._chunk_mint.append(mint)
            self._chunk_maxt.append(maxt)
            self._samples += chunk_count(data)

    @property
    def empty(self) -> bool:
        """Whether no series was added."""
        return not self._series

    def finish(self) -> str:
        """Write index and meta, fsync, rename into place; returns the block's directory."""
        self._chunks.close()
        symbols = sorted(self._symbols, key=self._symbols.__getitem__)
        header = json.dumps(
            {"symbols": symbols, "series": self._series, "chunks": len(self._chunk_offset)}
        ).encode()
        body = b"".join(
            (
                _U32.pack(len(header)),
                header,
                np.array(self._chunk_series, dtype="<i4").tobytes(),
                np.array(self._chunk_mint, dtype="<i8").tobytes(),
                np.array(self._chunk_maxt, dtype="<i8").tobytes(),
                np.array(self._chunk_offset, dtype="<i8").tobytes(),
            )
        )
        _write_file(
            os.path.join(self.temporary, "index"),
            _INDEX_MAGIC + _U32.pack(zlib.crc32(body)) + body,
        )
        meta = {
            "version": 1,
            "id": self.id,
            "mint": self.mint,
            "maxt": self.maxt,
            "series": len(self._series),
            "samples": self._samples,
            "chunks": len(self._chunk_offset),
            "level": self.level,
            "sources": list(self.sources),
        }
        _write_file(os.path.join(self.temporary, "meta.json"), json.dumps(meta, indent=1).encode())
        fsync_directory(self.temporary)
        os.replace(self.temporary, self.final)
        fsync_directory(self.root)
        return self.final

    def abort(self) -> None:
        """Remove the partial block."""
        self._chunks.close()
        shutil.rmtree(self.temporary, ignore_errors=True)


class Block:
    """A persisted block opened for reading: meta, series labels, postings and chunk file."""

    def __init__(
        self,
        path: str,
        *,
        on_corruption: Callable[[CorruptionError], None] | None = None,
        cache: ChunkCache | None = None,
    ) -> None:
        self.path = path
        self.meta = BlockMeta.load(path)
        self.on_corruption = on_corruption
        self.cache = cache
        index_path = os.path.join(path, "index")
        try:
            with open(index_path, "rb") as file:
                data = file.read()
        except OSError as error:
            raise CorruptionError(f"unreadable index: {error}", path=index_path) from error
        if data[: len(_INDEX_MAGIC)] != _INDEX_MAGIC or len(data) < len(_INDEX_MAGIC) + 4:
            raise CorruptionError("not a block index (bad magic)", path=index_path)
        (crc,) = _U32.unpack_from(data, len(_INDEX_MAGIC))
        body = memoryview(data)[len(_INDEX_MAGIC) + 4 :]
        if zlib.crc32(body) != crc:
            raise CorruptionError("index checksum mismatch", path=index_path)
        (header_length,) = _U32.unpack_from(body)
        header = json.loads(bytes(body[4 : 4 + header_length]))
        symbols: list[str] = header["symbols"]
        count = int(header["chunks"])
        offset = 4 + header_length
        arrays = []
        for dtype in ("<i4", "<i8", "<i8", "<i8"):
            array = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
            arrays.append(array.astype(np.int64))
            offset += array.nbytes
        self.chunk_series, self.chunk_mint, self.chunk_maxt, self.chunk_offset = arrays
        # Python ints for the per-chunk range checks: indexing numpy per element is slow.
        self._mints: list[int] = self.chunk_mint.tolist()
        self._maxts: list[int] = self.chunk_maxt.tolist()
        self._offsets: list[int] = self.chunk_offset.tolist()
        self.labels: list[LabelPairs] = []
        for numbers in header["series"]:
            parts = [symbols[n] for n in numbers]
            self.labels.append(tuple(zip(parts[0::2], parts[1::2], strict=True)))
        self.postings = Postings.build(enumerate(self.labels))
        # chunk_series is sorted: the chunks of series i are chunk_start[i]:chunk_start[i+1].
        self.chunk_start = np.searchsorted(self.chunk_series, np.arange(len(self.labels) + 1))
        self.chunks = ChunkReader(os.path.join(path, "chunks"))

    @property
    def id(self) -> str:
        return self.meta.id

    def size(self) -> int:
        """Bytes on disk."""
        return directory_size(self.path)

    def _report(self, error: CorruptionError) -> None:
        logger.error("corrupted chunk skipped: %s", error)
        if self.on_corruption is not None:
            self.on_corruption(error)

    def series_samples(
        self, number: int, mint: int, maxt: int, *, cached: bool = True
    ) -> tuple[Int64Array, Float64Array]:
        """Samples of series ``number`` in ``[mint, maxt]``; corrupted chunks are skipped.

        ``cached=False`` bypasses the chunk cache (compaction reads each chunk once).
        """
        low, high = int(self.chunk_start[number]), int(self.chunk_start[number + 1])
        parts_t: list[Int64Array] = []
        parts_v: list[Float64Array] = []
        chunk_mint, chunk_maxt = self._mints, self._maxts
        for i in range(low, high):
            if chunk_maxt[i] < mint or chunk_mint[i] > maxt:
                continue
            found = self._chunk(i, cached=cached)
            if found is None:
                continue
            t, v = found
            parts_t.append(t)
            parts_v.append(v)
        if not parts_t:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        t = np.concatenate(parts_t) if len(parts_t) > 1 else parts_t[0]
        v = np.concatenate(parts_v) if len(parts_v) > 1 else parts_v[0]
        if t[0] < mint or t[-1] > maxt:
            low_i = int(np.searchsorted(t, mint, side="left"))
            high_i = int(np.searchsorted(t, maxt, side="right"))
            t, v = t[low_i:high_i], v[low_i:high_i]
        return t, v

    def _chunk(self, i: int, *, cached: bool = True) -> tuple[Int64Array, Float64Array] | None:
        """Chunk ``i`` decoded (through the cache); None, reported, when it is corrupted."""
        cache = self.cache if cached else None
        key = (self.meta.id, i)
        if cache is not None:
            found = cache.get(key)
            if found is not None:
                return found
        try:
            t, v = decode_chunk(self.chunks.read(int(self.chunk_offset[i])))
        except CorruptionError as error:
            if error.path is None:
                error = CorruptionError(f"chunk {i}: {error}", path=self.chunks.path)
            self._report(error)
            return None
        if cache is not None:
            cache.put(key, t, v)
        return t, v

    def _chunks_decoded(self, wanted: list[int]) -> list[tuple[Int64Array, Float64Array] | None]:
        """Chunks ``wanted`` decoded, through the cache, the misses together
        (:func:`~vigie.store.encoding.decode_chunks`); None, reported, for a corrupted one."""
        cache = self.cache
        found: list[tuple[Int64Array, Float64Array] | None] = [None] * len(wanted)
        missing: list[int] = []
        for position, i in enumerate(wanted):
            if cache is not None:
                hit = cache.get((self.meta.id, i))
                if hit is not None:
                    found[position] = hit
                    continue
            missing.append(position)
        for begin in range(0, len(missing), _DECODE_BATCH):
            batch = missing[begin : begin + _DECODE_BATCH]
            data: list[bytes | memoryview] = []
            readable: list[int] = []
            for position in batch:
                i = wanted[position]
                try:
                    data.append(self.chunks.read(self._offsets[i]))
                except CorruptionError as error:
                    self._report(error)
                    continue
                readable.append(position)
            for position, decoded in zip(readable, decode_chunks(data), strict=True):
                i = wanted[position]
                if isinstance(decoded, CorruptionError):
                    self._report(CorruptionError(f"chunk {i}: {decoded}", path=self.chunks.path))
                    continue
                if cache is not None:
                    cache.put((self.meta.id, i), *decoded)
                found[position] = decoded
        return found

    def has_samples(self, number: int, mint: int, maxt: int) -> bool:
        """Whether series ``number`` has a sample in ``[mint, maxt]``, mostly from the index.

        A chunk's mint and maxt are real sample times, so only a chunk spanning the whole range
        needs decoding.
        """
        for i in range(int(self.chunk_start[number]), int(self.chunk_start[number + 1])):
            low, high = int(self.chunk_mint[i]), int(self.chunk_maxt[i])
            if high < mint or low > maxt:
                continue
            if low >= mint or high <= maxt:
                return True
            t, _ = self.series_samples(number, mint, maxt)
            return bool(t.size)
        return False

    def matching(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> Iterator[LabelPairs]:
        """Labels of the matching series with a sample in ``[mint, maxt]``, without decoding."""
        if maxt < self.meta.mint or mint >= self.meta.maxt:
            return
        for number in self.postings.select(matchers).tolist():
            if self.has_samples(number, mint, maxt):
                yield self.labels[number]

    def pieces(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Pieces]:
        """Matching series with samples in ``[mint, maxt]``, in label order, each as the decoded
        arrays of its chunks, trimmed to the range but not joined (see :func:`join_series`).

        The wanted chunks are found with one mask over the chunk index and decoded (or taken from
        the cache); only a chunk reaching past ``mint`` or ``maxt`` is searched for its bounds.
        """
        if maxt < self.meta.mint or mint >= self.meta.maxt:
            return []
        numbers = self.postings.select(matchers)
        if numbers.size == 0:
            return []
        chosen = np.zeros(len(self.labels), dtype=bool)
        chosen[numbers] = True
        wanted = np.flatnonzero(
            chosen[self.chunk_series] & (self.chunk_maxt >= mint) & (self.chunk_mint <= maxt)
        )
        found: list[Pieces] = []
        labels = self.labels
        chunk_mint, chunk_maxt = self._mints, self._maxts
        current = -1
        parts_t: list[Int64Array] = []
        parts_v: list[Float64Array] = []
        indices = wanted.tolist()
        with self.cache.scan() if self.cache is not None else nullcontext():
            chunks = self._chunks_decoded(indices)
            for i, owner, decoded in zip(
                indices, self.chunk_series[wanted].tolist(), chunks, strict=True
            ):
                if decoded is None:  # a corrupted chunk is reported and skipped
                    continue
                t, v = decoded
                if chunk_mint[i] < mint:
                    low = int(np.searchsorted(t, mint, side="left"))
                    t, v = t[low:], v[low:]
                if chunk_maxt[i] > maxt:
                    high = int(np.searchsorted(t, maxt, side="right"))
                    t, v = t[:high], v[:high]
                if not t.size:
                    continue
                if owner != current:
                    current = owner
                    parts_t, parts_v = [], []
                    found.append((labels[owner], parts_t, parts_v))
                parts_t.append(t)
                parts_v.append(v)
        return found

    def select(
        self, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> Iterator[tuple[LabelPairs, Int64Array, Float64Array]]:
        """Matching series with samples in ``[mint, maxt]``, in label order (see
        :func:`join_series`)."""
        yield from join_series([self.pieces(matchers, mint, maxt)])

    def verify(self) -> list[str]:
        """Every checksum problem in the chunk file, plus chunks that do not decode."""
        problems = self.chunks.verify()
        if problems:
            return problems
        for i, offset in enumerate(self.chunk_offset.tolist()):
            try:
                decode_chunk(self.chunks.read(offset))
            except CorruptionError as error:
                problems.append(f"{self.chunks.path}: chunk {i}: {error}")
        return problems

    def close(self) -> None:
        self.chunks.close()
