"""The write-ahead log: records come back, torn tails are cut, corruption is contained."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from vigie.exceptions import StorageFullError
from vigie.store import wal as wal_module
from vigie.store.wal import WAL, ChunkRecord, SamplesRecord, SeriesRecord


def _log(wal: WAL, ref: int, timestamp: int, value: float, *, new: bool = False) -> None:
    series = [(ref, (("__name__", f"s{ref}"),))] if new else []
    wal.log(
        series,
        np.array([ref], dtype=np.uint32),
        np.array([timestamp], dtype=np.int64),
        np.array([value], dtype=np.float64),
    )


def _samples(wal: WAL) -> list[tuple[int, int, float]]:
    found = []
    for record in wal.replay():
        if isinstance(record, SamplesRecord):
            found += list(
                zip(
                    record.refs.tolist(),
                    record.timestamps.tolist(),
                    record.values.tolist(),
                    strict=True,
                )
            )
    return found


def test_records_replay_in_order(tmp_path: Path) -> None:
    """Series and sample records come back as written, across a reopen."""
    wal = WAL(str(tmp_path))
    _log(wal, 1, 1_000, 1.5, new=True)
    _log(wal, 1, 2_000, 2.5)
    wal.close()
    records = list(WAL(str(tmp_path)).replay())
    assert isinstance(records[0], SeriesRecord)
    assert records[0].series == [(1, (("__name__", "s1"),))]
    assert _samples(WAL(str(tmp_path))) == [(1, 1_000, 1.5), (1, 2_000, 2.5)]


def test_torn_last_record_is_truncated(tmp_path: Path) -> None:
    """A half-written final record (process killed mid-write) is dropped and cut off the file."""
    wal = WAL(str(tmp_path))
    _log(wal, 1, 1_000, 1.0, new=True)
    wal.close()
    segment = tmp_path / "00000001"
    intact = segment.stat().st_size
    with segment.open("ab") as file:
        file.write(b"\x02\x40\x00\x00\x00\x11\x22")  # a header claiming 64 bytes, then nothing
    reopened = WAL(str(tmp_path))
    assert _samples(reopened) == [(1, 1_000, 1.0)]
    assert segment.stat().st_size == intact
    assert reopened.corruptions == []


def test_corrupt_record_in_older_segment_is_reported_and_later_segments_replay(
    tmp_path: Path,
) -> None:
    """A checksum mismatch before the last segment is counted; newer segments still replay."""
    wal = WAL(str(tmp_path))
    _log(wal, 1, 1_000, 1.0, new=True)
    wal.rotate()
    _log(wal, 1, 2_000, 2.0)
    wal.close()
    first = tmp_path / "00000001"
    data = bytearray(first.read_bytes())
    data[-1] ^= 0xFF
    first.write_bytes(bytes(data))
    reopened = WAL(str(tmp_path))
    assert _samples(reopened) == [(1, 2_000, 2.0)]
    assert len(reopened.corruptions) == 1
    assert "checksum mismatch" in reopened.corruptions[0]
    assert wal_module.verify_file(str(first)) != []


def test_checkpoint_replaces_covered_segments(tmp_path: Path) -> None:
    """A checkpoint stands for every segment up to its number; those segments are deleted."""
    wal = WAL(str(tmp_path))
    _log(wal, 1, 1_000, 1.0, new=True)
    covered = wal.rotate()
    _log(wal, 1, 2_000, 2.0)
    wal.write_checkpoint(covered, [(1, (("__name__", "s1"),))], [(1, 5, 9, b"chunk-bytes")])
    wal.close()
    assert sorted(os.listdir(tmp_path)) == ["00000002", "checkpoint.00000001"]
    records = list(WAL(str(tmp_path)).replay())
    assert isinstance(records[0], SeriesRecord)
    assert records[1] == ChunkRecord(1, 5, 9, b"chunk-bytes")
    assert _samples(WAL(str(tmp_path))) == [(1, 2_000, 2.0)]


def test_new_writer_starts_after_existing_segments(tmp_path: Path) -> None:
    """Reopening appends to a fresh segment, never into an old one."""
    wal = WAL(str(tmp_path))
    _log(wal, 1, 1_000, 1.0, new=True)
    wal.close()
    again = WAL(str(tmp_path))
    _log(again, 1, 2_000, 2.0)
    again.close()
    assert sorted(os.listdir(tmp_path)) == ["00000001", "00000002"]
    assert [t for _, t, _ in _samples(WAL(str(tmp_path)))] == [1_000, 2_000]


def test_segments_rotate_at_size(tmp_path: Path) -> None:
    """A segment past its size limit is closed and a new one started."""
    wal = WAL(str(tmp_path), segment_bytes=30)
    for i in range(5):
        _log(wal, 1, i, 1.0, new=i == 0)
    wal.close()
    assert len(WAL(str(tmp_path)).segments()) == 5
    assert len(_samples(WAL(str(tmp_path)))) == 5


@pytest.mark.parametrize(
    ("policy", "expected"), [("always", 3), ("never", 0), (3600.0, 0), (0.0, 3)]
)
def test_fsync_policy_decides_syncs_per_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: object, expected: int
) -> None:
    """'always' syncs every commit, 'never' and a long interval do not."""
    calls: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(wal_module.os, "fdatasync", lambda fd: (calls.append(fd), real(fd))[1])
    wal = WAL(str(tmp_path), fsync=policy)  # type: ignore[arg-type]
    for i in range(3):
        _log(wal, 1, i, 1.0, new=i == 0)
    assert len(calls) == expected
    wal.close()


def test_invalid_fsync_policy_is_refused(tmp_path: Path) -> None:
    """A policy that is neither a keyword nor seconds is a ValueError naming it."""
    with pytest.raises(ValueError, match="sometimes"):
        WAL(str(tmp_path), fsync="sometimes")  # type: ignore[arg-type]


def test_disk_full_raises_storage_full(tmp_path: Path) -> None:
    """A write on a full device (/dev/full) raises StorageFullError."""
    if not os.path.exists("/dev/full"):
        pytest.skip("/dev/full not available")
    wal = WAL(str(tmp_path))
    _log(wal, 1, 1_000, 1.0, new=True)
    os.symlink("/dev/full", tmp_path / "00000002")  # the segment the next rotation opens
    wal.rotate()
    with pytest.raises(StorageFullError, match="WAL write failed"):
        _log(wal, 1, 2_000, 2.0)
    wal.close()
    os.unlink(tmp_path / "00000002")
    assert _samples(WAL(str(tmp_path))) == [(1, 1_000, 1.0)]


def test_damage_before_the_tail_of_the_last_segment_counts_as_corruption(tmp_path: Path) -> None:
    """Only a damaged final record is a torn write; a bad record before it is corruption."""
    wal = WAL(str(tmp_path))
    _log(wal, 1, 1_000, 1.0, new=True)
    _log(wal, 1, 2_000, 2.0)
    _log(wal, 1, 3_000, 3.0)
    wal.close()
    segment = tmp_path / "00000001"
    data = bytearray(segment.read_bytes())
    data[-40] ^= 0xFF  # inside the second samples record
    segment.write_bytes(bytes(data))
    reopened = WAL(str(tmp_path))
    assert _samples(reopened) == [(1, 1_000, 1.0)]
    assert len(reopened.corruptions) == 1
