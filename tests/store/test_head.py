"""The head: appends, chunk cutting, ordering rules, truncation."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.exceptions import DuplicateSampleError, OutOfOrderSampleError
from vigie.store.encoding import decode_chunk
from vigie.store.head import CHUNK_SAMPLES, Head


def _samples(head: Head) -> list[tuple[list[int], list[float]]]:
    return [(t.tolist(), v.tolist()) for _, t, v in head.select([], -(2**62), 2**62)]


def test_open_arrays_are_cut_into_chunks() -> None:
    """Every CHUNK_SAMPLES appends become one compressed chunk; reads see all samples."""
    head = Head()
    series = head.get_or_create({"__name__": "c"})
    count = CHUNK_SAMPLES * 2 + 7
    assert head.insert([series] * count, list(range(count)), [float(i) for i in range(count)]) == []
    assert len(series.chunks) == 2
    assert len(series.ts) == 7
    assert _samples(head) == [(list(range(count)), [float(i) for i in range(count)])]


def test_same_labels_in_any_order_are_one_series() -> None:
    """Label dicts in different insertion orders name the same series."""
    head = Head()
    first = head.get_or_create({"a": "1", "b": "2"})
    assert head.get_or_create({"b": "2", "a": "1"}) is first
    assert head.get_or_create({"a": "1", "b": "2", "c": ""}) is first
    assert len(head) == 1


def test_ordering_rules() -> None:
    """Duplicates with another value and older samples are rejected; equal duplicates ignored."""
    head = Head()
    s = head.get_or_create({"__name__": "x"})
    head.insert([s, s], [10, 20], [1.0, 2.0])
    errors = head.insert([s, s, s], [20, 20, 15], [2.0, 3.0, 1.5])
    assert [type(e) for e in errors] == [DuplicateSampleError, OutOfOrderSampleError]
    assert _samples(head) == [([10, 20], [1.0, 2.0])]


def test_duplicate_found_inside_a_closed_chunk() -> None:
    """A re-sent old sample is recognised even after its chunk was compressed."""
    head = Head(out_of_order_window_ms=10**9)
    s = head.get_or_create({"__name__": "x"})
    head.insert([s] * CHUNK_SAMPLES, list(range(CHUNK_SAMPLES)), [1.0] * CHUNK_SAMPLES)
    head.insert([s], [CHUNK_SAMPLES + 5], [1.0])
    assert head.insert([s], [3], [1.0]) == []
    [error] = head.insert([s], [3], [9.0])
    assert isinstance(error, DuplicateSampleError)


def test_out_of_order_window_inserts_into_chunks_and_arrays() -> None:
    """Within the window, old samples land in time order, in closed chunks or open arrays."""
    head = Head(out_of_order_window_ms=10_000)
    s = head.get_or_create({"__name__": "x"})
    stamps = list(range(0, 2 * CHUNK_SAMPLES * 10, 10))
    head.insert([s] * len(stamps), stamps, [float(t) for t in stamps])
    late = [5, 1_205, stamps[-1] - 5]
    assert head.insert([s] * 3, late, [float(t) for t in late]) == []
    [(t, v)] = _samples(head)
    assert t == sorted(stamps + late)
    assert v == [float(x) for x in t]
    [error] = head.insert([s], [stamps[-1] - 20_000], [0.0])
    assert isinstance(error, OutOfOrderSampleError)


def test_min_valid_time_rejects_persisted_range() -> None:
    """A sample older than the newest block's end is out of bounds even for a new series."""
    head = Head(out_of_order_window_ms=10**9)
    head.min_valid_time = 1_000
    s = head.get_or_create({"__name__": "new"})
    [error] = head.insert([s], [999], [1.0])
    assert "out of bounds" in str(error)
    assert head.insert([s], [1_000], [1.0]) == []


def test_truncate_drops_old_samples_and_empty_series() -> None:
    """Truncation keeps samples at or after the boundary; series left empty are collected."""
    head = Head()
    old = head.get_or_create({"__name__": "old"})
    live = head.get_or_create({"__name__": "live"})
    stamps = list(range(0, 300))
    head.insert([old] * 100 + [live] * 300, stamps[:100] + stamps, [1.0] * 400)
    generation = head.generation
    head.truncate_before(150)
    assert head.generation == generation + 1
    assert [labels for labels, _, _ in head.select([], 0, 10**6)] == [(("__name__", "live"),)]
    [(t, _)] = _samples(head)
    assert t == list(range(150, 300))
    assert head.get_or_create({"__name__": "old"}) is not old


def test_before_yields_label_ordered_old_samples() -> None:
    """Block snapshots come in label order with only samples before the boundary."""
    head = Head()
    b = head.get_or_create({"__name__": "b"})
    a = head.get_or_create({"__name__": "a"})
    head.insert([b, a, b, a], [1, 1, 5, 5], [1.0, 2.0, 3.0, 4.0])
    result = []
    for labels, chunks in head.before(5):
        decoded = [decode_chunk(data) for _, _, data in chunks]
        result.append(
            (
                labels,
                [int(t) for d in decoded for t in d[0]],
                [float(v) for d in decoded for v in d[1]],
            )
        )
    assert result == [((("__name__", "a"),), [1], [2.0]), ((("__name__", "b"),), [1], [1.0])]


def test_before_passes_closed_chunks_through_and_splits_the_straddling_one() -> None:
    """Chunks wholly before the boundary are reused as they are; only one is re-encoded."""
    head = Head()
    s = head.get_or_create({"__name__": "x"})
    count = CHUNK_SAMPLES * 3
    head.insert([s] * count, list(range(count)), [float(i) for i in range(count)])
    boundary = CHUNK_SAMPLES + 10
    [(_, chunks)] = list(head.before(boundary))
    assert chunks[0] is s.chunks[0]
    stamps = np.concatenate([decode_chunk(data)[0] for _, _, data in chunks])
    assert stamps.tolist() == list(range(boundary))
    assert [(low, high) for low, high, _ in chunks] == [
        (0, CHUNK_SAMPLES - 1),
        (CHUNK_SAMPLES, boundary - 1),
    ]


def test_dump_and_restore_round_trip() -> None:
    """A checkpoint dump restores the same samples into a fresh head."""
    head = Head()
    s = head.get_or_create({"__name__": "x"})
    stamps = list(range(0, 250))
    head.insert([s] * 250, stamps, [float(t) * 0.5 for t in stamps])
    series, chunks = head.dump(0)
    fresh = Head()
    for ref, labels in series:
        fresh.restore_series(ref, labels)
    for ref, low, high, data in chunks:
        fresh.restore_chunk(ref, low, high, data)
    assert _samples(fresh) == _samples(head)
    assert fresh.series[s.ref].last_t == 249
    assert fresh.insert([fresh.series[s.ref]], [249], [124.5]) == []  # same value: ignored
    [error] = fresh.insert([fresh.series[s.ref]], [249], [1.0])
    assert isinstance(error, DuplicateSampleError)


@pytest.mark.parametrize("value", [float("nan")])
def test_nan_duplicates_are_equal(value: float) -> None:
    """Re-sending a NaN at the same timestamp is not a duplicate error."""
    head = Head()
    s = head.get_or_create({"__name__": "x"})
    head.insert([s], [1], [value])
    assert head.insert([s], [1], [value]) == []


def test_has_samples_sees_gaps_inside_chunks() -> None:
    """A chunk spanning the range without a sample inside it does not count."""
    head = Head()
    s = head.get_or_create({"__name__": "x"})
    stamps = list(range(0, 60)) + list(range(1_000, 1_000 + CHUNK_SAMPLES))
    head.insert([s] * len(stamps), stamps, [1.0] * len(stamps))
    assert s.chunks  # the first chunk spans 0..1059
    assert not s.has_samples(100, 900)
    assert s.has_samples(50, 900)
    assert s.has_samples(1_100, 1_100)
    assert head.matching([], 100, 900) == []


def _filled(count: int) -> Head:
    """A head of ``count`` series created out of label order, each with 150 samples."""
    head = Head()
    created = [
        head.get_or_create({"__name__": "m", "shard": str(i), "code": str(200 + i % 5)})
        for i in range(count)
    ]
    for t in range(150):  # more than a chunk: reads join a chunk and the open arrays
        head.insert(created, [t * 10] * count, [float(t + i) for i in range(count)])
    return head


@pytest.mark.parametrize("count", [3, 2_000])
def test_reads_are_in_label_order_and_exact(count: int) -> None:
    """Small and large reads (rank path) return every series in label order, samples exact."""
    head = _filled(count)
    found = head.read([], 1_195, 1_300)
    assert [labels for labels, _, _ in found] == sorted(s.labels for s in head.series.values())
    for labels, t, v in found:
        shard = int(dict(labels)["shard"])
        assert t.tolist() == list(range(1_200, 1_301, 10))
        assert v.tolist() == [float(t // 10 + shard) for t in range(1_200, 1_301, 10)]
    head.get_or_create({"__name__": "m", "shard": "-1", "code": "100"})  # invalidates ranks
    head.insert(
        [head.by_labels[(("__name__", "m"), ("code", "100"), ("shard", "-1"))]], [1_250], [0.5]
    )
    labels_read = [labels for labels, _, _ in head.read([], 1_195, 1_300)]
    assert labels_read == sorted(s.labels for s in head.series.values())


def test_read_crosses_a_chunk_boundary_and_skips_gaps() -> None:
    """A range over a cut chunk and the open arrays joins both; an empty window yields nothing."""
    head = _filled(3)
    [(_, t, _), *_] = head.read([], 1_170, 1_210)  # chunk ends at 1190, open arrays at 1200
    assert t.tolist() == [1_170, 1_180, 1_190, 1_200, 1_210]
    assert head.read([], 1_191, 1_199) == []
    assert head.read([], 5_000, 6_000) == []


def test_open_samples_of_a_read_share_one_buffer() -> None:
    """Series read from the open arrays are back-to-back views of one buffer (no copy each)."""
    head = _filled(2_000)
    found = head.read([], 1_200, 1_490)
    bases = {t.base is found[0][1].base for _, t, _ in found}
    assert bases == {True}
    ends = [t.__array_interface__["data"][0] for _, t, _ in found]
    assert ends == sorted(ends)


def test_label_pairs_and_strings_are_shared_between_series() -> None:
    """Two series with a common label hold the same pair object; strings are interned."""
    head = Head()
    job = "".join(["a", "p", "i"])  # a fresh string object, not a literal
    first = head.get_or_create({"job": job, "instance": "h:1"})
    second = head.get_or_create({"instance": "h:2", "job": "api"})
    assert dict(first.labels)["job"] == "api"
    assert first.labels[1] is second.labels[1]
    assert first.labels[1][1] is second.labels[1][1]


def test_remembered_label_orders() -> None:
    """Only callers that look labels up again get their order remembered; GC forgets it."""
    head = Head()
    kept = head.get_or_create({"b": "2", "a": "1"}, remember=False)
    assert head.by_raw == {}
    assert head.lookup((("b", "2"), ("a", "1"))) is None
    assert head.lookup((("a", "1"), ("b", "2"))) is kept  # sorted: found without remembering
    assert head.get_or_create({"b": "2", "a": "1"}) is kept
    assert head.lookup((("b", "2"), ("a", "1"))) is kept
    head.insert([kept], [1], [1.0])
    head.truncate_before(100)
    assert head.by_raw == {}
    assert head._pairs == {}


def test_label_map_is_shared_and_read_only() -> None:
    """Queries get one read-only dict per head series; copies of it are plain dicts."""
    head = Head()
    s = head.get_or_create({"job": "api"})
    shared = head.label_map(s.labels)
    assert shared == {"job": "api"}
    assert head.label_map(s.labels) is shared
    with pytest.raises(TypeError, match="copy them"):
        shared["job"] = "web"
    with pytest.raises(TypeError):
        shared.pop("job")
    assert type(head.label_map((("job", "gone"),))) is dict
    changed = dict(shared)
    changed["job"] = "web"
    assert shared == {"job": "api"}


def test_cached_selections_follow_series_coming_and_going() -> None:
    """A repeated large selection is served from the cache until series are created or dropped."""
    head = _filled(2_000)
    assert len(head.read([], 0, 10_000)) == 2_000  # cached from here
    late = head.get_or_create({"__name__": "m", "shard": "late", "code": "200"})
    head.insert([late], [5_000], [1.0])
    assert len(head.read([], 0, 10_000)) == 2_001
    assert late.labels in [labels for labels, _, _ in head.read([], 4_000, 10_000)]
    head.truncate_before(2_000)  # every series but the late one is left empty and dropped
    assert [labels for labels, _, _ in head.read([], 0, 10_000)] == [late.labels]
