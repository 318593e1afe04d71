"""Log search by time, level, service, text, ids and any field; live tail; restart; retention."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vigie.telemetry.log_search import LogQuery, search_logs, sse_event, tail
from vigie.telemetry.log_store import LogStore
from vigie.telemetry.records import LogRecord

TRACE = "0af7651916cd43dd8448eb211c80319c"


def _records() -> list[LogRecord]:
    return [
        LogRecord(time_ns=100, body="question received", service="faq", level="INFO",
                  request_id="req-1", trace_id=TRACE, attributes={"stage": "validate"}),
        LogRecord(time_ns=200, body="retrieval slow: 2.3 s", service="faq", level="WARNING",
                  request_id="req-1", trace_id=TRACE, attributes={"index": "faq-index"}),
        LogRecord(time_ns=300, body="LLM provider timeout", service="faq", level="ERROR",
                  request_id="req-2", attributes={"provider": "openai", "retry": 2}),
        LogRecord(time_ns=400, body="cache warmed", service="worker", level="DEBUG",
                  attributes={"entries": 1200, "nested": {"region": "eu"}}),
        LogRecord(time_ns=500, body="plain text line from a tailed file", service="worker",
                  source="/var/log/app.log"),
    ]  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    """A log store with five lines."""
    store = LogStore(tmp_path / "logs.db")
    store.write(_records())
    return store


def _bodies(store: LogStore, query: LogQuery) -> list[str]:
    return [line.record.body for line in search_logs(store, query)]


def test_each_filter_returns_exactly_the_matching_lines(store: LogStore) -> None:
    """Time range, level, min level, service, text, trace id, request id, any field."""
    assert _bodies(store, LogQuery(start_ns=200, end_ns=400)) == [
        "LLM provider timeout",
        "retrieval slow: 2.3 s",
    ]
    assert _bodies(store, LogQuery(level="warn")) == ["retrieval slow: 2.3 s"]
    assert _bodies(store, LogQuery(min_level="warning")) == [
        "LLM provider timeout",
        "retrieval slow: 2.3 s",
    ]
    assert _bodies(store, LogQuery(service="worker")) == [
        "plain text line from a tailed file",
        "cache warmed",
    ]
    assert _bodies(store, LogQuery(text="timeout OR slow")) == [
        "LLM provider timeout",
        "retrieval slow: 2.3 s",
    ]
    assert _bodies(store, LogQuery(text='"tailed file"')) == ["plain text line from a tailed file"]
    assert _bodies(store, LogQuery(text="warm*")) == ["cache warmed"]
    assert _bodies(store, LogQuery(trace_id=TRACE.upper())) == [
        "retrieval slow: 2.3 s",
        "question received",
    ]
    assert _bodies(store, LogQuery(request_id="req-2")) == ["LLM provider timeout"]
    assert _bodies(store, LogQuery(fields={"provider": "openai", "retry": 2})) == [
        "LLM provider timeout"
    ]
    assert _bodies(store, LogQuery(fields={"nested.region": "eu"})) == []
    assert _bodies(store, LogQuery(limit=1)) == ["plain text line from a tailed file"]


def test_bad_queries_are_clear_errors(store: LogStore) -> None:
    """An unknown level or an FTS5 syntax error raises ValueError naming the input."""
    with pytest.raises(ValueError, match="unknown level 'loud'"):
        search_logs(store, LogQuery(level="loud"))
    with pytest.raises(ValueError, match="invalid full-text query 'AND AND'"):
        search_logs(store, LogQuery(text="AND AND"))


def test_restart_and_retention_keep_the_index_in_step(tmp_path: Path) -> None:
    """Reopened lines are searchable; deleted lines leave the full-text index too."""
    store = LogStore(tmp_path / "logs.db")
    store.write(_records())
    store.close()
    store = LogStore(tmp_path / "logs.db")
    assert store.count() == 5
    assert store.delete_older_than(250) == 2
    assert _bodies(store, LogQuery(text="question OR retrieval")) == []
    assert _bodies(store, LogQuery(text="timeout")) == ["LLM provider timeout"]
    rows = store.database.read("SELECT count(*) FROM logs_text WHERE logs_text MATCH 'question'")
    assert rows == [(0,)]
    store.close()


async def test_tail_yields_new_matching_lines_as_they_arrive(store: LogStore) -> None:
    """The live tail starts after the newest line and yields only new matching lines, in order."""
    stream = tail(store, LogQuery(service="faq"), poll_interval=0.02)

    async def first_two() -> list[str]:
        out = []
        async for line in stream:
            out.append(sse_event(line))
            if len(out) == 2:
                break
        return out

    task = asyncio.create_task(first_two())
    await asyncio.sleep(0.1)
    store.write(
        [
            LogRecord(time_ns=600, body="other service", service="worker"),
            LogRecord(time_ns=700, body="new question", service="faq", level="INFO"),
            LogRecord(time_ns=800, body="new answer", service="faq", level="INFO"),
        ]
    )
    events = await asyncio.wait_for(task, timeout=5)
    await stream.aclose()  # type: ignore[attr-defined]
    assert events[0].startswith("id: 7\nevent: log\ndata: {")
    assert '"body": "new question"' in events[0]
    assert '"body": "new answer"' in events[1]
    assert events[1].endswith("\n\n")
