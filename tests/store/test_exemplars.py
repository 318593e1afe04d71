"""The circular exemplar store: Prometheus's ring rules, its log on disk, crashes and damage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vigie.exceptions import CorruptionError
from vigie.store.exemplars import Exemplar, ExemplarStorage, exemplar_from
from vigie.store.interface import Matcher
from vigie.store.tsdb import DiskStorage

A = (("__name__", "latency_bucket"), ("job", "api"), ("le", "0.5"))
B = (("__name__", "latency_bucket"), ("job", "api"), ("le", "1"))
C = (("__name__", "tokens_total"), ("job", "llm"))


def ex(trace: str, value: float, t: int, has_timestamp: bool = True) -> Exemplar:
    return Exemplar((("trace_id", trace),), value, t, has_timestamp)


def everything(store: ExemplarStorage) -> list[tuple[tuple[tuple[str, str], ...], list[Exemplar]]]:
    return store.select([[]], -(2**62), 2**62)


def test_repeated_exemplar_is_stored_once() -> None:
    """The newest exemplar of a series sent again (a target repeats it every scrape) is a no-op."""
    store = ExemplarStorage(None, max_exemplars=10)
    assert store.add([(A, ex("a", 0.3, 1_000))]) == 1
    assert store.add([(A, ex("a", 0.3, 1_000))]) == 0
    # Without timestamps the scrape's time differs, yet it is the same exemplar (Prometheus).
    assert store.add([(B, ex("b", 0.7, 1_000, False))]) == 1
    assert store.add([(B, ex("b", 0.7, 16_000, False))]) == 0
    assert store.add([(B, ex("b", 0.8, 31_000, False))]) == 1
    assert [(s, [e.value for e in found]) for s, found in everything(store)] == [
        (A, [0.3]),
        (B, [0.7, 0.8]),
    ]


def test_out_of_order_exemplar_is_dropped_and_counted() -> None:
    """An exemplar not newer than its series' newest one is refused, as Prometheus does."""
    store = ExemplarStorage(None, max_exemplars=10)
    store.add([(A, ex("a", 0.3, 5_000))])
    assert store.add([(A, ex("b", 0.4, 4_000)), (A, ex("c", 0.5, 5_000))]) == 0
    assert store.out_of_order == 2
    assert store.add([(A, ex("d", 0.6, 6_000)), (A, ex("e", 0.6, 6_000))]) == 1


def test_full_ring_evicts_the_oldest_exemplar_of_any_series() -> None:
    """The ring holds max_exemplars; a new exemplar replaces the oldest, whatever its series."""
    store = ExemplarStorage(None, max_exemplars=3)
    store.add([(A, ex("a1", 1, 1_000)), (B, ex("b1", 2, 1_000)), (A, ex("a2", 3, 2_000))])
    store.add([(C, ex("c1", 4, 3_000))])  # evicts a1
    store.add([(C, ex("c2", 5, 4_000))])  # evicts b1: B disappears
    assert len(store) == 3
    assert [(s, [e.labels[0][1] for e in found]) for s, found in everything(store)] == [
        (A, ["a2"]),
        (C, ["c1", "c2"]),
    ]


def test_select_by_time_range_and_matcher_groups() -> None:
    """Only exemplars in [start, end] of series matching some group, series sorted by labels."""
    store = ExemplarStorage(None, max_exemplars=100)
    for t in range(1_000, 6_000, 1_000):
        store.add([(C, ex(f"c{t}", t, t)), (B, ex(f"b{t}", t, t)), (A, ex(f"a{t}", t, t))])
    found = store.select([[Matcher("__name__", "=", "latency_bucket")]], 2_000, 3_000)
    assert [(s, [e.timestamp_ms for e in e_]) for s, e_ in found] == [
        (A, [2_000, 3_000]),
        (B, [2_000, 3_000]),
    ]
    groups = [[Matcher("le", "=", "1")], [Matcher("job", "=~", "ll.*")]]
    assert [s for s, _ in store.select(groups, 0, 10_000)] == [B, C]
    assert store.select([[]], 6_000, 9_000) == []


def test_disabled_store_keeps_nothing(tmp_path: Path) -> None:
    """max_exemplars 0 (Prometheus's way to turn them off) stores nothing, even over a log
    written while they were on."""
    store = ExemplarStorage(None, max_exemplars=0)
    assert store.add([(A, ex("a", 1, 1))]) == 0
    assert everything(store) == []
    ExemplarStorage(str(tmp_path)).add([(A, ex("a", 1, 1))])
    assert everything(ExemplarStorage(str(tmp_path), max_exemplars=0)) == []


def test_exemplar_from_uses_scrape_time_when_absent() -> None:
    """A target's exemplar without timestamp gets the scrape's, marked as such."""
    assert exemplar_from({"trace_id": "x"}, 2, None, 9_000) == Exemplar(
        (("trace_id", "x"),), 2.0, 9_000, False
    )
    assert exemplar_from({"trace_id": "x"}, 2, 7_000, 9_000).has_timestamp


def test_log_survives_reopen_and_resize(tmp_path: Path) -> None:
    """What was added is there after reopening; resizing keeps the newest."""
    store = ExemplarStorage(str(tmp_path), max_exemplars=10)
    store.add([(A, ex("a", 0.25, 1_000)), (B, ex("b", float("inf"), 1_000, False))])
    store.add([(A, ex("a2", float("nan"), 2_000))])
    before = everything(store)
    store.close()
    again = ExemplarStorage(str(tmp_path), max_exemplars=10)
    after = everything(again)
    assert [(s, [(e.labels, e.timestamp_ms, e.has_timestamp) for e in f]) for s, f in after] == [
        (s, [(e.labels, e.timestamp_ms, e.has_timestamp) for e in f]) for s, f in before
    ]
    assert after[1][1][0].value == float("inf")
    again.resize(1)
    again.close()
    third = ExemplarStorage(str(tmp_path), max_exemplars=1)
    assert [(s, [e.labels for e in f]) for s, f in everything(third)] == [
        (A, [(("trace_id", "a2"),)])
    ]


def test_log_is_compacted_to_the_ring(tmp_path: Path) -> None:
    """Past twice the ring's capacity the log is rewritten; reopening gives the same ring."""
    store = ExemplarStorage(str(tmp_path), max_exemplars=5, fsync="never")
    for t in range(1, 5_000):
        store.add([(A, ex(f"a{t}", t, t))])
    log = tmp_path / "log"
    assert log.stat().st_size < 2_000 * 100  # not 5,000 records
    expected = everything(store)
    assert [e.timestamp_ms for e in expected[0][1]] == [4_995, 4_996, 4_997, 4_998, 4_999]
    store.close()
    assert everything(ExemplarStorage(str(tmp_path), max_exemplars=5)) == expected


def test_corrupted_frame_is_reported_not_fatal(tmp_path: Path) -> None:
    """A frame whose checksum fails is reported and skipped; the others are kept."""
    store = ExemplarStorage(str(tmp_path), max_exemplars=10)
    for t in (1_000, 2_000, 3_000):
        store.add([(A, ex(f"a{t}", t, t))])
    store.close()
    log = tmp_path / "log"
    data = bytearray(log.read_bytes())
    frame = len(data) // 3
    data[frame + 30] ^= 0xFF  # inside the second frame's payload
    log.write_bytes(bytes(data))
    seen: list[CorruptionError] = []
    again = ExemplarStorage(str(tmp_path), max_exemplars=10, on_corruption=seen.append)
    assert [e.timestamp_ms for e in everything(again)[0][1]] == [1_000, 3_000]
    assert len(seen) == 1
    assert "checksum mismatch" in str(seen[0])
    again.close()
    # The damage was cut out: the next open is clean.
    assert not ExemplarStorage(str(tmp_path), max_exemplars=10).corruptions


def test_torn_tail_is_cut_silently(tmp_path: Path) -> None:
    """A frame cut short by a crash mid-write (never acknowledged) is dropped, no corruption."""
    store = ExemplarStorage(str(tmp_path), max_exemplars=10)
    store.add([(A, ex("a", 1, 1_000))])
    store.add([(A, ex("b", 2, 2_000))])
    store.close()
    log = tmp_path / "log"
    log.write_bytes(log.read_bytes()[:-7])
    again = ExemplarStorage(str(tmp_path), max_exemplars=10)
    assert not again.corruptions
    assert [e.timestamp_ms for e in everything(again)[0][1]] == [1_000]


def test_disk_storage_commits_and_rolls_back_exemplars(tmp_path: Path) -> None:
    """Exemplars buffered on a DiskStorage appender are stored by commit, dropped by rollback,
    and are there after the store is reopened."""
    labels = dict(A)
    with DiskStorage(tmp_path, background=False, max_exemplars=50) as storage:
        appender = storage.appender()
        appender.append(labels, 1_000, 3.0)
        appender.append_exemplar(labels, ex("kept", 0.4, 1_000))
        appender.commit()
        appender.append(labels, 2_000, 4.0)
        appender.append_exemplar(labels, ex("dropped", 0.4, 2_000))
        appender.rollback()
        appender.commit()
    with DiskStorage(tmp_path, background=False, max_exemplars=50) as storage:
        found = storage.exemplars.select([[Matcher("le", "=", "0.5")]], 0, 10_000)
        assert [(s, [e.labels for e in f]) for s, f in found] == [(A, [(("trace_id", "kept"),)])]


_WRITER = textwrap.dedent(
    """
    import sys
    from vigie.store.exemplars import Exemplar
    from vigie.store.tsdb import DiskStorage

    storage = DiskStorage(sys.argv[1], fsync="never")
    labels = {"__name__": "latency_bucket", "le": "0.5"}
    t = 0
    while True:
        t += 1
        appender = storage.appender()
        appender.append(labels, t, float(t))
        appender.append_exemplar(labels, Exemplar((("trace_id", f"t{t}"),), t / 10, t))
        appender.commit()
        print(t, flush=True)
    """
)


@pytest.mark.parametrize("round_", range(3))
def test_kill_9_loses_no_acknowledged_exemplar(tmp_path: Path, round_: int) -> None:
    """A real writer process killed with SIGKILL mid-ingest: every exemplar whose commit
    returned is there after reopening (the log write precedes the acknowledgement)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    acknowledged = 0
    for line in process.stdout:
        acknowledged = int(line)
        if acknowledged >= 300 + 200 * round_:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    with DiskStorage(tmp_path, background=False) as storage:
        found = storage.exemplars.select([[]], 0, 10**9)
        stamps = [e.timestamp_ms for e in found[0][1]]
    assert stamps[:acknowledged] == list(range(1, acknowledged + 1))


def test_exemplar_log_failure_does_not_fail_the_commit(tmp_path: Path) -> None:
    """If the exemplar log cannot be written, the samples (already durable) stay committed,
    the exemplars are not kept, and the store reports the error."""
    labels = dict(A)
    with DiskStorage(tmp_path, background=False) as storage:
        (tmp_path / "exemplars" / "log").mkdir()  # the log cannot be opened for writing
        appender = storage.appender()
        appender.append(labels, 1_000, 3.0)
        appender.append_exemplar(labels, ex("lost", 0.4, 1_000))
        appender.commit()
        assert [s.values.tolist() for s in storage.querier().select([], 0, 2_000)] == [[3.0]]
        assert everything(storage.exemplars) == []
        assert "exemplar log write failed" in (storage.stats().last_error or "")
