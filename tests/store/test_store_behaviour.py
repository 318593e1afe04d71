"""The reference MemoryStorage and the on-disk DiskStorage behave the same through the interface."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from vigie.exceptions import DuplicateSampleError, OutOfOrderSampleError, StoreError
from vigie.store import STALE_NAN, Matcher, MemoryStorage, Storage, is_stale
from vigie.store.tsdb import DiskStorage

Factory = Callable[..., Storage]


@pytest.fixture(params=["memory", "disk"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Factory]:
    """A factory for the store under test; ``ooo=True`` allows out-of-order samples."""
    opened: list[DiskStorage] = []

    def factory(*, ooo: bool = False) -> Storage:
        if request.param == "memory":
            return MemoryStorage(allow_out_of_order=ooo)
        storage = DiskStorage(
            tmp_path / f"data{len(opened)}", out_of_order_window_ms=10**12 if ooo else 0
        )
        opened.append(storage)
        return storage

    yield factory
    for storage in opened:
        storage.close()


def _write(storage: Storage, samples: list[tuple[dict[str, str], int, float]]) -> None:
    appender = storage.appender()
    for labels, timestamp, value in samples:
        appender.append(labels, timestamp, value)
    appender.commit()


def _dump(
    storage: Storage,
    matchers: list[Matcher] | None = None,
    mint: int = -(10**15),
    maxt: int = 10**15,
) -> list[tuple[dict[str, str], list[int], list[float]]]:
    return [
        (s.labels, s.timestamps.tolist(), s.values.tolist())
        for s in storage.querier().select(matchers or [], mint, maxt)
    ]


def test_commit_makes_samples_visible(make: Factory) -> None:
    """Samples are invisible until commit, then readable with their labels."""
    storage = make()
    appender = storage.appender()
    appender.append({"__name__": "up", "job": "api"}, 1_000, 1.0)
    assert _dump(storage) == []
    appender.commit()
    assert _dump(storage) == [({"__name__": "up", "job": "api"}, [1_000], [1.0])]


def test_rollback_drops_buffered_samples(make: Factory) -> None:
    """Rolled-back samples never appear; the appender stays usable."""
    storage = make()
    appender = storage.appender()
    appender.append({"__name__": "up"}, 1_000, 1.0)
    appender.rollback()
    appender.commit()
    assert _dump(storage) == []
    appender.append({"__name__": "up"}, 2_000, 2.0)
    appender.commit()
    assert _dump(storage) == [({"__name__": "up"}, [2_000], [2.0])]


def test_select_sorts_series_by_labels_and_range_is_inclusive(make: Factory) -> None:
    """Output is sorted by label pairs; mint and maxt are both included."""
    storage = make()
    _write(storage, [({"__name__": "b", "x": "1"}, t, float(t)) for t in (10, 20, 30, 40)])
    _write(storage, [({"__name__": "a", "x": "2"}, t, float(t)) for t in (10, 20, 30, 40)])
    _write(storage, [({"__name__": "a", "x": "1"}, 50, 5.0)])
    result = _dump(storage, mint=20, maxt=30)
    assert result == [
        ({"__name__": "a", "x": "2"}, [20, 30], [20.0, 30.0]),
        ({"__name__": "b", "x": "1"}, [20, 30], [20.0, 30.0]),
    ]


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        (Matcher("job", "=", "api"), ["api"]),
        (Matcher("job", "!=", "api"), ["", "web"]),
        (Matcher("job", "=~", "a.*|w.b"), ["api", "web"]),
        (Matcher("job", "!~", "a.*"), ["", "web"]),
        (Matcher("job", "=", ""), [""]),
        (Matcher("job", "=~", "ap"), []),
        (Matcher("job", "=~", ".+"), ["api", "web"]),
    ],
)
def test_matchers_follow_promql_semantics(
    make: Factory, matcher: Matcher, expected: list[str]
) -> None:
    """=, !=, =~, !~ select like PromQL: anchored regexes, absent label equals the empty string."""
    storage = make()
    _write(
        storage,
        [
            ({"__name__": "m", "job": "api"}, 1, 1.0),
            ({"__name__": "m", "job": "web"}, 1, 1.0),
            ({"__name__": "m"}, 1, 1.0),
        ],
    )
    found = [s.labels.get("job", "") for s in storage.querier().select([matcher], 0, 10)]
    assert sorted(found) == expected


def test_empty_label_value_is_not_part_of_identity(make: Factory) -> None:
    """A label with an empty value is dropped: {a="1", b=""} is the series {a="1"}."""
    storage = make()
    _write(storage, [({"a": "1", "b": ""}, 1, 1.0), ({"a": "1"}, 2, 2.0)])
    assert _dump(storage) == [({"a": "1"}, [1, 2], [1.0, 2.0])]


def test_duplicate_same_value_is_ignored(make: Factory) -> None:
    """Re-sending the same sample (also a NaN) is not an error and stores it once."""
    storage = make()
    _write(storage, [({"a": "1"}, 5, 1.0), ({"b": "1"}, 5, math.nan)])
    _write(storage, [({"a": "1"}, 5, 1.0), ({"b": "1"}, 5, math.nan)])
    assert [len(s.timestamps) for s in storage.querier().select([], 0, 10)] == [1, 1]


def test_duplicate_other_value_is_rejected(make: Factory) -> None:
    """The same timestamp with a different value raises DuplicateSampleError; the first stays."""
    storage = make()
    _write(storage, [({"a": "1"}, 5, 1.0)])
    with pytest.raises(DuplicateSampleError):
        _write(storage, [({"a": "1"}, 5, 2.0)])
    assert _dump(storage) == [({"a": "1"}, [5], [1.0])]


def test_out_of_order_is_rejected_by_default(make: Factory) -> None:
    """An older sample than the newest raises OutOfOrderSampleError and is not stored."""
    storage = make()
    _write(storage, [({"a": "1"}, 10, 1.0)])
    with pytest.raises(OutOfOrderSampleError):
        _write(storage, [({"a": "1"}, 5, 2.0)])
    assert _dump(storage) == [({"a": "1"}, [10], [1.0])]


def test_valid_samples_before_a_rejected_one_are_kept(make: Factory) -> None:
    """A rejected sample does not take the batch's earlier valid samples with it."""
    storage = make()
    _write(storage, [({"a": "1"}, 10, 1.0)])
    with pytest.raises(StoreError):
        _write(storage, [({"b": "1"}, 1, 1.0), ({"a": "1"}, 5, 2.0)])
    assert _dump(storage) == [({"a": "1"}, [10], [1.0]), ({"b": "1"}, [1], [1.0])]


def test_out_of_order_accepted_when_allowed(make: Factory) -> None:
    """With out-of-order ingestion on, older samples are inserted in time order."""
    storage = make(ooo=True)
    _write(storage, [({"a": "1"}, t, float(t)) for t in (10, 30, 50)])
    _write(storage, [({"a": "1"}, 20, 20.0), ({"a": "1"}, 40, 40.0), ({"a": "1"}, 5, 5.0)])
    assert _dump(storage) == [
        ({"a": "1"}, [5, 10, 20, 30, 40, 50], [5.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    ]


def test_special_values_round_trip_bit_exact(make: Factory) -> None:
    """Staleness markers, NaN, infinities and -0.0 come back with their exact bits."""
    storage = make()
    values = [STALE_NAN, math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-300, 2.0**60]
    _write(storage, [({"a": "1"}, i, v) for i, v in enumerate(values)])
    [series] = storage.querier().select([], 0, 100)
    assert series.values.view(np.uint64).tolist() == np.array(values).view(np.uint64).tolist()
    assert is_stale(float(series.values[0]))
    assert not is_stale(float(series.values[1]))


def test_label_names_and_values(make: Factory) -> None:
    """Label names and values come from the matching series with samples in range, sorted."""
    storage = make()
    _write(
        storage,
        [
            ({"__name__": "m", "job": "web", "zone": "b"}, 1, 1.0),
            ({"__name__": "m", "job": "api"}, 1, 1.0),
            ({"__name__": "n", "job": "old"}, 100, 1.0),
        ],
    )
    querier = storage.querier()
    assert querier.label_names([], 0, 10) == ["__name__", "job", "zone"]
    assert querier.label_values("job", [], 0, 10) == ["api", "web"]
    assert querier.label_values("job", [Matcher("__name__", "=", "n")], 0, 1000) == ["old"]


def test_many_commits_accumulate_in_time_order(make: Factory) -> None:
    """Successive commits extend series; each series' timestamps are sorted and unique."""
    storage = make()
    for t in range(0, 1_000, 10):
        _write(storage, [({"__name__": "c", "i": str(i)}, t, float(t * i)) for i in range(3)])
    result = storage.querier().select([Matcher("i", "=", "2")], 0, 10_000)
    assert len(result) == 1
    assert result[0].timestamps.tolist() == list(range(0, 1_000, 10))
    assert result[0].values.tolist() == [float(t * 2) for t in range(0, 1_000, 10)]


def test_label_values_ignore_series_with_a_gap_over_the_range(make: Factory) -> None:
    """A series with samples before and after, but none inside, the range is not listed."""
    storage = make()
    _write(
        storage,
        [({"__name__": "gap", "job": "a"}, 0, 1.0), ({"__name__": "gap", "job": "a"}, 100, 1.0)],
    )
    _write(storage, [({"__name__": "gap", "job": "b"}, 50, 1.0)])
    assert storage.querier().label_values("job", [], 40, 60) == ["b"]
    assert storage.querier().label_values("job", [], 0, 60) == ["a", "b"]


def test_append_ref_stores_what_append_would(make: Factory) -> None:
    """A ref from ``ref()`` appends to its series, across commits and appenders."""
    storage = make()
    appender = storage.appender()
    ref = appender.ref({"__name__": "up", "job": "api"})
    appender.append_ref(ref, 1_000, 1.0)
    assert _dump(storage) == []
    appender.commit()
    later = storage.appender()
    later.append_ref(ref, 2_000, STALE_NAN)
    later.append({"job": "api", "__name__": "up"}, 3_000, 3.0)
    later.commit()
    [(labels, timestamps, values)] = _dump(storage)
    assert labels == {"__name__": "up", "job": "api"}
    assert timestamps == [1_000, 2_000, 3_000]
    assert values[0] == 1.0
    assert is_stale(values[1])
    assert values[2] == 3.0


def test_append_ref_rejections_and_rollback_match_append(make: Factory) -> None:
    """Through refs, duplicates are refused at commit and rolled-back samples vanish."""
    storage = make()
    appender = storage.appender()
    ref = appender.ref({"__name__": "up"})
    appender.append_ref(ref, 1_000, 1.0)
    appender.commit()
    appender.append_ref(ref, 1_000, 2.0)
    with pytest.raises(DuplicateSampleError):
        appender.commit()
    appender.append_ref(ref, 5_000, 5.0)
    appender.rollback()
    appender.commit()
    assert _dump(storage) == [({"__name__": "up"}, [1_000], [1.0])]


def test_append_ref_refuses_a_foreign_ref(make: Factory) -> None:
    """Something that is not a ref of this store is refused with a StoreError."""
    appender = make().appender()
    with pytest.raises(StoreError, match="not a series reference"):
        appender.append_ref("up", 1_000, 1.0)


def test_append_many_stores_a_run_of_one_series(make: Factory) -> None:
    """append_many stores every pair, from lists or numpy arrays, once committed."""
    storage = make()
    appender = storage.appender()
    appender.append_many({"__name__": "x"}, [1_000, 2_000], [1.0, 2.0])
    appender.append_many({"__name__": "x"}, np.array([3_000]), np.array([3.0]))
    appender.append_many({"__name__": "x"}, [], [])
    appender.commit()
    assert _dump(storage) == [({"__name__": "x"}, [1_000, 2_000, 3_000], [1.0, 2.0, 3.0])]


def test_append_many_refuses_mismatched_lengths(make: Factory) -> None:
    """Two timestamps and one value is an error naming both counts; nothing is buffered."""
    storage = make()
    appender = storage.appender()
    with pytest.raises(StoreError, match="2 timestamps but 1 values"):
        appender.append_many({"__name__": "x"}, [1_000, 2_000], [1.0])
    appender.commit()
    assert _dump(storage) == []


def test_append_many_out_of_order_run_is_validated_at_commit(make: Factory) -> None:
    """A run going back in time is refused (default) for the older sample, the newer kept."""
    storage = make()
    appender = storage.appender()
    appender.append_many({"__name__": "x"}, [2_000, 1_000], [2.0, 1.0])
    with pytest.raises(OutOfOrderSampleError):
        appender.commit()
    assert _dump(storage) == [({"__name__": "x"}, [2_000], [2.0])]


def test_selection_through_the_index_equals_checking_every_series(make: Factory) -> None:
    """Every matcher kind, alone and combined, selects exactly the series a full scan would."""
    storage = make()
    rng = np.random.default_rng(7)
    samples = []
    for i in range(60):
        labels = {"__name__": f"m{i % 3}", "job": f"j{i % 5}"}
        if i % 4:
            labels["env"] = ["prod", "dev", "test"][int(rng.integers(3))]
        samples.append((labels, 1_000 + i, float(i)))
    _write(storage, samples)
    everything = _dump(storage)
    cases = [
        [Matcher("job", "=", "j1")],
        [Matcher("env", "!=", "prod")],
        [Matcher("env", "=~", "d.*|test")],
        [Matcher("env", "!~", "prod|")],
        [Matcher("env", "=", "")],
        [
            Matcher("__name__", "=", "m1"),
            Matcher("env", "!~", "dev"),
            Matcher("job", "=~", "j[12]"),
        ],
        [Matcher("job", "=", "nope")],
    ]
    for matchers in cases:
        expected = [s for s in everything if all(m.matches(s[0].get(m.name, "")) for m in matchers)]
        assert _dump(storage, matchers) == expected, matchers


def test_selected_arrays_are_read_only_snapshots(make: Factory) -> None:
    """A selected series does not change when more samples are committed later."""
    storage = make()
    _write(storage, [({"__name__": "x"}, 1_000, 1.0)])
    [before] = storage.querier().select([], 0, 10_000)
    _write(storage, [({"__name__": "x"}, 2_000, 2.0)])
    assert before.timestamps.tolist() == [1_000]
    [after] = storage.querier().select([], 0, 10_000)
    assert after.timestamps.tolist() == [1_000, 2_000]


def test_append_refs_stores_one_sample_per_series_at_one_time(make: Factory) -> None:
    """A scrape's worth of refs and values lands as the same appends would, at one timestamp."""
    storage = make()
    appender = storage.appender()
    refs = [appender.ref({"__name__": "up", "instance": name}) for name in ("b", "a")]
    appender.append_refs(refs, 1_000, [1.0, 2.0])
    appender.append_refs(refs, 2_000, [3, 4])
    appender.append_refs([], 3_000, [])
    appender.commit()
    assert _dump(storage) == [
        ({"__name__": "up", "instance": "a"}, [1_000, 2_000], [2.0, 4.0]),
        ({"__name__": "up", "instance": "b"}, [1_000, 2_000], [1.0, 3.0]),
    ]


def test_append_refs_refuses_bad_input_and_buffers_nothing(make: Factory) -> None:
    """Mismatched lengths or a foreign ref raise StoreError; nothing of that call is stored."""
    storage = make()
    appender = storage.appender()
    ref = appender.ref({"__name__": "up"})
    with pytest.raises(StoreError, match="2 refs but 1 values"):
        appender.append_refs([ref, ref], 1_000, [1.0])
    with pytest.raises(StoreError, match="not a series reference"):
        appender.append_refs([ref, "up"], 1_000, [1.0, 2.0])
    appender.commit()
    assert _dump(storage) == []
