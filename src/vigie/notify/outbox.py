"""Durable delivery: notifications wait on disk until their receiver has taken them.

A notification is written to SQLite (``synchronous=FULL``) before the dispatcher records it as
sent, so a crash of vigie loses none. Delivery retries with exponential backoff and jitter, so a
receiver that is down for ten minutes gets every notification when it comes back, in order.
Delivery is *at least once*: a crash between a successful send and its acknowledgement re-sends
that one message; ``dedup_key`` (group, receiver, integration, time) lets a receiver drop it.

Example::

    >>> outbox = Outbox()
    >>> outbox.pending_count()
    0
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from vigie.notify.config import Integration
from vigie.notify.dispatcher import Notification

__all__ = ["DeliveryRecord", "Outbox", "RetryPolicy"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT UNIQUE NOT NULL,
    receiver TEXT NOT NULL,
    kind TEXT NOT NULL,
    integration_index INTEGER NOT NULL,
    send_resolved INTEGER NOT NULL,
    settings TEXT NOT NULL,
    group_key TEXT NOT NULL,
    payload TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT NOT NULL DEFAULT '',
    delivered_at REAL,
    body_format TEXT NOT NULL DEFAULT 'text'
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS outbox_queue
    ON outbox (receiver, kind, integration_index, group_key, state, id);
"""
# Only the oldest pending notification of each (receiver, integration, group) may be sent: a
# group's messages arrive in order even after an outage (never "resolved" before "firing").
_SELECT_DUE = """
SELECT id, receiver, kind, integration_index, send_resolved, settings, group_key, payload, title,
       body, created_at, attempts, state, last_error, delivered_at, body_format
FROM outbox AS o WHERE o.state = 'pending' AND o.next_attempt <= ?
AND o.id = (SELECT MIN(h.id) FROM outbox AS h WHERE h.state = 'pending' AND h.receiver = o.receiver
            AND h.kind = o.kind AND h.integration_index = o.integration_index
            AND h.group_key = o.group_key)
ORDER BY o.id LIMIT ?
"""
_NEXT_ATTEMPT = """
SELECT MIN(o.next_attempt) FROM outbox AS o WHERE o.state = 'pending'
AND o.id = (SELECT MIN(h.id) FROM outbox AS h WHERE h.state = 'pending' AND h.receiver = o.receiver
            AND h.kind = o.kind AND h.integration_index = o.integration_index
            AND h.group_key = o.group_key)
"""
_SELECT_RECENT = """
SELECT id, receiver, kind, integration_index, send_resolved, settings, group_key, payload, title,
       body, created_at, attempts, state, last_error, delivered_at, body_format
FROM outbox ORDER BY id DESC LIMIT ?
"""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped; a notification is given up after ``max_age``."""

    base: timedelta = timedelta(seconds=1)
    cap: timedelta = timedelta(seconds=30)
    max_age: timedelta = timedelta(hours=24)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Wait before attempt number ``attempts + 1``: ``base * 2**attempts``, capped, jittered."""
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** min(attempts, 30))
        return timedelta(seconds=ceiling * rng.uniform(0.5, 1.0))


@dataclass
class DeliveryRecord:
    """A notification as stored, with its delivery state (for retries, the API and the UI)."""

    id: int
    notification: Notification
    attempts: int
    state: str
    last_error: str
    delivered_at: datetime | None

    def to_api(self) -> dict[str, Any]:
        """JSON shape for the notification history API."""
        return {
            "id": self.id,
            "receiver": self.notification.receiver,
            "integration": self.notification.integration.kind,
            "groupKey": self.notification.group_key,
            "status": self.notification.payload.get("status"),
            "title": self.notification.title,
            "createdAt": self.notification.created_at.isoformat(),
            "attempts": self.attempts,
            "state": self.state,
            "lastError": self.last_error,
            "deliveredAt": self.delivered_at.isoformat() if self.delivered_at else None,
        }


def _private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only (0600), or tighten an existing file.

    Queued notifications keep their integration settings so that they can be delivered after
    a restart: webhook URLs with tokens, SMTP passwords. SQLite gives its journal files the
    database file's permissions.
    """
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)


def _moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


class Outbox:
    """The on-disk queue of notifications (``:memory:`` for tests)."""

    def __init__(
        self, path: str | Path = ":memory:", *, policy: RetryPolicy | None = None, seed: int = 0
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._rng = random.Random(seed)
        if str(path) != ":memory:":
            _private_file(Path(path))
        self._connection = sqlite3.connect(str(path), check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.executescript(_SCHEMA)
        columns = {row[1] for row in self._connection.execute("PRAGMA table_info(outbox)")}
        if "body_format" not in columns:  # a queue written by an older vigie
            self._connection.execute(
                "ALTER TABLE outbox ADD COLUMN body_format TEXT NOT NULL DEFAULT 'text'"
            )
        self._lock = threading.Lock()

    def enqueue(self, notification: Notification) -> bool:
        """Store ``notification`` durably; False when the same one is already queued."""
        integration = notification.integration
        with self._lock, self._connection:
            cursor = self._connection.execute(
                "INSERT OR IGNORE INTO outbox (dedup_key, receiver, kind, integration_index,"
                " send_resolved, settings, group_key, payload, title, body, created_at,"
                " next_attempt, body_format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    notification.dedup_key,
                    notification.receiver,
                    integration.kind,
                    notification.integration_index,
                    int(integration.send_resolved),
                    json.dumps(integration.settings, default=str),
                    notification.group_key,
                    json.dumps(notification.payload),
                    notification.title,
                    notification.body,
                    notification.created_at.timestamp(),
                    notification.created_at.timestamp(),
                    notification.body_format,
                ),
            )
        return cursor.rowcount == 1

    def due(self, now: datetime, limit: int = 100) -> list[DeliveryRecord]:
        """Pending notifications whose next attempt is due, oldest first, one per group queue."""
        return self._select(_SELECT_DUE, (now.timestamp(), limit))

    def next_attempt(self) -> datetime | None:
        """When the earliest pending notification is due (None when nothing is pending)."""
        with self._lock:
            row = self._connection.execute(_NEXT_ATTEMPT).fetchone()
        return None if row[0] is None else _moment(row[0])

    def delivered(self, record_id: int, now: datetime) -> None:
        """Mark a notification as delivered."""
        with self._lock, self._connection:
            self._connection.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = ?, attempts = attempts + 1"
                " WHERE id = ?",
                (now.timestamp(), record_id),
            )

    def failed(self, record: DeliveryRecord, error: str, now: datetime) -> None:
        """Record a failed attempt: retry later, or give up once the notification is too old."""
        attempts = record.attempts + 1
        too_old = now - record.notification.created_at >= self.policy.max_age
        retry_at = now + self.policy.delay(record.attempts, self._rng)
        with self._lock, self._connection:
            self._connection.execute(
                "UPDATE outbox SET attempts = ?, last_error = ?, next_attempt = ?, state = ?"
                " WHERE id = ?",
                (
                    attempts,
                    error[:2000],
                    retry_at.timestamp(),
                    "failed" if too_old else "pending",
                    record.id,
                ),
            )

    def pending_count(self) -> int:
        """How many notifications wait for delivery."""
        return self.state_counts().get("pending", 0)

    def state_counts(self) -> dict[str, int]:
        """How many notifications are in each state (pending, delivered, failed)."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT state, COUNT(*) FROM outbox GROUP BY state"
            ).fetchall()
        return {str(state): int(count) for state, count in rows}

    def history(self, limit: int = 100) -> list[DeliveryRecord]:
        """The most recent notifications, newest first, with their delivery state."""
        return self._select(_SELECT_RECENT, (limit,))

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._connection.close()

    def _select(self, query: str, parameters: tuple[Any, ...]) -> list[DeliveryRecord]:
        with self._lock:
            rows = self._connection.execute(query, parameters).fetchall()
        records = []
        for row in rows:
            integration = Integration(
                kind=row[2], send_resolved=bool(row[4]), settings=json.loads(row[5])
            )
            notification = Notification(
                receiver=row[1],
                integration=integration,
                integration_index=row[3],
                group_key=row[6],
                payload=json.loads(row[7]),
                title=row[8],
                body=row[9],
                created_at=_moment(row[10]),
                body_format=row[15],
            )
            records.append(
                DeliveryRecord(
                    id=row[0],
                    notification=notification,
                    attempts=row[11],
                    state=row[12],
                    last_error=row[13],
                    delivered_at=None if row[14] is None else _moment(row[14]),
                )
            )
        return records
