"""Log line formats: one JSON object per line for machines, a readable line for development.

Both formatters plug into the standard :mod:`logging` module, so the user's logs and those of
their libraries come out the same way. Each line carries the trace and span ids of the active
span and the id of the HTTP request being served, and goes through the :class:`Redactor` first:
the message, every extra field and the exception text.

A JSON line (keys in this order; ``trace_id``, ``span_id`` and ``request_id`` are ``null``
outside a span or a request; extra fields follow)::

    {"timestamp":"2026-11-21T17:20:28.123Z","level":"INFO","logger":"app.checkout",
     "service":"faq-bot","message":"paid by [REDACTED:email]","trace_id":"4bf9...",
     "span_id":"00f0...","request_id":"req-42","order":1234}

The ids are read in the thread that logs (:func:`stamp`), because the queue handler formats the
record later in another thread where the request's context is gone.

Example::

    >>> import logging
    >>> record = logging.makeLogRecord({"name": "app", "levelname": "INFO", "levelno": 20,
    ...                                 "msg": "hi %s", "args": ("bob@example.com",)})
    >>> record.created, record.msecs = 0.0, 0.0
    >>> JsonFormatter(service="demo").format(record)  # doctest: +NORMALIZE_WHITESPACE
    '{"timestamp":"1970-01-01T00:00:00.000Z","level":"INFO","logger":"app","service":"demo",\
"message":"hi [REDACTED:email]","trace_id":null,"span_id":null,"request_id":null}'
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from vigie.sdk.redaction import Redactor
from vigie.sdk.request_context import current_request_id
from vigie.sdk.tracing import current_trace_ids

__all__ = ["ConsoleFormatter", "JsonFormatter", "extra_fields", "stamp", "utc_timestamp"]

_IDS = "_vigie_ids"
# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "taskName", _IDS}
)
_RESERVED = frozenset(
    {"timestamp", "level", "logger", "service", "environment", "message", "trace_id", "span_id",
     "request_id", "exception", "stack"}
)  # fmt: skip


def stamp(record: logging.LogRecord) -> tuple[str | None, str | None, str | None]:
    """Attach ``(trace_id, span_id, request_id)`` of the calling context to ``record``, once."""
    ids: tuple[str | None, str | None, str | None] | None = record.__dict__.get(_IDS)
    if ids is None:
        trace_ids = current_trace_ids()
        request_id = current_request_id()
        ids = (None, None, request_id) if trace_ids is None else (*trace_ids, request_id)
        record.__dict__[_IDS] = ids
    return ids


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields given through ``logger.info(..., extra={...})``."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k[:1] != "_"}


# Lines come in bursts within the same second: keep the formatted second of the last one.
_last_second: list[tuple[int, str]] = [(-1, "")]
# Built once: json.dumps with non-default options builds a new encoder on every call.
_encode = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":")).encode


def utc_timestamp(created: float) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-11-21T17:20:28.123Z``."""
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    cached_second, prefix = _last_second[0]
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second[0] = (seconds, prefix)
    return f"{prefix}.{millis:03d}Z"


class _RedactingFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None) -> None:
        super().__init__()
        self.redactor = redactor if redactor is not None else Redactor()

    def _exception_text(self, record: logging.LogRecord) -> str | None:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return self.redactor.redact(record.exc_text) if record.exc_text else None


class JsonFormatter(_RedactingFormatter):
    """One JSON object per record, redacted (the production format).

    ``service`` and ``environment`` are written on every line; ``static_fields`` too (for
    example a version). ``redactor=Redactor(enabled=False)`` turns redaction off.
    """

    def __init__(
        self,
        *,
        service: str = "unknown_service",
        environment: str | None = None,
        redactor: Redactor | None = None,
        static_fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(redactor)
        self.service = service
        self.environment = environment
        self.static_fields = dict(static_fields or {})

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id, request_id = stamp(record)
        redact = self.redactor.redact
        line: dict[str, Any] = {
            "timestamp": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
        }
        if self.environment:
            line["environment"] = self.environment
        line["message"] = redact(record.getMessage())
        line["trace_id"] = trace_id
        line["span_id"] = span_id
        line["request_id"] = request_id
        exception = self._exception_text(record)
        if exception:
            line["exception"] = exception
        if record.stack_info:
            line["stack"] = redact(record.stack_info)
        for key, value in self.static_fields.items():
            line.setdefault(key, value)
        extras = extra_fields(record)
        if extras:
            for key, value in self.redactor.redact_fields(extras).items():
                line[f"extra.{key}" if key in _RESERVED else key] = value
        return _encode(line)


class ConsoleFormatter(_RedactingFormatter):
    """A readable line for a terminal: time, level, logger, message, fields, ids (redacted).

    ``17:20:28.123 INFO  app.checkout  paid  order=1234  trace=4bf92f35 request=req-42``

    ``colors=True`` paints the level with ANSI colours.
    """

    _COLORS: ClassVar[dict[str, str]] = {
        "DEBUG": "36",
        "INFO": "32",
        "WARNING": "33",
        "ERROR": "31",
        "CRITICAL": "1;31",
    }

    def __init__(self, *, redactor: Redactor | None = None, colors: bool = False) -> None:
        super().__init__(redactor)
        self.colors = colors

    def format(self, record: logging.LogRecord) -> str:
        trace_id, _span_id, request_id = stamp(record)
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = f"{record.levelname:<7}"
        if self.colors:
            level = f"\x1b[{self._COLORS.get(record.levelname, '0')}m{level}\x1b[0m"
        message = self.redactor.redact(record.getMessage())
        text = f"{clock}.{int(record.msecs):03d} {level} {record.name}  {message}"
        fields = self.redactor.redact_fields(extra_fields(record))
        tail = [f"{key}={value}" for key, value in fields.items()]
        if trace_id:
            tail.append(f"trace={trace_id[:8]}")
        if request_id:
            tail.append(f"request={request_id}")
        if tail:
            text += "  " + " ".join(tail)
        exception = self._exception_text(record)
        if exception:
            text += "\n" + exception
        if record.stack_info:
            text += "\n" + self.redactor.redact(record.stack_info)
        return text
