"""From an alert to its logs and traces, from an exemplar to its trace, from a trace to its logs."""

from __future__ import annotations

from pathlib import Path

from vigie.telemetry.correlation import alert_telemetry, exemplar_trace, service_of, trace_logs
from vigie.telemetry.log_store import LogStore
from vigie.telemetry.records import LogRecord, Span
from vigie.telemetry.span_store import SpanStore

S = 1_000_000_000
SLOW = "aa" * 16
FAILED = "bb" * 16
OTHER = "cc" * 16
EARLY = "dd" * 16


def _stores(tmp_path: Path) -> tuple[SpanStore, LogStore]:
    spans, logs = SpanStore(tmp_path / "t.db"), LogStore(tmp_path / "l.db")
    spans.write([
        Span(SLOW, "01" * 8, None, "GET /answer", "SERVER", "faq-bot", 1000 * S, 1004 * S),
        Span(FAILED, "02" * 8, None, "GET /answer", "SERVER", "faq-bot", 1010 * S, 1011 * S,
             status_code="ERROR"),
        Span(OTHER, "03" * 8, None, "GET /", "SERVER", "billing", 1005 * S, 1006 * S),
        Span(EARLY, "04" * 8, None, "GET /answer", "SERVER", "faq-bot", 100 * S, 101 * S),
    ])  # fmt: skip
    logs.write([
        LogRecord(time_ns=1001 * S, body="retrieval slow", service="faq-bot", level="WARN",
                  trace_id=SLOW),
        LogRecord(time_ns=1010 * S, body="LLM timeout", service="faq-bot", level="ERROR",
                  trace_id=FAILED),
        LogRecord(time_ns=1002 * S, body="question", service="faq-bot", level="INFO",
                  trace_id=SLOW),
        LogRecord(time_ns=1005 * S, body="invoice", service="billing", level="ERROR"),
        LogRecord(time_ns=100 * S, body="long before", service="faq-bot", level="ERROR"),
    ])  # fmt: skip
    return spans, logs


def test_alert_window_and_service_label_select_traces_and_logs(tmp_path: Path) -> None:
    """job label -> service; traces in the window, errors first; logs of that service only."""
    spans, logs = _stores(tmp_path)
    found = alert_telemetry(
        spans,
        logs,
        {"alertname": "HighLatency", "job": "faq-bot", "severity": "page"},
        start_ns=1000 * S,
        end_ns=1012 * S,
        margin_ns=30 * S,
        min_level="warn",
    )
    assert found.service == "faq-bot"
    assert [summary.trace_id for summary in found.traces] == [FAILED, SLOW]
    assert [line.record.body for line in found.logs] == ["LLM timeout", "retrieval slow"]
    assert (found.start_ns, found.end_ns) == (970 * S, 1042 * S)
    spans.close()
    logs.close()


def test_service_label_order() -> None:
    """service wins over job; nothing known gives None."""
    assert service_of({"job": "scrape-job", "service": "faq-bot"}) == "faq-bot"
    assert service_of({"instance": "x"}) is None
    assert service_of({"app": "a"}, ("app",)) == "a"


def test_exemplar_and_trace_logs(tmp_path: Path) -> None:
    """An exemplar's trace id opens its trace; a trace lists its own log lines, oldest first."""
    spans, logs = _stores(tmp_path)
    trace = exemplar_trace(spans, {"trace_id": SLOW, "span_id": "01" * 8})
    assert trace is not None
    assert [row.span.name for row in trace.spans] == ["GET /answer"]
    assert exemplar_trace(spans, {"traceID": "ee" * 16}) is None
    assert exemplar_trace(spans, {}) is None
    assert [line.record.body for line in trace_logs(logs, SLOW)] == [
        "retrieval slow",
        "question",
    ]
    spans.close()
    logs.close()
