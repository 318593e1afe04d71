"""Log records off the request path: a bounded queue, a listener thread, rotating files, OTLP.

The handler installed on the root logger (:class:`DroppingQueueHandler`) only stamps the record
with the ids of the calling context and puts it on a bounded queue; formatting, redaction and I/O
happen in the :class:`LogListener` thread. When the sink is slower than the app for long enough
to fill the queue, new records are dropped and counted in ``vigie_log_records_dropped_total``:
a slow disk or collector must never slow requests down.

Sinks the listener writes to:

* a stream (stderr or stdout), JSON or console format;
* :class:`RotatingFile`, rotated by size *and* by time, keeping ``backup_count`` old files;
* :class:`OtlpLogHandler`, shipping records by OTLP/HTTP (protobuf) to the vigie server or any
  OpenTelemetry collector, batched with a bounded queue.

Example::

    >>> import logging, queue
    >>> from prometheus_client import CollectorRegistry
    >>> sink = logging.StreamHandler()
    >>> handler = DroppingQueueHandler(queue_size=100, registry=CollectorRegistry())
    >>> listener = LogListener(handler.queue, [sink])
    >>> listener.start(); listener.stop()
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CollectorRegistry

from vigie.exceptions import ConfigurationError
from vigie.sdk import instruments
from vigie.sdk.log_format import extra_fields, stamp
from vigie.sdk.redaction import Redactor

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider

__all__ = [
    "DROPPED_METRIC",
    "DroppingQueueHandler",
    "LogListener",
    "OtlpLogHandler",
    "RotatingFile",
    "level_number",
    "parse_rotation",
]

DROPPED_METRIC = "vigie_log_records_dropped"


class DroppingQueueHandler(logging.handlers.QueueHandler):
    """Put records on a bounded queue without ever blocking; count the ones that do not fit.

    ``dropped`` is the number of records lost since creation; the same number is exported as the
    counter ``vigie_log_records_dropped_total`` on ``registry``.
    """

    queue: queue.Queue[logging.LogRecord | None]

    def __init__(self, queue_size: int = 10_000, *, registry: CollectorRegistry | None = None):
        if queue_size < 1:
            raise ConfigurationError(
                f"must be at least 1, got {queue_size}", field="logs.queue_size"
            )
        super().__init__(queue.Queue(maxsize=queue_size))
        self.dropped = 0
        self._dropped_counter = instruments.counter(
            DROPPED_METRIC,
            "Log records dropped because the log queue was full (the sink was too slow).",
            registry=registry,
        )

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """Freeze what depends on the caller: the ids of its context and the message text."""
        stamp(record)
        message = record.getMessage()
        # A shallow copy, so other handlers of the record still see the template and args;
        # cheaper than copy.copy, which goes through __reduce_ex__.
        prepared = logging.LogRecord.__new__(logging.LogRecord)
        prepared.__dict__.update(record.__dict__)
        prepared.msg = message
        prepared.args = None
        prepared.message = message
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        """Queue the record, or drop and count it when the queue is full."""
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            self._dropped_counter.inc()


class LogListener(logging.handlers.QueueListener):
    """The thread that formats records and hands them to the sinks.

    A sink that raises does not stop the thread: its error goes through the sink's own
    ``handleError`` (printed on stderr by the standard library) and the next record is served.
    """

    def __init__(
        self,
        log_queue: queue.Queue[logging.LogRecord | None],
        handlers: Sequence[logging.Handler],
    ) -> None:
        super().__init__(log_queue, *handlers, respect_handler_level=True)

    def handle(self, record: logging.LogRecord) -> None:
        for handler in self.handlers:
            if record.levelno < handler.level:
                continue
            try:
                handler.handle(record)
            except Exception:
                handler.handleError(record)

    def enqueue_sentinel(self) -> None:
        # The base class uses put_nowait, which fails on a full queue: wait for room instead,
        # since stop() means "flush what is queued, then end".
        log_queue = cast("queue.Queue[logging.LogRecord | None]", self.queue)
        log_queue.put(None, timeout=30)

    def stop(self) -> None:
        """Write out what is queued, stop the thread, then flush and close the sinks."""
        if self._thread is not None:
            super().stop()
        for handler in self.handlers:
            try:
                handler.flush()
                if isinstance(handler, OtlpLogHandler):
                    handler.stop()
                else:
                    handler.close()
            except Exception:
                handler.handleError(logging.makeLogRecord({"msg": "closing log sink"}))


_WHEN = re.compile(r"(?:(?P<count>\d+)\s*)?(?P<unit>[SMHD])|(?P<midnight>midnight)", re.IGNORECASE)
_UNIT_SECONDS = {"S": 1, "M": 60, "H": 3600, "D": 86400}


def parse_rotation(when: str) -> int | None:
    """Seconds between time-based rotations for ``when``; None means "at each UTC midnight".

    ``"midnight"``, ``"D"`` (daily), ``"H"`` (hourly), ``"6H"``, ``"30M"``, ``"S"``.

    >>> parse_rotation("6H"), parse_rotation("midnight")
    (21600, None)
    """
    match = _WHEN.fullmatch(when.strip())
    if match is None:
        raise ConfigurationError(
            f"expected midnight, or a count and a unit S, M, H or D (like 6H), got {when!r}",
            field="logs.file_rotate_when",
        )
    if match["midnight"]:
        return None
    count = int(match["count"] or 1)
    if count < 1:
        raise ConfigurationError("the count must be at least 1", field="logs.file_rotate_when")
    return count * _UNIT_SECONDS[match["unit"].upper()]


class RotatingFile(logging.handlers.RotatingFileHandler):
    """A log file rotated when it passes ``max_bytes`` or when the time interval ends.

    Old files are numbered like :class:`~logging.handlers.RotatingFileHandler` does
    (``app.log.1`` is the newest); ``backup_count`` of them are kept, older ones deleted. Numbered
    names keep two rotations within one interval from overwriting each other, which the
    date-suffixed names of ``TimedRotatingFileHandler`` would.

    ``max_bytes=0`` turns size rotation off; ``when=None`` turns time rotation off.
    """

    def __init__(
        self,
        filename: str | os.PathLike[str],
        *,
        max_bytes: int = 0,
        when: str | None = None,
        backup_count: int = 7,
        clock: Any = time.time,
    ) -> None:
        if backup_count < 1:
            raise ConfigurationError(
                f"must be at least 1 to rotate, got {backup_count}", field="logs.file_backup_count"
            )
        if max_bytes < 0:
            raise ConfigurationError(
                f"must be 0 (off) or positive, got {max_bytes}", field="logs.file_max_bytes"
            )
        super().__init__(
            filename, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
        )
        self._clock = clock
        self._interval = parse_rotation(when) if when else None
        self._timed = when is not None
        self.rollover_at = self._next_rollover(clock()) if self._timed else float("inf")

    def _next_rollover(self, now: float) -> float:
        if self._interval is None:
            return (int(now) // 86400 + 1) * 86400.0
        return now + self._interval

    def shouldRollover(self, record: logging.LogRecord) -> bool:  # noqa: N802 - stdlib API
        if self._timed and self._clock() >= self.rollover_at:
            # Nothing to rotate if the file is empty or absent; still move the deadline.
            if os.path.exists(self.baseFilename) and os.path.getsize(self.baseFilename) > 0:
                return True
            self.rollover_at = self._next_rollover(self._clock())
        return bool(super().shouldRollover(record))

    def doRollover(self) -> None:  # noqa: N802 - stdlib API
        super().doRollover()
        if self._timed:
            self.rollover_at = self._next_rollover(self._clock())


_SEVERITY = {logging.DEBUG: 5, logging.INFO: 9, logging.WARNING: 13, logging.ERROR: 17}


def _severity_number(levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return 21
    for level in (logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG):
        if levelno >= level:
            return _SEVERITY[level]
    return 1


def _attribute(value: Any) -> Any:
    """A value OpenTelemetry accepts as an attribute (scalars and lists of them), else text."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, str | bool | int | float) for v in value
    ):
        return list(value)
    return str(value)


# Loggers of the export path itself: shipping their records would feed a loop of
# "export failed" records while the collector is down. They still reach the other sinks.
_EXPORT_LOGGERS = ("opentelemetry", "urllib3", "requests")


def _not_from_the_exporter(record: logging.LogRecord) -> bool:
    return not record.name.startswith(_EXPORT_LOGGERS)


class OtlpLogHandler(logging.Handler):
    """Ship log records by OTLP/HTTP (protobuf), redacted, with their trace and request ids.

    Runs in the listener thread; records are batched by OpenTelemetry's
    ``BatchLogRecordProcessor`` with a bounded queue (``queue_size``), so a collector that is
    down costs bounded memory. Needs the ``vigie[tracing]`` extra.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        service: str,
        environment: str | None = None,
        headers: Mapping[str, str] | None = None,
        redactor: Redactor | None = None,
        queue_size: int = 2048,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource

        from vigie.sdk.tracing import otlp_url

        attributes = {"service.name": service}
        if environment:
            attributes["deployment.environment.name"] = environment
        self.provider: LoggerProvider = LoggerProvider(
            resource=Resource.create(attributes), shutdown_on_exit=False
        )
        exporter = OTLPLogExporter(
            endpoint=otlp_url(endpoint, "logs"), headers=dict(headers or {}), timeout=timeout
        )
        self.provider.add_log_record_processor(
            BatchLogRecordProcessor(
                exporter,
                max_queue_size=queue_size,
                max_export_batch_size=min(512, queue_size),
                export_timeout_millis=timeout * 1000,
            )
        )
        self.redactor = redactor if redactor is not None else Redactor()
        self.addFilter(_not_from_the_exporter)

    def emit(self, record: logging.LogRecord) -> None:
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.trace import (
            INVALID_SPAN,
            NonRecordingSpan,
            SpanContext,
            TraceFlags,
            set_span_in_context,
        )

        trace_id, span_id, request_id = stamp(record)
        span = (
            NonRecordingSpan(SpanContext(int(trace_id, 16), int(span_id, 16), False, TraceFlags(1)))
            if trace_id and span_id
            else INVALID_SPAN
        )
        attributes: dict[str, Any] = {
            key: _attribute(value)
            for key, value in self.redactor.redact_fields(extra_fields(record)).items()
            if value is not None
        }
        attributes["code.file.path"] = record.pathname
        attributes["code.line.number"] = record.lineno
        attributes["code.function.name"] = record.funcName
        if request_id:
            attributes["vigie.request_id"] = request_id
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            attributes["exception.type"] = type(error).__qualname__
            attributes["exception.message"] = self.redactor.redact(str(error))
            attributes["exception.stacktrace"] = self.redactor.redact(
                logging.Formatter().formatException(record.exc_info)
            )
        self.provider.get_logger(record.name).emit(
            LogRecord(
                timestamp=int(record.created * 1e9),
                context=set_span_in_context(span),
                severity_text=record.levelname,
                severity_number=SeverityNumber(_severity_number(record.levelno)),
                body=self.redactor.redact(record.getMessage()),
                attributes=attributes,
            )
        )

    def flush(self) -> None:
        """Do nothing: the batch processor exports on its own thread; :meth:`stop` drains it.

        The standard library calls ``flush()`` and ``close()`` on every handler ever created, on
        the host's thread: ``logging.config.dictConfig`` (uvicorn's ``Config`` runs it) and
        ``logging.shutdown``. A network flush there would block the app for as long as the
        collector is unreachable, and closing the provider would silently end log shipping.
        """

    def close(self) -> None:
        """Mark the handler closed for :mod:`logging`; the provider keeps shipping (see flush)."""
        super().close()

    def stop(self) -> None:
        """Export what is queued (bounded by the export timeout), then shut the provider down."""
        self.provider.shutdown()
        super().close()


def level_number(level: str | int) -> int:
    """The numeric level for ``"INFO"``, ``"debug"``, ``20``..."""
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.strip().upper())
    if not isinstance(value, int):
        raise ConfigurationError(
            f"unknown level {level!r} (DEBUG, INFO, WARNING, ERROR or CRITICAL)", field="logs.level"
        )
    return value
