"""From an alert to its logs and traces, from an exemplar to its trace, from a trace to its logs.

When an alert fires the next question is "which requests, and why?". An alert carries labels and
an active window; the service it is about is read from the first label present among
``service``, ``service_name``, ``job`` and ``app`` (change the order with ``service_labels``), a
``span_name`` label narrows traces to one operation. The window is widened by ``margin_ns`` on
both sides, since logs explaining an alert often come just before it fires.

Example::

    >>> import tempfile, pathlib
    >>> from vigie.telemetry.span_store import SpanStore
    >>> from vigie.telemetry.log_store import LogStore
    >>> from vigie.telemetry.records import LogRecord, Span
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> spans, logs = SpanStore(folder / "t.db"), LogStore(folder / "l.db")
    >>> spans.write([Span("ab" * 16, "01" * 8, None, "GET /", "SERVER", "api", 10, 20,
    ...                   status_code="ERROR")])
    >>> logs.write([LogRecord(time_ns=15, body="boom", service="api", level="ERROR",
    ...                       trace_id="ab" * 16)])
    >>> found = alert_telemetry(spans, logs, {"job": "api"}, start_ns=0, end_ns=100, margin_ns=0)
    >>> [t.trace_id for t in found.traces] == ["ab" * 16], [line.record.body for line in found.logs]
    (True, ['boom'])
    >>> [line.record.body for line in trace_logs(logs, "ab" * 16)]
    ['boom']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vigie.telemetry.log_search import LogLine, LogQuery, search_logs
from vigie.telemetry.log_store import LogStore
from vigie.telemetry.span_store import SpanStore
from vigie.telemetry.trace_search import SpanQuery, Trace, TraceSummary, get_trace, search_traces

__all__ = [
    "SERVICE_LABELS",
    "AlertTelemetry",
    "alert_telemetry",
    "exemplar_trace",
    "service_of",
    "trace_logs",
]

SERVICE_LABELS = ("service", "service_name", "job", "app")
_FIVE_MINUTES_NS = 300 * 10**9


@dataclass(frozen=True)
class AlertTelemetry:
    """What was found for one alert: the service, the searched window, traces and log lines."""

    service: str | None
    start_ns: int
    end_ns: int
    traces: list[TraceSummary]
    logs: list[LogLine]


def service_of(
    labels: Mapping[str, str], service_labels: Sequence[str] = SERVICE_LABELS
) -> str | None:
    """The service an alert is about: the first of ``service_labels`` present in ``labels``."""
    return next((labels[name] for name in service_labels if labels.get(name)), None)


def alert_telemetry(
    spans: SpanStore,
    logs: LogStore,
    labels: Mapping[str, str],
    *,
    start_ns: int,
    end_ns: int,
    margin_ns: int = _FIVE_MINUTES_NS,
    service_labels: Sequence[str] = SERVICE_LABELS,
    min_level: str | None = None,
    limit: int = 50,
) -> AlertTelemetry:
    """Traces (errors first) and log lines of the alert's service during its active window.

    ``end_ns`` is the alert's end, or now while it is firing.
    """
    service = service_of(labels, service_labels)
    window = (start_ns - margin_ns, end_ns + margin_ns)
    name = labels.get("span_name")
    base = SpanQuery(service=service, name=name, start_ns=window[0], end_ns=window[1], limit=limit)
    failed = search_traces(spans, SpanQuery(**{**base.__dict__, "status": "ERROR"}))
    seen = {summary.trace_id for summary in failed}
    others = [summary for summary in search_traces(spans, base) if summary.trace_id not in seen]
    lines = search_logs(
        logs,
        LogQuery(
            service=service, start_ns=window[0], end_ns=window[1], min_level=min_level, limit=limit
        ),
    )
    return AlertTelemetry(service, window[0], window[1], (failed + others)[:limit], lines)


def exemplar_trace(spans: SpanStore, exemplar: Mapping[str, str]) -> Trace | None:
    """The trace an exemplar points to (``trace_id`` label, or ``traceID`` as Grafana writes)."""
    trace_id = exemplar.get("trace_id") or exemplar.get("traceID")
    return get_trace(spans, trace_id) if trace_id else None


def trace_logs(logs: LogStore, trace_id: str, *, limit: int = 1000) -> list[LogLine]:
    """The log lines of one trace, oldest first."""
    lines = search_logs(logs, LogQuery(trace_id=trace_id, limit=limit))
    return lines[::-1]
