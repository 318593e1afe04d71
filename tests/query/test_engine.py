"""The engine's public API over a MemoryStorage: results, types, errors, limits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from vigie.exceptions import QueryError, QueryLimitError, QueryTimeoutError
from vigie.query import Engine, InstantVector, Matrix, Scalar, String
from vigie.store.interface import STALE_NAN
from vigie.store.memory import MemoryStorage
from vigie.store.tsdb import DiskStorage

MINUTE = 60_000


@pytest.fixture
def storage() -> MemoryStorage:
    store = MemoryStorage()
    appender = store.appender()
    for minute in range(11):
        for route, factor in (("/a", 1.0), ("/b", 2.0)):
            labels = {"__name__": "requests_total", "route": route}
            appender.append(labels, minute * MINUTE, minute * 60.0 * factor)
    appender.append({"__name__": "temperature"}, 0, 20.0)
    appender.append({"__name__": "temperature"}, 2 * MINUTE, STALE_NAN)
    appender.commit()
    return store


def _values(result: object) -> dict[str, float]:
    assert isinstance(result, InstantVector)
    return {sample.labels.get("route", ""): sample.value for sample in result.samples}


def test_rate_by_route(storage: MemoryStorage) -> None:
    """rate() over a steady counter gives its per-second slope, without the metric name."""
    result = Engine(storage).instant("rate(requests_total[5m])", 10 * MINUTE)
    assert isinstance(result, InstantVector)
    assert _values(result) == pytest.approx({"/a": 1.0, "/b": 2.0})
    assert all("__name__" not in sample.labels for sample in result.samples)
    assert {sample.timestamp_ms for sample in result.samples} == {10 * MINUTE}


def test_aggregation_and_binary(storage: MemoryStorage) -> None:
    """sum by / division by a scalar / comparison filter combine as in Prometheus."""
    engine = Engine(storage)
    ratio = engine.instant(
        'sum(rate(requests_total{route="/a"}[5m])) / sum(rate(requests_total[5m]))', 10 * MINUTE
    )
    assert isinstance(ratio, InstantVector)
    assert ratio.samples[0].value == pytest.approx(1 / 3)
    filtered = engine.instant("requests_total > 700", 10 * MINUTE)
    assert _values(filtered) == {"/b": 1200.0}


def test_staleness_marker_ends_series(storage: MemoryStorage) -> None:
    """A staleness marker hides the series before the lookback window ends."""
    engine = Engine(storage)
    assert _values(engine.instant("temperature", MINUTE)) == {"": 20.0}
    assert _values(engine.instant("temperature", 2 * MINUTE)) == {}


def test_range_query_returns_matrix(storage: MemoryStorage) -> None:
    """A range query evaluates every step; series are sorted by labels."""
    matrix = Engine(storage).range("requests_total", 0, 2 * MINUTE, MINUTE)
    assert isinstance(matrix, Matrix)
    assert [s.labels["route"] for s in matrix.series] == ["/a", "/b"]
    assert matrix.series[1].timestamps.tolist() == [0, MINUTE, 2 * MINUTE]
    assert matrix.series[1].values.tolist() == [0.0, 120.0, 240.0]


def test_scalar_and_string_results(storage: MemoryStorage) -> None:
    """Scalars and strings come back as their own types; a scalar range query is a matrix."""
    engine = Engine(storage)
    assert engine.instant("1 + 2 * 3", 0) == Scalar(0, 7.0)
    assert engine.instant('"hello"', 5) == String(5, "hello")
    matrix = engine.range("time()", 0, 2 * MINUTE, MINUTE)
    assert matrix.series[0].labels == {}
    assert matrix.series[0].values.tolist() == [0.0, 60.0, 120.0]


def test_subquery_and_offset(storage: MemoryStorage) -> None:
    """A subquery over rate() and an offset selector read the right window."""
    engine = Engine(storage)
    result = engine.instant("max_over_time(rate(requests_total[2m])[5m:1m])", 10 * MINUTE)
    assert _values(result) == pytest.approx({"/a": 1.0, "/b": 2.0})
    assert _values(engine.instant("requests_total offset 5m", 10 * MINUTE)) == {
        "/a": 300.0,
        "/b": 600.0,
    }


def test_range_query_matches_instant_queries(storage: MemoryStorage) -> None:
    """Each step of a range query equals the instant query at that time."""
    engine = Engine(storage)
    query = "sum by (route) (increase(requests_total[3m])) + on(route) group_left requests_total"
    matrix = engine.range(query, 3 * MINUTE, 10 * MINUTE, MINUTE)
    for series in matrix.series:
        for timestamp, value in zip(
            series.timestamps.tolist(), series.values.tolist(), strict=True
        ):
            instant = _values(engine.instant(query, timestamp))
            assert math.isclose(instant[series.labels["route"]], value)


def test_histogram_quantile_over_classic_buckets() -> None:
    """histogram_quantile interpolates inside the bucket holding the rank."""
    store = MemoryStorage()
    appender = store.appender()
    for bound, count in (("0.1", 10.0), ("0.5", 60.0), ("+Inf", 100.0)):
        appender.append({"__name__": "latency_bucket", "le": bound}, 0, count)
    appender.commit()
    result = Engine(store).instant("histogram_quantile(0.5, latency_bucket)", 0)
    assert isinstance(result, InstantVector)
    assert result.samples[0].labels == {}
    assert result.samples[0].value == pytest.approx(0.1 + 0.4 * (40 / 50))


def test_query_function_is_instant(storage: MemoryStorage) -> None:
    """query_function() is what rules receive: (expr, time_ms) -> result."""
    query = Engine(storage).query_function()
    assert _values(query("requests_total", 0)) == {"/a": 0.0, "/b": 0.0}


def test_evaluate_returns_annotations(storage: MemoryStorage) -> None:
    """Warnings are returned beside the result, Prometheus-formatted with the position."""
    evaluation = Engine(storage).evaluate("sort(requests_total)", 0, MINUTE, MINUTE, instant=False)
    assert evaluation.warnings == [
        "PromQL warning: sort is ineffective for range queries since results are always "
        "ordered by labels (1:1)"
    ]


def test_sample_limit(storage: MemoryStorage) -> None:
    """A query loading more samples than allowed fails with QueryLimitError."""
    with pytest.raises(QueryLimitError, match="too many samples"):
        Engine(storage, max_samples=5).instant("requests_total[10m]", 10 * MINUTE)
    engine = Engine(storage, max_samples=21)
    assert len(engine.range("requests_total", 0, 9 * MINUTE, MINUTE).series) == 2  # 20 points
    with pytest.raises(QueryLimitError):
        engine.range("requests_total", 0, 10 * MINUTE, MINUTE)  # 22 points
    with pytest.raises(QueryLimitError, match="increase the step"):
        engine.range("1", 0, 10**12, 1)  # refused before anything is allocated


def test_timeout(storage: MemoryStorage) -> None:
    """A query past its deadline fails with QueryTimeoutError."""
    with pytest.raises(QueryTimeoutError):
        Engine(storage, timeout_s=-1.0).instant("requests_total", 0)


def test_execution_errors(storage: MemoryStorage) -> None:
    """Matching errors and invalid range-query types are QueryErrors."""
    engine = Engine(storage)
    with pytest.raises(QueryError, match="many-to-many matching not allowed"):
        engine.instant("requests_total + on() requests_total", 0)
    with pytest.raises(QueryError, match="range vector"):
        engine.range("requests_total[5m]", 0, MINUTE, MINUTE)
    with pytest.raises(QueryError, match="step"):
        engine.range("requests_total", 0, MINUTE, 0)


def test_vectorised_range_query_is_consistent_for_many_steps(storage: MemoryStorage) -> None:
    """Rate over 600 steps keeps per-step values equal to the slope once warmed up."""
    matrix = Engine(storage).range("rate(requests_total[5m])", 5 * MINUTE, 10 * MINUTE, 500)
    values = np.concatenate([series.values for series in matrix.series])
    assert len(matrix.series) == 2
    assert set(np.round(values, 9).tolist()) <= {1.0, 2.0}


def test_window_batching_does_not_change_results(
    storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Splitting window matrices into tiny batches gives the same numbers."""
    from vigie.query import range_functions

    engine = Engine(storage)
    queries = [
        "avg_over_time(requests_total[5m])",
        "deriv(requests_total[4m])",
        "stddev_over_time(requests_total[3m])",
        "rate(requests_total[2m])",
    ]
    expected = [engine.range(q, 0, 10 * MINUTE, 30_000) for q in queries]
    monkeypatch.setattr(range_functions, "_BATCH_CELLS", 7)
    for query, reference in zip(queries, expected, strict=True):
        result = engine.range(query, 0, 10 * MINUTE, 30_000)
        assert [s.labels for s in result.series] == [s.labels for s in reference.series]
        for ours, theirs in zip(result.series, reference.series, strict=True):
            assert ours.timestamps.tolist() == theirs.timestamps.tolist()
            np.testing.assert_allclose(ours.values, theirs.values, rtol=1e-12)


def test_range_functions_skip_staleness_markers_only_where_present() -> None:
    """Among many series, markers are dropped from the marked ones; others are read whole."""
    store = MemoryStorage()
    appender = store.appender()
    for index in range(5):
        labels = {"__name__": "gauge", "i": str(index)}
        for minute in range(4):
            marked = index in (1, 3) and minute == 2
            appender.append(labels, minute * MINUTE, STALE_NAN if marked else float(index))
    appender.commit()
    result = Engine(store).instant("count_over_time(gauge[5m])", 3 * MINUTE)
    assert isinstance(result, InstantVector)
    counts = {sample.labels["i"]: sample.value for sample in result.samples}
    assert counts == {"0": 4.0, "1": 3.0, "2": 4.0, "3": 3.0, "4": 4.0}


def test_disk_store_range_query_equals_memory_store(tmp_path: Path) -> None:
    """The same samples give the same range query result from blocks, head and memory."""
    memory = MemoryStorage()
    disk = DiskStorage(tmp_path, background=False, fsync="never")
    try:
        for store in (memory, disk):
            appender = store.appender()
            for minute in range(300):
                for route in ("/a", "/b", "/c"):
                    labels = {"__name__": "requests_total", "route": route}
                    appender.append(labels, minute * MINUTE, float(minute * len(route)))
            appender.commit()
        disk.flush()  # most samples now in blocks, read through the chunk cache
        query = 'sum by (route) (rate(requests_total{route=~"/a|/b"}[5m]))'
        expected = Engine(memory).range(query, 60 * MINUTE, 299 * MINUTE, MINUTE)
        for _ in range(2):  # the second read comes from the cache
            got = Engine(disk).range(query, 60 * MINUTE, 299 * MINUTE, MINUTE)
            assert [s.labels for s in got.series] == [s.labels for s in expected.series]
            for ours, theirs in zip(got.series, expected.series, strict=True):
                assert ours.timestamps.tolist() == theirs.timestamps.tolist()
                assert ours.values.tolist() == theirs.values.tolist()
    finally:
        disk.close()


def test_changes_and_resets_when_the_last_series_ends_before_the_range() -> None:
    """Windows after the last sample of the last series are empty, not an index error."""
    store = MemoryStorage()
    appender = store.appender()
    for minute in range(10):
        appender.append({"__name__": "x", "i": "a"}, minute * MINUTE, float(minute % 3))
        if minute < 5:
            appender.append({"__name__": "x", "i": "b"}, minute * MINUTE, float(minute % 2))
    appender.commit()
    engine = Engine(store)
    changes = engine.range("changes(x[2m])", 0, 15 * MINUTE, MINUTE)
    assert [s.labels["i"] for s in changes.series] == ["a", "b"]
    assert changes.series[1].values.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    resets = engine.range("resets(x[2m])", 0, 15 * MINUTE, MINUTE)
    assert resets.series[1].values.tolist() == [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]


def test_window_search_strategies_and_batches_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """One search per series, one shared search, big or tiny batches: identical numbers, also
    for counters that reset inside windows of several series."""
    from vigie.query import range_functions

    store = MemoryStorage()
    appender = store.appender()
    rng = np.random.default_rng(7)
    for index in range(6):
        labels = {"__name__": "c_total", "i": str(index)}
        value = 0.0
        for step in range(120):
            value = 0.0 if rng.random() < 0.05 else value + float(rng.integers(0, 9))
            appender.append(labels, step * 15_000 + index * 1_000, value)
    appender.commit()
    engine = Engine(store)
    queries = ["rate(c_total[1m])", "increase(c_total[3m])", "changes(c_total[2m])"]

    def run() -> list[list[tuple[list[int], list[float]]]]:
        return [
            [
                (s.timestamps.tolist(), s.values.tolist())
                for s in engine.range(query, 0, 31 * MINUTE, 20_000).series
            ]
            for query in queries
        ]

    monkeypatch.setattr(range_functions, "_SEARCH_EACH", 10**9)
    shared = run()
    monkeypatch.setattr(range_functions, "_SEARCH_EACH", 1)
    assert run() == shared
    monkeypatch.setattr(range_functions, "_BATCH_CELLS", 5)
    assert run() == shared
    assert any(value > 0 for _, values in shared[0] for value in values)
