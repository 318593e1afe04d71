"""Span search filters, the waterfall, RED summaries, restart and retention of the span store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vigie.exceptions import TelemetryError
from vigie.telemetry.records import Span
from vigie.telemetry.span_store import SpanStore
from vigie.telemetry.trace_search import (
    SpanQuery,
    get_trace,
    red_summary,
    search_spans,
    search_traces,
)

T1 = "11" * 16
T2 = "22" * 16
MS = 1_000_000


def _spans() -> list[Span]:
    resource = {"service.name": "api"}
    return [
        Span(T1, "a1" * 8, None, "GET /answer", "SERVER", "api", 1000 * MS, 1300 * MS,
             attributes={"http.route": "/answer", "http.response.status_code": 200},
             resource=resource),
        Span(T1, "a2" * 8, "a1" * 8, "retrieval", "CLIENT", "api", 1010 * MS, 1050 * MS,
             attributes={"top_k": 3}, resource=resource),
        Span(T1, "a3" * 8, "a1" * 8, "chat gpt-4o", "CLIENT", "api", 1060 * MS, 1290 * MS,
             status_code="ERROR", status_message="timeout",
             events=[{"name": "exception", "time_ns": 1289 * MS, "attributes": {}}],
             resource=resource),
        Span(T1, "a4" * 8, "a3" * 8, "POST /v1/chat", "SERVER", "llm", 1070 * MS, 1280 * MS,
             resource={"service.name": "llm"}),
        Span(T2, "b1" * 8, None, "GET /answer", "SERVER", "api", 2000 * MS, 2020 * MS,
             attributes={"http.route": "/answer", "http.response.status_code": 200},
             resource=resource),
        Span(T2, "b2" * 8, "b1" * 8, "retrieval", "CLIENT", "api", 2001 * MS, 2005 * MS,
             attributes={"top_k": 5, "cached": True}, resource=resource),
    ]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> SpanStore:
    """A span store holding two traces."""
    store = SpanStore(tmp_path / "traces.db")
    store.write(_spans())
    return store


def _names(spans: list[Span]) -> list[str]:
    return [span.name for span in spans]


def test_each_filter_returns_exactly_the_matching_spans(store: SpanStore) -> None:
    """Service, name, status, duration bounds, attributes, kind and time range, newest first."""
    assert _names(search_spans(store, SpanQuery(service="llm"))) == ["POST /v1/chat"]
    assert _names(search_spans(store, SpanQuery(service="api", name="retrieval"))) == [
        "retrieval",
        "retrieval",
    ]
    assert _names(search_spans(store, SpanQuery(status="error"))) == ["chat gpt-4o"]
    assert _names(search_spans(store, SpanQuery(min_duration_ns=230 * MS))) == [
        "chat gpt-4o",
        "GET /answer",
    ]
    assert _names(search_spans(store, SpanQuery(max_duration_ns=5 * MS))) == ["retrieval"]
    assert [s.span_id for s in search_spans(store, SpanQuery(attributes={"top_k": 5}))] == [
        "b2" * 8
    ]
    assert _names(search_spans(store, SpanQuery(attributes={"cached": True}))) == ["retrieval"]
    assert _names(search_spans(store, SpanQuery(attributes={"http.route": "/answer"}))) == [
        "GET /answer",
        "GET /answer",
    ]
    assert _names(search_spans(store, SpanQuery(kind="server", start_ns=1500 * MS))) == [
        "GET /answer"
    ]
    assert _names(search_spans(store, SpanQuery(end_ns=1010 * MS))) == ["GET /answer"]
    assert search_spans(store, SpanQuery(service="api", limit=2))[0].trace_id == T2
    with pytest.raises(ValueError, match="status must be one of"):
        search_spans(store, SpanQuery(status="bad"))


def test_trace_summaries_name_root_duration_and_errors(store: SpanStore) -> None:
    """search_traces groups matching spans by trace, newest first."""
    summaries = search_traces(store, SpanQuery(service="api", name="retrieval"))
    assert [(s.trace_id, s.root_name, s.span_count, s.error_count) for s in summaries] == [
        (T2, "GET /answer", 2, 0),
        (T1, "GET /answer", 4, 1),
    ]
    assert summaries[1].duration_ns == 300 * MS


def test_waterfall_has_depth_offset_and_duration_per_span(store: SpanStore) -> None:
    """get_trace returns the tree depth-first with offsets from the trace start."""
    trace = get_trace(store, T1.upper())
    assert trace is not None
    assert trace.duration_ns == 300 * MS
    rows = [
        (r.span.name, r.depth, r.offset_ns // MS, r.span.duration_ns // MS) for r in trace.spans
    ]
    assert rows == [
        ("GET /answer", 0, 0, 300),
        ("retrieval", 1, 10, 40),
        ("chat gpt-4o", 1, 60, 230),
        ("POST /v1/chat", 2, 70, 210),
    ]
    chat = trace.spans[2].to_dict()
    assert chat["status_code"] == "ERROR"
    assert chat["events"][0]["name"] == "exception"
    assert [child.span.name for child in trace.roots[0].children] == ["retrieval", "chat gpt-4o"]
    assert get_trace(store, "ff" * 16) is None


def test_orphan_span_becomes_a_root(tmp_path: Path) -> None:
    """A span whose parent was never received is drawn as a root, not lost."""
    store = SpanStore(tmp_path / "t.db")
    store.write([Span(T1, "01" * 8, "99" * 8, "late child", "INTERNAL", "api", 5, 9)])
    trace = get_trace(store, T1)
    assert trace is not None
    assert [(r.span.name, r.depth) for r in trace.spans] == [("late child", 0)]
    store.close()


def test_red_summary_per_operation(store: SpanStore) -> None:
    """Calls, errors, rate over the window and nearest-rank percentiles per operation."""
    summary = red_summary(store, start_ns=0, end_ns=10_000 * MS, service="api")
    by_name = {s.name: s for s in summary}
    assert sorted(by_name) == ["GET /answer", "chat gpt-4o", "retrieval"]
    answer = by_name["GET /answer"]
    assert (answer.calls, answer.errors, answer.p50_ns, answer.p99_ns) == (2, 0, 20 * MS, 300 * MS)
    assert answer.rate_per_second == pytest.approx(0.2)
    assert by_name["chat gpt-4o"].error_ratio == 1.0


def test_restart_keeps_every_span(tmp_path: Path) -> None:
    """Closing and reopening the file gives back the same spans, attributes and resources."""
    store = SpanStore(tmp_path / "traces.db")
    store.write(_spans())
    before = search_spans(store, SpanQuery(limit=100))
    store.close()
    reopened = SpanStore(tmp_path / "traces.db")
    assert search_spans(reopened, SpanQuery(limit=100)) == before
    assert reopened.count() == 6
    reopened.close()


def test_retention_by_age_and_by_size(tmp_path: Path) -> None:
    """Spans older than the cutoff go; the oldest go until the data fits the byte budget."""
    store = SpanStore(tmp_path / "traces.db")
    store.write(_spans())
    assert store.delete_older_than(1500 * MS) == 4
    assert {s.trace_id for s in search_spans(store, SpanQuery())} == {T2}
    big = [
        Span(f"{i:032x}", "01" * 8, None, "bulk", "INTERNAL", "api", 10_000 + i, 10_001 + i,
             attributes={"payload": "x" * 500})
        for i in range(1, 2001)
    ]  # fmt: skip
    store.write(big)
    size_before = store.database.used_bytes()
    assert size_before > 1_000_000
    deleted = store.shrink_to(400_000)
    assert store.database.used_bytes() <= 400_000
    remaining = search_spans(store, SpanQuery(name="bulk", limit=5000))
    assert deleted + len(remaining) == 2000  # the two T2 spans are newer than any bulk span
    assert store.count() == len(remaining) + 2
    # The newest survive: every remaining span is newer than every deleted one.
    assert min(s.start_ns for s in remaining) == 10_000 + 2001 - len(remaining)
    assert (tmp_path / "traces.db").stat().st_size < size_before
    store.close()


def test_corrupted_file_raises_telemetry_error_naming_it(tmp_path: Path) -> None:
    """A file that is not a database is reported with its path, not as a raw sqlite3 error."""
    path = tmp_path / "traces.db"
    path.write_bytes(b"this is not a database" * 200)
    with pytest.raises(TelemetryError, match=r"traces\.db: file is not a database") as caught:
        SpanStore(path)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


def test_locked_database_raises_telemetry_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the write lock gives a TelemetryError saying so; no data is lost."""
    monkeypatch.setattr("vigie.telemetry.database._BUSY_TIMEOUT_MS", 100)
    store = SpanStore(tmp_path / "traces.db")
    other = sqlite3.connect(tmp_path / "traces.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(TelemetryError, match="another process holds a write lock"):
        store.write(_spans())
    other.execute("ROLLBACK")
    other.close()
    store.write(_spans())
    assert store.count() == 6
    store.close()
