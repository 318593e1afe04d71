"""Log records on local disk: one SQLite table, an FTS5 index of the text, and retention.

Each record keeps its fixed fields in columns (time, severity, service, trace, span and request
ids) and everything else as JSON (``attributes``), so any field can be matched with
``json_extract``. The body is indexed for full-text search by an FTS5 table kept in step by
triggers, including when retention deletes rows.

Example::

    >>> import tempfile, pathlib
    >>> store = LogStore(pathlib.Path(tempfile.mkdtemp()) / "logs.db")
    >>> store.write([LogRecord(time_ns=1, body="payment refused", service="shop", level="WARN")])
    >>> store.count()
    1
    >>> store.close()
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigie.telemetry.database import TimedTable, compact_json
from vigie.telemetry.records import LogRecord, level_range

__all__ = ["LOG_COLUMNS", "LogStore", "log_from_row"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    severity_number INTEGER NOT NULL,
    level TEXT NOT NULL,
    service TEXT NOT NULL,
    body TEXT NOT NULL,
    trace_id TEXT,
    span_id TEXT,
    request_id TEXT,
    attributes TEXT NOT NULL,
    resource TEXT NOT NULL,
    scope TEXT NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_time ON logs(time_ns);
CREATE INDEX IF NOT EXISTS logs_by_service ON logs(service, time_ns);
CREATE INDEX IF NOT EXISTS logs_by_trace ON logs(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS logs_by_request ON logs(request_id) WHERE request_id IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS logs_text USING fts5(body, content='logs', content_rowid='id');
CREATE TRIGGER IF NOT EXISTS logs_text_insert AFTER INSERT ON logs BEGIN
    INSERT INTO logs_text(rowid, body) VALUES (new.id, new.body);
END;
CREATE TRIGGER IF NOT EXISTS logs_text_delete AFTER DELETE ON logs BEGIN
    INSERT INTO logs_text(logs_text, rowid, body) VALUES ('delete', old.id, old.body);
END;
"""

# The columns log_from_row expects, in order.
LOG_COLUMNS = (
    "l.id, l.time_ns, l.body, l.service, l.level, l.severity_number, l.trace_id, l.span_id, "
    "l.request_id, l.attributes, l.resource, l.scope, l.source"
)


def log_from_row(row: Sequence[Any]) -> tuple[int, LogRecord]:
    """``(row id, record)`` from a row selected with :data:`LOG_COLUMNS`."""
    return row[0], LogRecord(
        time_ns=row[1],
        body=row[2],
        service=row[3],
        level=row[4],
        severity_number=row[5],
        trace_id=row[6],
        span_id=row[7],
        request_id=row[8],
        attributes=json.loads(row[9]),
        resource=json.loads(row[10]),
        scope=row[11],
        source=row[12],
    )


class LogStore(TimedTable):
    """Log records in ``path`` (SQLite, WAL, FTS5): batch writes, retention by age and size."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, _SCHEMA, "logs", "time_ns")

    def write(self, records: Sequence[LogRecord]) -> None:
        """Insert ``records`` in one transaction: all of them are committed, or none."""
        if not records:
            return
        rows = []
        for record in records:
            number = record.severity_number
            if not number and record.level:
                found = level_range(record.level)
                number = found[0] if found else 0
            rows.append(
                (
                    record.time_ns,
                    number,
                    record.level.upper(),
                    record.service,
                    record.body,
                    record.trace_id.lower() if record.trace_id else None,
                    record.span_id.lower() if record.span_id else None,
                    record.request_id,
                    compact_json(record.attributes) if record.attributes else "{}",
                    compact_json(record.resource) if record.resource else "{}",
                    record.scope,
                    record.source,
                )
            )
        with self.database.writing() as connection:
            connection.executemany(
                "INSERT INTO logs(time_ns, severity_number, level, service, body, trace_id, "
                "span_id, request_id, attributes, resource, scope, source) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
