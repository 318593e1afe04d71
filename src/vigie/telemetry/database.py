"""One SQLite file in WAL mode: a writer connection, a reader per thread, errors made vigie's.

WAL lets searches read while the ingest writer commits, and with ``synchronous=FULL`` a committed
batch survives a crash of the process or of the machine. ``auto_vacuum=INCREMENTAL`` lets
retention give disk space back. SQLite's errors are translated at this boundary into
:class:`~vigie.exceptions.TelemetryError` naming the file ("database is locked", "file is not a
database").

Example::

    >>> import tempfile, pathlib
    >>> db = Database(pathlib.Path(tempfile.mkdtemp()) / "x.db", "CREATE TABLE t (v INTEGER);")
    >>> with db.writing() as connection:
    ...     _ = connection.execute("INSERT INTO t VALUES (1)")
    >>> db.read("SELECT v FROM t")
    [(1,)]
    >>> db.close()
"""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vigie.exceptions import TelemetryError

__all__ = ["Database", "TimedTable", "compact_json"]

_BUSY_TIMEOUT_MS = 5000

#: JSON text of a stored field: compact, UTF-8 kept, unknown types as ``str``. One encoder for
#: every row: ``json.dumps`` with options builds a new encoder per call.
compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


class Database:
    """A SQLite database file shared by one writer and many reader threads."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        with self._translated():
            self._writer = self._connect()
            # A larger page cache keeps the index pages hot for random trace ids, and a larger
            # WAL between checkpoints writes each hot page once instead of many times.
            self._writer.execute("PRAGMA cache_size=-65536")
            self._writer.execute("PRAGMA wal_autocheckpoint=10000")
            # auto_vacuum only takes effect before the first table is created.
            self._writer.execute("PRAGMA auto_vacuum=INCREMENTAL")
            mode = self._writer.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise TelemetryError(f"cannot use WAL journal mode (got {mode})", path=str(path))
            self._writer.executescript(schema)
            self._writer.execute("PRAGMA quick_check(1)").fetchone()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            check_same_thread=False,
            isolation_level=None,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        connection.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA synchronous=FULL")
        return connection

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise TelemetryError(_explain(error), path=str(self.path)) from error

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """The writer connection in one transaction: committed on exit, rolled back on error."""
        self._check_open()
        with self._write_lock, self._translated():
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def _reader(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            connection.execute("PRAGMA query_only=1")
            self._local.connection = connection
            with self._readers_lock:
                self._readers.append(connection)
        return connection

    def read(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a read-only query, from this thread's reader connection."""
        self._check_open()
        with self._translated():
            return self._reader().execute(sql, parameters).fetchall()

    def used_bytes(self) -> int:
        """Bytes of the database holding data (file pages minus free pages)."""
        with self._translated():
            pages = self._writer.execute("PRAGMA page_count").fetchone()[0]
            free = self._writer.execute("PRAGMA freelist_count").fetchone()[0]
            size = self._writer.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def shrink(self) -> None:
        """Give free pages back to the file system and fold the WAL into the main file."""
        with self._write_lock, self._translated():
            self._writer.execute("PRAGMA incremental_vacuum")
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def trim(self, table: str, time_column: str, max_bytes: int) -> int:
        """Delete the oldest rows of ``table`` until the data fits ``max_bytes`` (aim: 90%)."""
        deleted = 0
        for _ in range(8):
            used = self.used_bytes()
            if used <= max_bytes:
                break
            count = int(self.read(f"SELECT count(*) FROM {table}")[0][0])  # noqa: S608
            if not count:
                break
            batch = max(1, math.ceil(count * (used - 0.9 * max_bytes) / used))
            with self.writing() as connection:
                cursor = connection.execute(
                    f"DELETE FROM {table} WHERE id IN "  # noqa: S608 - fixed identifiers
                    f"(SELECT id FROM {table} ORDER BY {time_column}, id LIMIT ?)",
                    (batch,),
                )
                deleted += int(cursor.rowcount)
            self.shrink()
        return deleted

    def _check_open(self) -> None:
        if self._closed:
            raise TelemetryError("the database is closed", path=str(self.path))

    def close(self) -> None:
        """Close every connection; committed data is already on disk."""
        if self._closed:
            return
        self._closed = True
        with self._readers_lock:
            for connection in self._readers:
                connection.close()
            self._readers.clear()
        with self._write_lock:
            # A reader still open elsewhere keeps the WAL: it is replayed at the next open.
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._writer.close()


def _explain(error: sqlite3.Error) -> str:
    text = str(error)
    if "locked" in text or "busy" in text:
        return f"{text} (another process holds a write lock on it)"
    if "not a database" in text or "malformed" in text:
        return f"{text} (the file is corrupted: move it away to start afresh)"
    if "full" in text:
        return f"{text} (the disk is full)"
    return text


class TimedTable:
    """A store of timed records in one table of a :class:`Database`: count, retention, close.

    The log and span stores share it; ``table`` and ``time_column`` (nanoseconds) name what
    retention deletes by.
    """

    def __init__(self, path: Path, schema: str, table: str, time_column: str) -> None:
        self.database = Database(path, schema)
        self._table = table
        self._time_column = time_column

    def count(self) -> int:
        """How many records are stored."""
        return int(self.database.read(f"SELECT count(*) FROM {self._table}")[0][0])  # noqa: S608

    def delete_older_than(self, cutoff_ns: int) -> int:
        """Delete records older than ``cutoff_ns`` (by the time column); returns how many."""
        with self.database.writing() as connection:
            deleted = connection.execute(
                f"DELETE FROM {self._table} WHERE {self._time_column} < ?",  # noqa: S608
                (cutoff_ns,),
            )
            return int(deleted.rowcount)

    def shrink_to(self, max_bytes: int) -> int:
        """Delete the oldest records until the data fits in ``max_bytes`` (aiming at 90% of it)."""
        return self.database.trim(self._table, self._time_column, max_bytes)

    def close(self) -> None:
        """Close the database (committed records are on disk)."""
        self.database.close()
