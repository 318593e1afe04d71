"""Chunk files: framed chunks come back by offset; any damage is a CorruptionError."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.exceptions import CorruptionError
from vigie.store.chunks import MAGIC, ChunkReader, ChunkWriter


def _file(tmp_path: Path, payloads: list[bytes]) -> tuple[Path, list[int]]:
    path = tmp_path / "chunks"
    with ChunkWriter(str(path)) as writer:
        offsets = [writer.write(payload) for payload in payloads]
    return path, offsets


def test_chunks_read_back_by_offset(tmp_path: Path) -> None:
    """Each chunk is returned byte for byte from its offset; the file starts with the magic."""
    path, offsets = _file(tmp_path, [b"first", b"", b"third" * 100])
    assert path.read_bytes().startswith(MAGIC)
    with ChunkReader(str(path)) as reader:
        assert [bytes(reader.read(offset)) for offset in offsets] == [b"first", b"", b"third" * 100]
        assert reader.verify() == []


def test_flipped_byte_fails_only_its_chunk(tmp_path: Path) -> None:
    """A bit flip in one chunk raises on that chunk; its neighbours still read."""
    path, offsets = _file(tmp_path, [b"a" * 50, b"b" * 50])
    data = bytearray(path.read_bytes())
    data[offsets[0] + 8 + 10] ^= 0x01
    path.write_bytes(bytes(data))
    with ChunkReader(str(path)) as reader:
        with pytest.raises(
            CorruptionError, match="checksum mismatch in chunk at offset 8"
        ) as caught:
            reader.read(offsets[0])
        assert caught.value.path == str(path)
        assert bytes(reader.read(offsets[1])) == b"b" * 50
        assert len(reader.verify()) == 1


def test_truncated_file_and_bad_offsets_are_reported(tmp_path: Path) -> None:
    """A cut-off last chunk and an offset outside the file are corruption, not crashes."""
    path, offsets = _file(tmp_path, [b"a" * 50, b"b" * 50])
    path.write_bytes(path.read_bytes()[:-10])
    with ChunkReader(str(path)) as reader:
        with pytest.raises(CorruptionError):
            reader.read(offsets[1])
        with pytest.raises(CorruptionError, match="outside the file"):
            reader.read(10_000)
        assert reader.verify() != []


def test_not_a_chunk_file(tmp_path: Path) -> None:
    """A file without the magic is refused when opened."""
    path = tmp_path / "chunks"
    path.write_bytes(b"something else entirely")
    with pytest.raises(CorruptionError, match="bad magic"):
        ChunkReader(str(path))
