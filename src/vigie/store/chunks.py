"""Chunk files: immutable encoded chunks, each framed with its length and a CRC32.

A block keeps all its chunks in one file. A chunk is addressed by its byte offset; reading it
checks the CRC32, so a flipped bit on disk is reported as :class:`~vigie.exceptions.CorruptionError`
naming the file and offset instead of decoding to wrong numbers or crashing.

Layout::

    b"VGCHUNK1"                        8-byte magic
    repeated: <u32 length> <u32 crc32(data)> <data: an encode_chunk() payload>

Example::

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "chunks")
    >>> with ChunkWriter(path) as writer:
    ...     offset = writer.write(b"payload")
    >>> with ChunkReader(path) as reader:
    ...     bytes(reader.read(offset))
    b'payload'
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from types import TracebackType

from vigie.exceptions import CorruptionError

__all__ = ["MAGIC", "ChunkReader", "ChunkWriter"]

MAGIC = b"VGCHUNK1"
_FRAME = struct.Struct("<II")


class ChunkWriter:
    """Appends framed chunks to a new file; :meth:`close` fsyncs it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._file.write(MAGIC)
        self._offset = len(MAGIC)

    def write(self, data: bytes) -> int:
        """Append one chunk; returns its offset."""
        offset = self._offset
        self._file.write(_FRAME.pack(len(data), zlib.crc32(data)))
        self._file.write(data)
        self._offset += _FRAME.size + len(data)
        return offset

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._offset

    def close(self) -> None:
        """Flush and fsync the file."""
        if self._file.closed:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ChunkReader:
    """Reads chunks from a file through ``mmap``, verifying each CRC32 on read."""

    def __init__(self, path: str) -> None:
        self.path = path
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size < len(MAGIC):
                raise CorruptionError("chunk file is truncated", path=path)
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = memoryview(self._map)
        if self._view[: len(MAGIC)] != MAGIC:
            self.close()
            raise CorruptionError("not a chunk file (bad magic)", path=path)

    @property
    def size(self) -> int:
        """Size of the file in bytes."""
        return len(self._view)

    def read(self, offset: int) -> memoryview:
        """The chunk at ``offset``; raises CorruptionError when its checksum does not match."""
        view = self._view
        if offset < len(MAGIC) or offset + _FRAME.size > len(view):
            raise CorruptionError(f"chunk offset {offset} outside the file", path=self.path)
        length, crc = _FRAME.unpack_from(view, offset)
        start = offset + _FRAME.size
        data = view[start : start + length]
        if len(data) != length or zlib.crc32(data) != crc:
            raise CorruptionError(f"checksum mismatch in chunk at offset {offset}", path=self.path)
        return data

    def verify(self) -> list[str]:
        """Walk every frame; returns one message per problem found (empty when intact)."""
        problems: list[str] = []
        offset = len(MAGIC)
        view = self._view
        while offset < len(view):
            if offset + _FRAME.size > len(view):
                problems.append(f"{self.path}: truncated frame at offset {offset}")
                break
            length, _ = _FRAME.unpack_from(view, offset)
            try:
                self.read(offset)
            except CorruptionError as error:
                problems.append(str(error))
            offset += _FRAME.size + length
        return problems

    def close(self) -> None:
        """Release the mapping."""
        try:
            self._view.release()
            self._map.close()
        except BufferError:
            # A decoded array may still reference the map; the OS frees it with the process.
            pass

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
