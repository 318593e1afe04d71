"""The span and log record shapes vigie keeps, independent of the wire format they came in.

OTLP nests spans in resources and scopes; storage and search want flat rows. Decoding flattens
each span and log record once, copying its resource's ``service.name`` next to it, so a search by
service never has to look into a JSON column.

Example::

    >>> span = Span(trace_id="0af7651916cd43dd8448eb211c80319c", span_id="b7ad6b7169203331",
    ...             parent_span_id=None, name="GET /answer", kind="SERVER", service="faq-bot",
    ...             start_ns=1_000, end_ns=5_000)
    >>> span.duration_ns
    4000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SEVERITY_RANGES", "LogRecord", "Span", "level_range"]

# OTLP SeverityNumber ranges (logs data model): 1-4 TRACE ... 21-24 FATAL.
SEVERITY_RANGES: dict[str, tuple[int, int]] = {
    "TRACE": (1, 4),
    "DEBUG": (5, 8),
    "INFO": (9, 12),
    "WARN": (13, 16),
    "ERROR": (17, 20),
    "FATAL": (21, 24),
}
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL", "ERR": "ERROR", "NOTICE": "INFO"}


def level_range(level: str) -> tuple[int, int] | None:
    """The severity numbers of a level name (``"warning"`` -> ``(13, 16)``), ``None`` if unknown."""
    name = level.strip().upper()
    return SEVERITY_RANGES.get(_ALIASES.get(name, name))


@dataclass(slots=True)
class Span:
    """One finished span, flattened: ids in lowercase hex, times in Unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    service: str
    start_ns: int
    end_ns: int
    status_code: str = "UNSET"
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    @property
    def duration_ns(self) -> int:
        """End minus start, never negative."""
        return max(0, self.end_ns - self.start_ns)


@dataclass(slots=True)
class LogRecord:
    """One log line or OTLP log record, flattened; ``severity_number`` follows OTLP."""

    time_ns: int
    body: str
    service: str = ""
    level: str = ""
    severity_number: int = 0
    trace_id: str | None = None
    span_id: str | None = None
    request_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    source: str = "otlp"
