"""Persisted blocks: write, read, index-only range checks, checksum verification."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vigie.exceptions import CorruptionError
from vigie.store.blocks import Block, BlockWriter, join_series
from vigie.store.interface import Matcher

HOUR = 3_600_000


def _write(root: Path, mint: int, series: dict[str, list[int]], **kwargs: object) -> Block:
    writer = BlockWriter(str(root), mint=mint, maxt=mint + 2 * HOUR, **kwargs)  # type: ignore[arg-type]
    for name in sorted(series):
        stamps = np.array(series[name], dtype=np.int64)
        writer.add((("__name__", name),), stamps, stamps.astype(np.float64) / 1000)
    return Block(writer.finish())


def test_block_round_trip(tmp_path: Path) -> None:
    """Series written to a block come back with their labels, samples and postings."""
    block = _write(tmp_path, 0, {"a": list(range(0, 7_200_000, 15_000)), "b": [5, 10]})
    assert block.meta.series == 2
    assert block.meta.samples == 482
    [(labels, t, v)] = list(block.select([Matcher("__name__", "=", "b")], 0, 10**9))
    assert labels == (("__name__", "b"),)
    assert t.tolist() == [5, 10]
    assert v.tolist() == [0.005, 0.01]
    [(_, t, _)] = list(block.select([Matcher("__name__", "=", "a")], 15_000, 45_000))
    assert t.tolist() == [15_000, 30_000, 45_000]
    assert block.verify() == []


def test_series_must_come_in_label_order(tmp_path: Path) -> None:
    """The writer refuses series out of label order (the index relies on it)."""
    writer = BlockWriter(str(tmp_path), mint=0, maxt=HOUR)
    writer.add((("__name__", "b"),), np.array([1]), np.array([1.0]))
    with pytest.raises(ValueError, match="out of label order"):
        writer.add((("__name__", "a"),), np.array([1]), np.array([1.0]))
    writer.abort()
    assert os.listdir(tmp_path) == []


def test_flipped_chunk_byte_is_detected_and_other_series_stay_readable(tmp_path: Path) -> None:
    """A corrupted chunk is reported by checksum and skipped; every other chunk is served."""
    block = _write(tmp_path, 0, {"a": [1, 2, 3], "b": [4, 5, 6]})
    chunk_path = Path(block.path) / "chunks"
    offset_of_a = int(block.chunk_offset[0])
    block.close()
    data = bytearray(chunk_path.read_bytes())
    data[offset_of_a + 12] ^= 0x01
    chunk_path.write_bytes(bytes(data))
    reported: list[CorruptionError] = []
    reopened = Block(block.path, on_corruption=reported.append)
    result = {labels[0][1]: t.tolist() for labels, t, _ in reopened.select([], 0, 100)}
    assert result == {"b": [4, 5, 6]}
    assert len(reported) == 1
    assert reported[0].path == str(chunk_path)
    assert "checksum mismatch" in str(reported[0])
    [problem] = reopened.verify()
    assert "checksum mismatch" in problem


def test_corrupted_index_refuses_to_open(tmp_path: Path) -> None:
    """An index whose checksum fails raises CorruptionError naming the file."""
    block = _write(tmp_path, 0, {"a": [1]})
    index = Path(block.path) / "index"
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF
    index.write_bytes(bytes(data))
    with pytest.raises(CorruptionError, match="index checksum mismatch") as caught:
        Block(block.path)
    assert caught.value.path == str(index)


def test_has_samples_answers_from_chunk_bounds_and_gaps(tmp_path: Path) -> None:
    """Index-only range checks agree with the samples, including a gap inside one chunk."""
    block = _write(tmp_path, 0, {"a": [10, 1_000], "b": [500]})
    assert [labels[0][1] for labels in block.matching([], 100, 900)] == ["b"]
    assert [labels[0][1] for labels in block.matching([], 0, 10)] == ["a"]
    assert not block.has_samples(0, 11, 999)


def test_pieces_are_trimmed_chunks_and_select_joins_them(tmp_path: Path) -> None:
    """A series read across chunks keeps only the range; its chunks are joined in one array."""
    stamps = list(range(0, 100 * 1_000, 1_000))
    block = _write(tmp_path, 0, {"a": stamps, "b": stamps}, chunk_samples=30)
    [(labels, times, values)] = block.pieces([Matcher("__name__", "=", "a")], 25_000, 64_500)
    assert labels == (("__name__", "a"),)
    assert [t.tolist()[:1] + t.tolist()[-1:] for t in times] == [
        [25_000, 29_000],
        [30_000, 59_000],
        [60_000, 64_000],
    ]
    assert [v[0] for v in values] == [25.0, 30.0, 60.0]
    selected = list(block.select([], 25_000, 64_500))
    assert [t.tolist() for _, t, _ in selected] == [stamps[25:65]] * 2
    assert selected[0][1].base is selected[1][1].base  # one buffer for all series


def test_join_series_puts_sources_end_to_end_and_repairs_overlaps() -> None:
    """Disjoint sources are concatenated per series; an overlap is sorted, first source wins."""
    a, b = (("__name__", "a"),), (("__name__", "b"),)

    def run(t: list[int], v: list[float]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [np.array(t, dtype=np.int64)], [np.array(v)]

    old = [(a, *run([1, 2], [1.0, 2.0])), (b, *run([1], [10.0]))]
    new = [(a, *run([2, 3], [20.0, 3.0]))]
    joined = join_series([old, new])
    assert [(labels, t.tolist(), v.tolist()) for labels, t, v in joined] == [
        (a, [1, 2, 3], [1.0, 2.0, 3.0]),
        (b, [1], [10.0]),
    ]
    assert join_series([[], []]) == []
