"""The notification log: what each receiver was last told about each alert group.

Alertmanager decides whether to notify by comparing the alerts of a group with what it last sent
(its ``nflog``): new firing alerts notify at once, newly resolved ones notify when the receiver
wants resolved messages, and an unchanged group is re-sent only after ``repeat_interval``.
:func:`needs_update` is that decision, line for line; :class:`NotificationLog` keeps the entries in
SQLite so a restart does not re-send everything.

Example::

    >>> from datetime import datetime, timedelta, timezone
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> needs_update(None, {"a"}, set(), send_resolved=True, now=now, repeat=timedelta(hours=4))
    True
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

__all__ = ["LogEntry", "NotificationLog", "needs_update"]


@dataclass(frozen=True)
class LogEntry:
    """What was last notified: the firing and resolved fingerprints, and when."""

    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp: datetime


def needs_update(
    entry: LogEntry | None,
    firing: set[str],
    resolved: set[str],
    *,
    send_resolved: bool,
    now: datetime,
    repeat: timedelta,
) -> bool:
    """Alertmanager's ``DedupStage.needsUpdate``."""
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        # Everything resolved: notify (also to clear the log), unless the receiver never knew.
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.timestamp < now - repeat


class NotificationLog:
    """Entries keyed by (group key, receiver, integration), in SQLite (``:memory:`` by default)."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._connection = sqlite3.connect(str(path), check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS nflog (key TEXT PRIMARY KEY, firing TEXT, resolved TEXT,"
            " timestamp REAL, expires REAL)"
        )
        self._lock = threading.Lock()

    def get(self, key: str) -> LogEntry | None:
        """The entry for ``key``, if any."""
        with self._lock:
            row = self._connection.execute(
                "SELECT firing, resolved, timestamp FROM nflog WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return LogEntry(
            frozenset(json.loads(row[0])),
            frozenset(json.loads(row[1])),
            datetime.fromtimestamp(row[2], tz=UTC),
        )

    def log(
        self, key: str, firing: set[str], resolved: set[str], now: datetime, retention: timedelta
    ) -> None:
        """Record a notification (kept for ``retention``)."""
        with self._lock, self._connection:
            self._connection.execute(
                "INSERT OR REPLACE INTO nflog VALUES (?, ?, ?, ?, ?)",
                (
                    key,
                    json.dumps(sorted(firing)),
                    json.dumps(sorted(resolved)),
                    now.timestamp(),
                    (now + retention).timestamp(),
                ),
            )

    def garbage_collect(self, now: datetime) -> int:
        """Drop expired entries; returns how many."""
        with self._lock, self._connection:
            cursor = self._connection.execute(
                "DELETE FROM nflog WHERE expires < ?", (now.timestamp(),)
            )
        return cursor.rowcount

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._connection.close()
