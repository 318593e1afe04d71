"""Spans on local disk: one SQLite table with the indexes trace search needs, and retention.

One row per span; attributes, events and links are JSON text (``json_extract`` answers attribute
equality), resources are stored once in their own table since every span of a process shares
one. Indexes: by trace id (the waterfall), by service and start time, by service, span name and
start time (search and RED summaries), by start time (time ranges and retention).

Example::

    >>> import tempfile, pathlib
    >>> store = SpanStore(pathlib.Path(tempfile.mkdtemp()) / "traces.db")
    >>> store.write([Span(trace_id="ab" * 16, span_id="cd" * 8, parent_span_id=None,
    ...                   name="GET /", kind="SERVER", service="api", start_ns=10, end_ns=30)])
    >>> store.count()
    1
    >>> [span.name for span in store.trace("ab" * 16)]
    ['GET /']
    >>> store.close()
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigie.telemetry.database import TimedTable, compact_json
from vigie.telemetry.records import Span

__all__ = ["SPAN_COLUMNS", "SpanStore", "span_from_row"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id INTEGER PRIMARY KEY,
    attributes TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    service TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    duration_ns INTEGER NOT NULL,
    status_code TEXT NOT NULL,
    status_message TEXT NOT NULL,
    attributes TEXT NOT NULL,
    events TEXT NOT NULL,
    links TEXT NOT NULL,
    resource_id INTEGER NOT NULL REFERENCES resources(id),
    scope TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spans_by_trace ON spans(trace_id);
CREATE INDEX IF NOT EXISTS spans_by_service ON spans(service, start_ns);
CREATE INDEX IF NOT EXISTS spans_by_name ON spans(service, name, start_ns);
CREATE INDEX IF NOT EXISTS spans_by_start ON spans(start_ns);
"""

# The columns span_from_row expects, in order (``s`` is spans, ``r`` is resources).
SPAN_COLUMNS = (
    "s.trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.service, s.start_ns, s.end_ns, "
    "s.status_code, s.status_message, s.attributes, s.events, s.links, r.attributes, s.scope"
)
_EMPTY_LIST = "[]"


def span_from_row(row: Sequence[Any]) -> Span:
    """A :class:`Span` from a row selected with :data:`SPAN_COLUMNS`."""
    return Span(
        trace_id=row[0],
        span_id=row[1],
        parent_span_id=row[2],
        name=row[3],
        kind=row[4],
        service=row[5],
        start_ns=row[6],
        end_ns=row[7],
        status_code=row[8],
        status_message=row[9],
        attributes=json.loads(row[10]),
        events=json.loads(row[11]),
        links=json.loads(row[12]),
        resource=json.loads(row[13]),
        scope=row[14],
    )


class SpanStore(TimedTable):
    """Spans in ``path`` (SQLite, WAL): batch writes, lookups, retention by age and size.

    Retention goes by start time: a span older than the cutoff is deleted whole.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, "spans", "start_ns")
        self._resource_ids: dict[str, int] = {}

    def _resource_id(self, connection: sqlite3.Connection, resource: dict[str, Any]) -> int:
        text = compact_json(resource)
        found = self._resource_ids.get(text)
        if found is None:
            connection.execute("INSERT OR IGNORE INTO resources(attributes) VALUES (?)", (text,))
            row = connection.execute(
                "SELECT id FROM resources WHERE attributes = ?", (text,)
            ).fetchone()
            found = self._resource_ids[text] = int(row[0])
        return found

    def write(self, spans: Sequence[Span]) -> None:
        """Insert ``spans`` in one transaction: all of them are committed, or none."""
        if not spans:
            return
        with self.database.writing() as connection:
            # Spans of one export share the same resource dict object: look it up once.
            resource_ids: dict[int, int] = {}
            rows = []
            for span in spans:
                key = id(span.resource)
                resource_id = resource_ids.get(key)
                if resource_id is None:
                    resource_id = resource_ids[key] = self._resource_id(connection, span.resource)
                rows.append(
                    (
                        span.trace_id,
                        span.span_id,
                        span.parent_span_id,
                        span.service,
                        span.name,
                        span.kind,
                        span.start_ns,
                        span.end_ns,
                        span.duration_ns,
                        span.status_code,
                        span.status_message,
                        compact_json(span.attributes) if span.attributes else "{}",
                        compact_json(span.events) if span.events else _EMPTY_LIST,
                        compact_json(span.links) if span.links else _EMPTY_LIST,
                        resource_id,
                        span.scope,
                    )
                )
            connection.executemany(
                "INSERT INTO spans(trace_id, span_id, parent_span_id, service, name, kind, "
                "start_ns, end_ns, duration_ns, status_code, status_message, attributes, events, "
                "links, resource_id, scope) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )

    def trace(self, trace_id: str) -> list[Span]:
        """Every stored span of ``trace_id`` (hex, any case), by start time."""
        rows = self.database.read(
            f"SELECT {SPAN_COLUMNS} FROM spans s JOIN resources r ON r.id = s.resource_id "  # noqa: S608
            "WHERE s.trace_id = ? ORDER BY s.start_ns, s.id",
            (trace_id.lower(),),
        )
        return [span_from_row(row) for row in rows]
