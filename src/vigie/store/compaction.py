"""Compaction and retention: fewer, larger blocks over time, and the oldest ones deleted.

Compaction follows Prometheus's leveled plan: the head is cut into blocks aligned on 2 h; once the
head has moved past an aligned 6 h window, the 2 h blocks inside it are merged into one; likewise
6 h blocks into 24 h ones. Merging re-encodes each series into larger chunks (better compression,
fewer reads for a long range query) and streams series in label order, so memory stays bounded by
one series at a time. The merged block lists the blocks it replaces in ``sources``; if the process
dies after publishing it but before deleting them, the next start deletes them.

Retention deletes whole blocks: those entirely older than the newest block's end minus
``retention_ms``, then the oldest ones while the store (blocks and WAL) is over
``retention_bytes``.

Example::

    >>> plan([], ranges=(7_200_000, 21_600_000), persisted_until=0)
    []
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

import numpy as np

from vigie.store.blocks import Block, BlockMeta, BlockWriter
from vigie.store.interface import LabelPairs

__all__ = ["DEFAULT_RANGES", "merge", "plan", "retention"]

HOUR_MS = 3_600_000
#: Block ranges: the head is cut at the first, compaction builds the next ones.
DEFAULT_RANGES = (2 * HOUR_MS, 6 * HOUR_MS, 24 * HOUR_MS)


def plan(
    metas: Sequence[BlockMeta], *, ranges: Sequence[int], persisted_until: int
) -> list[BlockMeta]:
    """Blocks to merge next (empty when nothing is due): all blocks of one completed window."""
    for size in ranges[1:]:
        windows: dict[int, list[BlockMeta]] = {}
        for meta in metas:
            if meta.maxt - meta.mint < size:
                windows.setdefault(meta.mint // size, []).append(meta)
        for window, members in sorted(windows.items()):
            end = (window + 1) * size
            if len(members) > 1 and end <= persisted_until and all(m.maxt <= end for m in members):
                return sorted(members, key=lambda m: m.mint)
    return []


def _series_stream(number: int, block: Block) -> Iterator[tuple[LabelPairs, int, int]]:
    for series, labels in enumerate(block.labels):
        yield labels, number, series


def merge(root: str, blocks: Sequence[Block], *, mint: int, maxt: int) -> str:
    """Write one block holding every series of ``blocks``; returns its directory."""
    ordered = sorted(blocks, key=lambda b: b.meta.mint)
    # The ids of the merged blocks too, so a crash before deleting them is repaired on open.
    sources = tuple(
        dict.fromkeys(s for block in ordered for s in (*block.meta.sources, block.meta.id))
    )
    level = max(block.meta.level for block in ordered) + 1
    writer = BlockWriter(root, mint=mint, maxt=maxt, level=level, sources=sources)
    try:
        streams = [_series_stream(i, block) for i, block in enumerate(ordered)]
        current: LabelPairs | None = None
        parts: list[tuple[int, int]] = []
        for labels, number, series in heapq.merge(*streams):
            if labels != current and current is not None:
                _write_series(writer, current, ordered, parts)
                parts = []
            current = labels
            parts.append((number, series))
        if current is not None:
            _write_series(writer, current, ordered, parts)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def _write_series(
    writer: BlockWriter, labels: LabelPairs, blocks: Sequence[Block], parts: list[tuple[int, int]]
) -> None:
    low, high = -(2**63), 2**63 - 1
    pieces = [
        blocks[number].series_samples(series, low, high, cached=False) for number, series in parts
    ]
    t = np.concatenate([p[0] for p in pieces])
    v = np.concatenate([p[1] for p in pieces])
    if t.size > 1 and not bool(np.all(np.diff(t) > 0)):
        # Overlapping blocks (should not happen): keep the first sample of each timestamp.
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        keep = np.concatenate(([True], np.diff(t) > 0))
        t, v = t[keep], v[keep]
    writer.add(labels, t, v)


def retention(
    metas: Sequence[BlockMeta],
    sizes: dict[str, int],
    *,
    retention_ms: int | None,
    retention_bytes: int | None,
    other_bytes: int = 0,
) -> list[BlockMeta]:
    """Blocks to delete, oldest first, under time- and size-based retention."""
    ordered = sorted(metas, key=lambda m: m.mint)
    doomed: list[BlockMeta] = []
    if ordered and retention_ms is not None:
        newest = max(m.maxt for m in ordered)
        doomed = [m for m in ordered if m.maxt <= newest - retention_ms]
    if retention_bytes is not None:
        kept = [m for m in ordered if m not in doomed]
        total = other_bytes + sum(sizes.get(m.id, 0) for m in kept)
        while kept and total > retention_bytes:
            oldest = kept.pop(0)
            doomed.append(oldest)
            total -= sizes.get(oldest.id, 0)
    return doomed
