"""DiskStorage end to end: restart, blocks, compaction, retention, corruption, disk full."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vigie.exceptions import CorruptionError, StorageFullError, StoreError
from vigie.store.interface import Matcher
from vigie.store.tsdb import DiskStorage

HOUR = 3_600_000
STEP = 15_000
START = 1_700_000_000_000 // (24 * HOUR) * (24 * HOUR)


def _fill(storage: DiskStorage, hours: float, *, series: int = 4, start: int = START) -> list[int]:
    stamps = list(range(start, start + int(hours * HOUR), STEP))
    for t in stamps:
        appender = storage.appender()
        for i in range(series):
            appender.append(
                {"__name__": "requests_total", "instance": f"t{i}"},
                t,
                float((t - START) // STEP * (i + 1)),
            )
        appender.commit()
    return stamps


def _everything(storage: DiskStorage) -> dict[str, tuple[list[int], list[float]]]:
    return {
        s.labels["instance"]: (s.timestamps.tolist(), s.values.tolist())
        for s in storage.querier().select([], 0, 2**62)
    }


def test_restart_keeps_head_samples(tmp_path: Path) -> None:
    """Closing and reopening replays the WAL: every committed sample is back."""
    with DiskStorage(tmp_path, background=False) as storage:
        stamps = _fill(storage, 0.5)
        before = _everything(storage)
    with DiskStorage(tmp_path, background=False) as storage:
        assert _everything(storage) == before
        assert before["t0"][0] == stamps


def test_head_is_cut_into_blocks_and_compacted(tmp_path: Path) -> None:
    """Past 3 h of head, 2 h blocks appear; a finished 6 h window is merged; data is intact."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        stamps = _fill(storage, 9)
        stats = storage.stats()
        assert stats.blocks >= 1
        assert stats.compactions == 1
        assert stats.head_min_time is not None
        assert stats.head_min_time >= START + 6 * HOUR
        data = _everything(storage)
        assert data["t1"][0] == stamps
        assert data["t1"][1] == [float(i * 2) for i in range(len(stamps))]
        wal_files = sorted(os.listdir(tmp_path / "wal"))
        assert any(name.startswith("checkpoint.") for name in wal_files)
    with DiskStorage(tmp_path, background=False) as storage:
        assert _everything(storage) == data
        assert storage.check().ok


def test_rejects_samples_older_than_persisted_blocks(tmp_path: Path) -> None:
    """Once a range is in a block, appending into it is out of bounds."""
    with DiskStorage(
        tmp_path, background=False, fsync="never", out_of_order_window_ms=24 * HOUR
    ) as storage:
        _fill(storage, 4)
        appender = storage.appender()
        appender.append({"__name__": "late"}, START + 1, 1.0)
        with pytest.raises(StoreError, match="out of bounds"):
            appender.commit()


def test_time_retention_deletes_old_blocks(tmp_path: Path) -> None:
    """Blocks entirely older than the retention window are deleted and no longer served."""
    with DiskStorage(tmp_path, background=False, fsync="never", retention_ms=4 * HOUR) as storage:
        _fill(storage, 12, series=1)
        first = storage.querier().select([], 0, 2**62)[0].timestamps[0]
        assert first >= START + 4 * HOUR
        assert storage.querier().select([], START, START + HOUR) == []


def test_size_retention_keeps_the_store_under_budget(tmp_path: Path) -> None:
    """Over the byte budget, the oldest blocks go until blocks plus WAL fit (checked at each
    head cut, every minute and at start)."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        _fill(storage, 12, series=4)
        before = storage.stats()
    budget = before.bytes_on_disk - 1
    with DiskStorage(tmp_path, background=False, retention_bytes=budget) as storage:
        stats = storage.stats()
        data = _everything(storage)
    assert stats.bytes_on_disk <= budget
    assert stats.blocks == before.blocks - 1
    assert data["t0"][0][0] > START
    assert data["t0"][0][-1] == START + 12 * HOUR - STEP


def test_flush_persists_the_whole_head(tmp_path: Path) -> None:
    """flush() writes every head sample into blocks; a restart reads them from blocks."""
    with DiskStorage(tmp_path, background=False) as storage:
        _fill(storage, 1)
        before = _everything(storage)
        storage.flush()
        assert storage.stats().head_series == 0
        assert _everything(storage) == before
    with DiskStorage(tmp_path, background=False) as storage:
        assert _everything(storage) == before


def test_corrupted_chunk_is_reported_and_the_rest_is_served(tmp_path: Path) -> None:
    """A flipped byte in a block's chunk file: check() names it, stats count it, reads go on."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        _fill(storage, 4)
        [block_dir] = list((tmp_path / "blocks").iterdir())
    chunks = block_dir / "chunks"
    data = bytearray(chunks.read_bytes())
    data[30] ^= 0x40  # inside the first series' first chunk
    chunks.write_bytes(bytes(data))
    with DiskStorage(tmp_path, background=False) as storage:
        report = storage.check()
        assert not report.ok
        assert any(str(chunks) in problem and "checksum" in problem for problem in report.problems)
        with pytest.raises(CorruptionError):
            report.raise_for_problems()
        served = _everything(storage)
        assert sorted(served) == ["t0", "t1", "t2", "t3"]
        assert served["t0"][0][0] > START  # its first chunk is gone...
        assert START + 2 * HOUR - STEP in served["t0"][0]  # ...the rest of the block is served
        assert served["t3"][0][0] == START
        stats = storage.stats()
        assert stats.corruptions >= 1
        assert not stats.healthy
        assert stats.last_error


def test_disk_full_fails_the_commit_and_keeps_serving(tmp_path: Path) -> None:
    """A full disk raises StorageFullError for that commit; stored data stays readable."""
    with DiskStorage(tmp_path, background=False, wal_segment_bytes=1) as storage:
        _fill(storage, 0.01)
        before = _everything(storage)
        wal = tmp_path / "wal"
        full = wal / f"{max(int(n) for n in os.listdir(wal) if n.isdigit()) + 1:08d}"
        os.symlink("/dev/full", full)  # the segment the next commit rotates into
        appender = storage.appender()
        appender.append({"__name__": "requests_total", "instance": "t0"}, START + HOUR, 1.0)
        with pytest.raises(StorageFullError):
            appender.commit()
        assert _everything(storage) == before
        assert storage.stats().storage_full_errors == 1
    os.unlink(full)
    with DiskStorage(tmp_path, background=False) as storage:
        assert _everything(storage) == before


def test_closed_store_refuses_commits(tmp_path: Path) -> None:
    """Committing after close raises StoreError instead of losing data silently."""
    storage = DiskStorage(tmp_path, background=False)
    appender = storage.appender()
    appender.append({"__name__": "x"}, 1, 1.0)
    storage.close()
    with pytest.raises(StoreError, match="closed"):
        appender.commit()


def test_stats_count_appends_and_rejections(tmp_path: Path) -> None:
    """Self-monitoring counts accepted and rejected samples and reports bytes on disk."""
    with DiskStorage(tmp_path, background=False) as storage:
        _fill(storage, 0.01, series=2)
        appender = storage.appender()
        appender.append({"__name__": "requests_total", "instance": "t0"}, START - 1, 1.0)
        with pytest.raises(StoreError):
            appender.commit()
        stats = storage.stats()
        assert stats.samples_appended == 6
        assert stats.samples_rejected == 1
        assert stats.head_series == 2
        assert stats.wal_bytes > 0
        assert stats.bytes_on_disk >= stats.wal_bytes
        assert stats.healthy


def test_appender_survives_series_garbage_collection(tmp_path: Path) -> None:
    """Samples buffered for a series that a head cut collected still land in the store."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        appender = storage.appender()
        appender.append({"__name__": "rare"}, START, 1.0)
        appender.commit()
        _fill(storage, 4, series=1)  # cuts the head: "rare" has no head samples left
        appender.append({"__name__": "rare"}, START + 5 * HOUR, 2.0)
        appender.commit()
        [rare] = storage.querier().select([Matcher("__name__", "=", "rare")], 0, 2**62)
        assert rare.values.tolist() == [1.0, 2.0]


def test_leftover_temporary_and_replaced_blocks_are_removed(tmp_path: Path) -> None:
    """A half-written block and blocks already merged into another are deleted on open."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        _fill(storage, 9, series=1)
        data = _everything(storage)
    blocks = tmp_path / "blocks"
    [merged] = [p for p in blocks.iterdir() if '"level": 2' in (p / "meta.json").read_text()]
    source = merged.name.replace("-", "-x", 1) + ".tmp"
    shutil.copytree(merged, blocks / source)
    meta = (merged / "meta.json").read_text()
    stale = blocks / "000000000000001-stale"
    shutil.copytree(merged, stale)
    sources_line = meta.replace('"sources": [', '"sources": [\n  "000000000000001-stale",')
    (merged / "meta.json").write_text(sources_line)
    with DiskStorage(tmp_path, background=False) as storage:
        assert _everything(storage) == data
    assert not (blocks / source).exists()
    assert not stale.exists()


def test_samples_round_trip_through_blocks_bit_exact(tmp_path: Path) -> None:
    """Arbitrary float bits survive head, WAL, block and compaction."""
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2**63, size=2_000, dtype=np.int64).view(np.float64)
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        for i, value in enumerate(bits.tolist()):
            appender = storage.appender()
            appender.append({"__name__": "noise"}, START + i * 30_000, value)
            appender.commit()
        storage.flush()
    with DiskStorage(tmp_path, background=False) as storage:
        [series] = storage.querier().select([], 0, 2**62)
        assert series.values.view(np.uint64).tolist() == bits.view(np.uint64).tolist()


def test_background_maintenance_cuts_blocks_while_commits_go_on(tmp_path: Path) -> None:
    """With the maintenance thread, commits never run the cut; blocks still appear."""
    with DiskStorage(tmp_path, fsync="never") as storage:
        stamps = _fill(storage, 4)
        deadline = time.monotonic() + 20
        while storage.stats().blocks == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert storage.stats().blocks == 1
        assert _everything(storage)["t2"][0] == stamps
    with DiskStorage(tmp_path) as storage:
        assert _everything(storage)["t2"][0] == stamps


def test_queries_stay_complete_while_the_head_is_cut_and_compacted(tmp_path: Path) -> None:
    """Readers running during cuts and merges never see a gap or a duplicate."""
    ranges = (1_000, 3_000, 9_000)
    problems: list[str] = []
    done = threading.Event()

    def read(storage: DiskStorage) -> None:
        while not done.is_set():
            for series in storage.querier().select([], 0, 2**62):
                stamps = series.timestamps.tolist()
                if stamps != list(range(0, stamps[-1] + 100, 100)):
                    problems.append(f"{series.labels}: {len(stamps)} samples, not contiguous")

    with DiskStorage(tmp_path, fsync="never", block_ranges=ranges, retention_ms=None) as storage:
        reader = threading.Thread(target=read, args=(storage,))
        reader.start()
        try:
            for t in range(0, 30_000, 100):
                appender = storage.appender()
                for i in range(3):
                    appender.append({"__name__": "c", "i": str(i)}, t, float(t))
                appender.commit()
        finally:
            done.set()
            reader.join()
        storage.maintain()
        assert storage.stats().compactions >= 1
        assert problems == []
        assert [s.timestamps.size for s in storage.querier().select([], 0, 2**62)] == [300] * 3


def test_failed_checkpoint_keeps_old_wal_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the checkpoint cannot be written, the old WAL segments stay and a restart has it all."""
    with DiskStorage(tmp_path, fsync="never", background=False) as storage:

        def full(*_: object) -> None:
            raise StorageFullError("checkpoint: no space left on device")

        monkeypatch.setattr(storage._wal, "write_checkpoint", full)
        stamps = _fill(storage, 4)
        stats = storage.stats()
        assert stats.blocks == 1
        assert stats.storage_full_errors == 1
        assert not stats.healthy
        data = _everything(storage)
        assert data["t1"][0] == stamps
    with DiskStorage(tmp_path, background=False) as storage:
        assert _everything(storage) == data
        assert storage.check().ok


def test_timestamp_outside_int64_is_refused_at_append(tmp_path: Path) -> None:
    """A timestamp that cannot be stored raises StoreError at once; the batch stays usable."""
    with DiskStorage(tmp_path, background=False) as storage:
        appender = storage.appender()
        appender.append({"__name__": "x"}, 1, 1.0)
        with pytest.raises(StoreError, match="int64"):
            appender.append({"__name__": "x"}, 2**63, 1.0)
        appender.commit()
        assert _everything_named(storage) == {"x": [1]}


def _everything_named(storage: DiskStorage) -> dict[str, list[int]]:
    return {
        s.labels["__name__"]: s.timestamps.tolist() for s in storage.querier().select([], 0, 2**62)
    }


def test_concurrent_commits_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With fsync="always" and a slow disk, waiting committers share one fdatasync."""
    from vigie.store import wal as wal_module

    syncs: list[int] = []
    real = os.fdatasync

    def slow_sync(fd: int) -> None:
        syncs.append(fd)
        time.sleep(0.02)
        real(fd)

    monkeypatch.setattr(wal_module.os, "fdatasync", slow_sync)
    with DiskStorage(tmp_path, background=False) as storage:

        def write(worker: int) -> None:
            for t in range(5):
                appender = storage.appender()
                appender.append({"__name__": "w", "worker": str(worker)}, t, float(t))
                appender.commit()

        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(syncs) < 30, len(syncs)  # 40 commits
        assert [s.timestamps.tolist() for s in storage.querier().select([], 0, 10)] == [
            list(range(5))
        ] * 8


def test_data_directory_is_locked_while_open(tmp_path: Path) -> None:
    """A second store on the same directory is refused until the first one is closed."""
    first = DiskStorage(tmp_path, background=False)
    with pytest.raises(StoreError, match="in use"):
        DiskStorage(tmp_path, background=False)
    first.close()
    DiskStorage(tmp_path, background=False).close()


def test_append_ref_survives_series_garbage_collection(tmp_path: Path) -> None:
    """A ref kept while a head cut collected its series still appends to that series."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        appender = storage.appender()
        ref = appender.ref({"__name__": "rare"})
        appender.append_ref(ref, START, 1.0)
        appender.commit()
        _fill(storage, 4, series=1)  # cuts the head: "rare" has no head samples left
        later = storage.appender()
        later.append_ref(ref, START + 5 * HOUR, 2.0)
        later.commit()
        [rare] = storage.querier().select([Matcher("__name__", "=", "rare")], 0, 2**62)
        assert rare.values.tolist() == [1.0, 2.0]
    with DiskStorage(tmp_path, background=False) as storage:
        [rare] = storage.querier().select([Matcher("__name__", "=", "rare")], 0, 2**62)
        assert rare.values.tolist() == [1.0, 2.0]


def test_append_many_is_durable_and_range_checked(tmp_path: Path) -> None:
    """A run survives a restart; a timestamp outside int64 refuses the whole run."""
    with DiskStorage(tmp_path, background=False) as storage:
        appender = storage.appender()
        with pytest.raises(StoreError, match="outside the int64"):
            appender.append_many({"__name__": "x"}, [START, 2**63], [1.0, 2.0])
        appender.append_many({"__name__": "x"}, [START, START + STEP], [1.0, 2.0])
        appender.commit()
    with DiskStorage(tmp_path, background=False) as storage:
        assert _run_of_x(storage) == ([START, START + STEP], [1.0, 2.0])


def _run_of_x(storage: DiskStorage) -> tuple[list[int], list[float]]:
    [series] = storage.querier().select([Matcher("__name__", "=", "x")], 0, 2**62)
    return series.timestamps.tolist(), series.values.tolist()


def test_block_chunks_are_cached_and_results_unchanged(tmp_path: Path) -> None:
    """A second query over blocks is served from the chunk cache with identical samples."""
    with DiskStorage(tmp_path, background=False, fsync="never") as storage:
        _fill(storage, 5)
        storage.flush()
        first = _everything(storage)
        misses = storage.chunk_cache.misses
        assert misses > 0
        assert len(storage.chunk_cache) > 0
        assert _everything(storage) == first
        assert storage.chunk_cache.misses == misses
        assert storage.chunk_cache.hits > 0
    with DiskStorage(tmp_path, background=False, chunk_cache_samples=0) as storage:
        assert _everything(storage) == first
        assert len(storage.chunk_cache) == 0
