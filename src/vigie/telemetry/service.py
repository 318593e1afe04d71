"""The traces-and-logs part of the server in one object: receive, store, search, correlate.

``vigie server`` mounts :meth:`TelemetryService.ingest_traces` on ``POST /v1/traces`` and
:meth:`TelemetryService.ingest_logs` on ``POST /v1/logs``; each takes the raw body and the
``Content-Type`` / ``Content-Encoding`` headers and returns ``(status, headers, body)`` as the
OTLP/HTTP specification prescribes. Accepted records wait in bounded queues (429 with
``Retry-After`` when full) and a writer thread commits them in batches to
``<data_dir>/traces.db`` and ``<data_dir>/logs.db`` (SQLite, WAL). A background thread applies
retention by age and by size every ``retention_interval`` seconds.

Example::

    >>> import tempfile
    >>> service = TelemetryService(tempfile.mkdtemp())
    >>> status, headers, body = service.ingest_traces(b"", "application/x-protobuf")
    >>> status
    200
    >>> service.ingest_traces(b"{", "application/json")[0]
    400
    >>> service.ingest_traces(b"x", "text/plain")[0]
    415
    >>> service.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from vigie.exceptions import PayloadError, TelemetryError
from vigie.telemetry.correlation import (
    SERVICE_LABELS,
    AlertTelemetry,
    alert_telemetry,
    exemplar_trace,
    trace_logs,
)
from vigie.telemetry.ingest_queue import IngestQueue
from vigie.telemetry.log_search import LogLine, LogQuery, search_logs, tail
from vigie.telemetry.log_store import LogStore
from vigie.telemetry.log_tailing import LogTailer
from vigie.telemetry.otlp_decoding import (
    DEFAULT_MAX_BYTES,
    DecodedBatch,
    decode_logs,
    decode_traces,
    error_response,
    http_status,
    success_response,
)
from vigie.telemetry.records import LogRecord, Span
from vigie.telemetry.span_metrics import SpanMetrics
from vigie.telemetry.span_store import SpanStore
from vigie.telemetry.trace_search import (
    OperationSummary,
    SpanQuery,
    Trace,
    TraceSummary,
    get_trace,
    red_summary,
    search_spans,
    search_traces,
)

__all__ = ["TelemetryService"]

_log = logging.getLogger("vigie.internal")
Reply = tuple[int, dict[str, str], bytes]
_DAY_SECONDS = 86_400.0
_FAILING_PAUSE_SECONDS = 30.0
#: How long a request waits for its records to be committed before it is answered 503.
_COMMIT_WAIT_SECONDS = 10.0


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelemetryService:
    """Receives OTLP traces and logs, keeps them in ``data_dir``, answers searches.

    ``retention_age``: seconds (or a ``timedelta``) after which spans and log lines are deleted;
    ``retention_bytes``: data size each of the two databases is kept under (oldest deleted
    first); ``queue_size``: spans (and, separately, log records) waiting for the writer before
    receivers are told to retry later; ``clock``: seconds since the epoch (for retention and
    records without a time); ``tail_paths``: globs of JSON log files to tail.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        retention_age: float | timedelta = 7 * _DAY_SECONDS,
        retention_bytes: int = 1 << 30,
        queue_size: int = 100_000,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int = DEFAULT_MAX_BYTES,
        retention_interval: float = 60.0,
        tail_paths: Sequence[str] = (),
        tail_service: str = "",
        tail_interval: float = 1.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.retention_age = _seconds(retention_age)
        self.retention_bytes = retention_bytes
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.spans = SpanStore(self.data_dir / "traces.db")
        try:
            self.logs = LogStore(self.data_dir / "logs.db")
        except BaseException:
            self.spans.close()
            raise
        self.span_metrics = SpanMetrics()
        self.span_queue: IngestQueue[Span] = IngestQueue(
            self.spans.write, capacity=queue_size, name="spans"
        )
        self.log_queue: IngestQueue[LogRecord] = IngestQueue(
            self.logs.write, capacity=queue_size, name="logs"
        )
        self._closed = False
        self._stop = threading.Event()
        self._retention_thread = threading.Thread(
            target=self._retention_loop,
            args=(retention_interval,),
            name="vigie-telemetry-retention",
            daemon=True,
        )
        self._retention_thread.start()
        self.tailer: LogTailer | None = None
        if tail_paths:
            self.tailer = LogTailer(
                tail_paths,
                self.data_dir / "tail-positions.json",
                self._store_tailed,
                service=tail_service,
                clock=clock,
            )
            self.tailer.start(tail_interval)

    # -- ingest -------------------------------------------------------------------------------

    def ingest_traces(
        self, body: bytes, content_type: str | None, content_encoding: str | None = None
    ) -> Reply:
        """Handle ``POST /v1/traces``: returns ``(status, headers, body)``."""
        return self._ingest("traces", body, content_type, content_encoding)

    def ingest_logs(
        self, body: bytes, content_type: str | None, content_encoding: str | None = None
    ) -> Reply:
        """Handle ``POST /v1/logs``: returns ``(status, headers, body)``."""
        return self._ingest("logs", body, content_type, content_encoding)

    def _ingest(
        self, signal: str, body: bytes, content_type: str | None, content_encoding: str | None
    ) -> Reply:
        queue: IngestQueue[Any] = self.span_queue if signal == "traces" else self.log_queue
        if self._closed:
            return error_response(503, "the server is shutting down", content_type).as_tuple()
        batch: DecodedBatch[Any]
        try:
            if signal == "traces":
                batch = decode_traces(
                    body, content_type, content_encoding, max_bytes=self.max_body_bytes
                )
            else:
                batch = decode_logs(
                    body,
                    content_type,
                    content_encoding,
                    max_bytes=self.max_body_bytes,
                    now_ns=lambda: int(self.clock() * 1e9),
                )
        except PayloadError as error:
            return error_response(http_status(error), str(error), content_type).as_tuple()
        # After a failed write, refuse for a while (the disk may be full), then let a request
        # through to probe: its batch clears the state when it is written.
        if queue.failing and time.monotonic() - queue.failed_at < _FAILING_PAUSE_SECONDS:
            message = f"storage is failing: {queue.last_error}"
            retry = int(_FAILING_PAUSE_SECONDS)
            return error_response(503, message, content_type, retry_after=retry).as_tuple()
        ticket = queue.submit(batch.records)
        if ticket is None:
            message = f"ingest queue full ({queue.capacity} {signal} records waiting); retry later"
            return error_response(429, message, content_type, retry_after=1).as_tuple()
        # Acknowledge only what is committed: a crash after a 200 must lose nothing.
        if not ticket.wait(_COMMIT_WAIT_SECONDS):
            reason = ticket.error or "not committed in time"
            message = f"{signal} not stored: {reason}; retry later"
            return error_response(503, message, content_type, retry_after=1).as_tuple()
        if signal == "traces":
            self.span_metrics.observe(batch.records)  # type: ignore[arg-type]
        return success_response(signal, batch, content_type).as_tuple()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted span and log record is committed; False on timeout."""
        if self.tailer is not None:
            self.tailer.poll()
        return self.span_queue.flush(timeout) and self.log_queue.flush(timeout)

    def _store_tailed(self, records: list[LogRecord]) -> bool:
        # Written synchronously: the tailer saves its position only once the lines are committed.
        self.logs.write(records)
        return True

    # -- search -------------------------------------------------------------------------------

    def search_spans(self, query: SpanQuery) -> list[Span]:
        """Spans matching ``query``, newest first."""
        return search_spans(self.spans, query)

    def search_traces(self, query: SpanQuery) -> list[TraceSummary]:
        """Traces with a span matching ``query``, newest first."""
        return search_traces(self.spans, query)

    def get_trace(self, trace_id: str) -> Trace | None:
        """One trace as a waterfall, or None."""
        return get_trace(self.spans, trace_id)

    def red_summary(
        self, *, start_ns: int, end_ns: int, service: str | None = None, kind: str | None = None
    ) -> list[OperationSummary]:
        """Rate, errors and duration percentiles per operation over a window."""
        return red_summary(self.spans, start_ns=start_ns, end_ns=end_ns, service=service, kind=kind)

    def search_logs(self, query: LogQuery) -> list[LogLine]:
        """Log lines matching ``query``, newest first."""
        return search_logs(self.logs, query)

    def tail_logs(
        self,
        query: LogQuery | None = None,
        *,
        after_id: int | None = None,
        poll_interval: float = 0.5,
    ) -> AsyncIterator[LogLine]:
        """New lines matching ``query`` as they arrive (format each with ``sse_event``)."""
        return tail(self.logs, query, after_id=after_id, poll_interval=poll_interval)

    def alert_telemetry(
        self,
        labels: Mapping[str, str],
        *,
        start_ns: int,
        end_ns: int | None = None,
        margin_ns: int = 300 * 10**9,
        service_labels: Sequence[str] = SERVICE_LABELS,
        min_level: str | None = None,
        limit: int = 50,
    ) -> AlertTelemetry:
        """Traces and logs of an alert's service in its active window (``end_ns`` None: now)."""
        end = int(self.clock() * 1e9) if end_ns is None else end_ns
        return alert_telemetry(
            self.spans,
            self.logs,
            labels,
            start_ns=start_ns,
            end_ns=end,
            margin_ns=margin_ns,
            service_labels=service_labels,
            min_level=min_level,
            limit=limit,
        )

    def exemplar_trace(self, exemplar: Mapping[str, str]) -> Trace | None:
        """The trace a latency exemplar points to."""
        return exemplar_trace(self.spans, exemplar)

    def trace_logs(self, trace_id: str, *, limit: int = 1000) -> list[LogLine]:
        """The log lines of one trace, oldest first."""
        return trace_logs(self.logs, trace_id, limit=limit)

    def span_metric_samples(self) -> list[tuple[dict[str, str], float]]:
        """``traces_spanmetrics_*`` samples (labels with ``__name__``, value) to store."""
        return self.span_metrics.samples()

    # -- retention and lifecycle --------------------------------------------------------------

    def apply_retention(self) -> tuple[int, int]:
        """Delete spans and log lines past the age or size limit; returns (spans, lines) deleted."""
        cutoff = int((self.clock() - self.retention_age) * 1e9)
        spans = self.spans.delete_older_than(cutoff) + self.spans.shrink_to(self.retention_bytes)
        lines = self.logs.delete_older_than(cutoff) + self.logs.shrink_to(self.retention_bytes)
        return spans, lines

    def _retention_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.apply_retention()
            except TelemetryError as error:
                _log.error("vigie: telemetry retention failed: %s", error)

    def close(self) -> None:
        """Stop receiving, commit what is queued, stop the background threads, close the files."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self.tailer is not None:
            self.tailer.stop()
        self.span_queue.close()
        self.log_queue.close()
        self._retention_thread.join(timeout=30)
        self.spans.close()
        self.logs.close()
