"""Compaction and retention: which blocks merge, what a merge holds, which blocks go."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigie.store.blocks import Block, BlockWriter
from vigie.store.compaction import merge, plan, retention

HOUR = 3_600_000


def _write(root: Path, mint: int, series: dict[str, list[int]]) -> Block:
    writer = BlockWriter(str(root), mint=mint, maxt=mint + 2 * HOUR)
    for name in sorted(series):
        stamps = np.array(series[name], dtype=np.int64)
        writer.add((("__name__", name),), stamps, stamps.astype(np.float64) / 1000)
    return Block(writer.finish())


def test_plan_merges_completed_windows_only(tmp_path: Path) -> None:
    """Three 2 h blocks of a finished 6 h window are merged; an unfinished window waits."""
    blocks = [_write(tmp_path, i * 2 * HOUR, {"a": [i * 2 * HOUR + 1]}) for i in range(4)]
    metas = [b.meta for b in blocks]
    ranges = (2 * HOUR, 6 * HOUR)
    assert plan(metas, ranges=ranges, persisted_until=5 * HOUR) == []
    due = plan(metas, ranges=ranges, persisted_until=8 * HOUR)
    assert [m.mint for m in due] == [0, 2 * HOUR, 4 * HOUR]


def test_merge_combines_series_across_blocks(tmp_path: Path) -> None:
    """A merged block holds every series' samples from all sources, in time order."""
    first = _write(tmp_path, 0, {"a": [1, 2], "b": [3]})
    second = _write(tmp_path, 2 * HOUR, {"a": [2 * HOUR + 1], "c": [2 * HOUR + 2]})
    merged = Block(merge(str(tmp_path), [second, first], mint=0, maxt=6 * HOUR))
    got = {labels[0][1]: t.tolist() for labels, t, _ in merged.select([], 0, 10 * HOUR)}
    assert got == {"a": [1, 2, 2 * HOUR + 1], "b": [3], "c": [2 * HOUR + 2]}
    assert merged.meta.level == 2
    assert set(merged.meta.sources) >= {first.id, second.id}
    assert merged.verify() == []


def test_retention_by_time_and_size(tmp_path: Path) -> None:
    """Blocks older than the window go first; then the oldest while over the byte budget."""
    blocks = [_write(tmp_path, i * 2 * HOUR, {"a": [i * 2 * HOUR]}) for i in range(5)]
    metas = [b.meta for b in blocks]
    sizes = {b.id: 100 for b in blocks}
    doomed = retention(metas, sizes, retention_ms=5 * HOUR, retention_bytes=None)
    assert [m.mint for m in doomed] == [0, 2 * HOUR]
    doomed = retention(metas, sizes, retention_ms=None, retention_bytes=250, other_bytes=50)
    assert [m.mint for m in doomed] == [0, 2 * HOUR, 4 * HOUR]
