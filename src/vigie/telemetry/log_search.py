"""Searching stored log lines, and following new ones live (for Server-Sent Events).

Filters: a time range, a level (``"warn"`` matches OTLP severities 13-16; ``min_level`` keeps that
level and above), a service, full text (SQLite FTS5 syntax: words, ``"exact phrase"``, ``OR``,
``prefix*``), a trace id, a request id, and equality on any other field (``fields``, matched
with ``json_extract`` on the record's attributes). :func:`tail` is an async generator yielding
each new matching line as it is stored; :func:`sse_event` formats one for an SSE stream.

Example::

    >>> import tempfile, pathlib
    >>> from vigie.telemetry.log_store import LogStore
    >>> store = LogStore(pathlib.Path(tempfile.mkdtemp()) / "logs.db")
    >>> store.write([LogRecord(time_ns=1, body="payment refused by bank", service="shop",
    ...                        level="WARN", attributes={"order": 42})])
    >>> query = LogQuery(text="refused", min_level="warn")
    >>> [line.record.body for line in search_logs(store, query)]
    ['payment refused by bank']
    >>> [line.record.body for line in search_logs(store, LogQuery(fields={"order": 42}))]
    ['payment refused by bank']
    >>> store.close()
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vigie.exceptions import TelemetryError
from vigie.telemetry.log_store import LOG_COLUMNS, LogStore, log_from_row
from vigie.telemetry.records import LogRecord, level_range

__all__ = ["LogLine", "LogQuery", "search_logs", "sse_event", "tail"]


@dataclass(frozen=True)
class LogQuery:
    """Filters of a log search; every given one must match. Times are Unix nanoseconds."""

    start_ns: int | None = None
    end_ns: int | None = None
    level: str | None = None
    min_level: str | None = None
    service: str | None = None
    text: str | None = None
    trace_id: str | None = None
    request_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    limit: int = 100


@dataclass(frozen=True)
class LogLine:
    """A stored record and its row id (the SSE event id, increasing)."""

    id: int
    record: LogRecord

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        record = self.record
        return {
            "id": self.id,
            "time_ns": record.time_ns,
            "level": record.level,
            "severity_number": record.severity_number,
            "service": record.service,
            "body": record.body,
            "trace_id": record.trace_id,
            "span_id": record.span_id,
            "request_id": record.request_id,
            "attributes": record.attributes,
            "source": record.source,
        }


def _severity(level: str) -> tuple[int, int]:
    found = level_range(level)
    if found is None:
        raise ValueError(
            f"unknown level {level!r}: use trace, debug, info, warn(ing), error or fatal"
        )
    return found


def _where(query: LogQuery, after_id: int | None = None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    values: list[Any] = []
    for column, value in (
        ("l.service", query.service),
        ("l.trace_id", query.trace_id.lower() if query.trace_id else None),
        ("l.request_id", query.request_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            values.append(value)
    for column, bound, operator in (
        ("l.time_ns", query.start_ns, ">="),
        ("l.time_ns", query.end_ns, "<"),
        ("l.id", after_id, ">"),
    ):
        if bound is not None:
            clauses.append(f"{column} {operator} ?")
            values.append(int(bound))
    if query.level is not None:
        low, high = _severity(query.level)
        clauses.append("l.severity_number BETWEEN ? AND ?")
        values += [low, high]
    if query.min_level is not None:
        clauses.append("l.severity_number >= ?")
        values.append(_severity(query.min_level)[0])
    for key, value in query.fields.items():
        clauses.append("json_extract(l.attributes, ?) = ?")
        values += [
            '$."' + key.replace('"', '""') + '"',
            int(value) if isinstance(value, bool) else value,
        ]
    if query.text:
        clauses.append("l.id IN (SELECT rowid FROM logs_text WHERE logs_text MATCH ?)")
        values.append(query.text)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", values


def search_logs(store: LogStore, query: LogQuery) -> list[LogLine]:
    """Lines matching ``query``, newest first, at most ``query.limit``.

    A full-text query that FTS5 cannot parse raises ``ValueError`` naming it.
    """
    where, values = _where(query)
    return _select(store, where, values, "ORDER BY l.time_ns DESC, l.id DESC", query)


def _select(
    store: LogStore, where: str, values: list[Any], order: str, query: LogQuery
) -> list[LogLine]:
    sql = f"SELECT {LOG_COLUMNS} FROM logs l{where} {order} LIMIT ?"  # noqa: S608
    try:
        rows = store.database.read(sql, [*values, query.limit])
    except TelemetryError as error:
        if isinstance(error.__cause__, sqlite3.OperationalError) and "fts5" in str(error):
            raise ValueError(f"invalid full-text query {query.text!r}: {error.__cause__}") from None
        raise
    return [LogLine(*log_from_row(row)) for row in rows]


def latest_id(store: LogStore) -> int:
    """The id of the newest stored line (0 when empty): a tail starts after it."""
    return int(store.database.read("SELECT coalesce(max(id), 0) FROM logs")[0][0])


async def tail(
    store: LogStore,
    query: LogQuery | None = None,
    *,
    after_id: int | None = None,
    poll_interval: float = 0.5,
) -> AsyncIterator[LogLine]:
    """Yield each new line matching ``query`` as it is stored, oldest first, forever.

    Starts after ``after_id`` (an SSE client's ``Last-Event-ID``) or after the newest line.
    """
    query = replace(query or LogQuery(), limit=500)
    last = latest_id(store) if after_id is None else after_id
    while True:
        where, values = _where(query, after_id=last)
        lines = await asyncio.to_thread(_select, store, where, values, "ORDER BY l.id", query)
        for line in lines:
            last = line.id
            yield line
        if len(lines) < query.limit:
            await asyncio.sleep(poll_interval)


def sse_event(line: LogLine) -> str:
    """One Server-Sent Events message: ``id`` is the row id, ``data`` the line as JSON."""
    return f"id: {line.id}\nevent: log\ndata: {json.dumps(line.to_dict(), default=str)}\n\n"
