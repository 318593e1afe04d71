"""Traces and logs: receive OTLP, tail log files, keep them on disk, search and correlate them.

:class:`TelemetryService` is what ``vigie server`` mounts on ``POST /v1/traces`` and
``POST /v1/logs``; see docs/traces-and-logs-server.md.
"""

from vigie.telemetry.correlation import AlertTelemetry
from vigie.telemetry.log_search import LogLine, LogQuery, sse_event
from vigie.telemetry.log_tailing import LogTailer
from vigie.telemetry.records import LogRecord, Span
from vigie.telemetry.service import TelemetryService
from vigie.telemetry.span_metrics import SpanMetrics
from vigie.telemetry.trace_search import (
    OperationSummary,
    SpanQuery,
    Trace,
    TraceSummary,
    WaterfallSpan,
)

__all__ = [
    "AlertTelemetry",
    "LogLine",
    "LogQuery",
    "LogRecord",
    "LogTailer",
    "OperationSummary",
    "Span",
    "SpanMetrics",
    "SpanQuery",
    "TelemetryService",
    "Trace",
    "TraceSummary",
    "WaterfallSpan",
    "sse_event",
]
