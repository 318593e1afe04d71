"""PostgreSQL health under postgres_exporter's names: up, backends, transactions, cache, size.

Given a connection URL, vigie asks the server the same questions postgres_exporter asks
(``pg_stat_database``, ``pg_stat_activity``, ``pg_settings``, ``pg_database_size``) and exposes
the answers under the same metric and label names, so the usual rules and dashboards work
unchanged and the real exporter can replace vigie later.

One difference is forced by prometheus-client: postgres_exporter types the cumulative columns of
``pg_stat_database`` (``xact_commit``, ``blks_hit``, ...) as counters *without* the ``_total``
suffix, which prometheus-client cannot expose (it appends ``_total`` to every counter sample).
vigie exposes them untyped under the exact series name instead: ``rate()`` and every query
written for postgres_exporter work the same.

A database that cannot be reached gives ``pg_up 0`` and no other series for it; ``collect()``
never raises. One connection per target is kept open between scrapes (autocommit, with a
statement timeout) and re-opened after a failure. When targets carry a ``name``, every series
gets a ``server`` label with it (as postgres_exporter's ``server`` label did), so several
databases can share the registry.

Families:

================================================ ======= ===========================================
name                                             type    labels
================================================ ======= ===========================================
``pg_up``                                        gauge   (server)
``pg_stat_database_numbackends``                 gauge   datid, datname
``pg_stat_database_xact_commit``, ``_xact_       untyped datid, datname (cumulative)
rollback``, ``_blks_read``, ``_blks_hit``,
``_tup_returned``, ``_tup_fetched``, ``_tup_
inserted``, ``_tup_updated``, ``_tup_deleted``,
``_conflicts``, ``_temp_files``, ``_temp_bytes``,
``_deadlocks``, ``_blk_read_time``, ``_blk_write_
time``
``pg_database_size_bytes``                       gauge   datname
``pg_stat_activity_count``                       gauge   datname, state
``pg_stat_activity_max_tx_duration``             gauge   datname, state (seconds)
``pg_settings_max_connections``                  gauge   -
``pg_settings_superuser_reserved_connections``   gauge   -
``pg_postmaster_start_time_seconds``             gauge   -
================================================ ======= ===========================================

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> collector = PostgresCollector([PostgresTarget("postgresql://app@127.0.0.1:1/app")])
    >>> _ = registry.register(collector)
    >>> registry.get_sample_value("pg_up")
    0.0
"""

from __future__ import annotations

import contextlib
import logging
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

__all__ = ["PostgresCollector", "PostgresTarget", "describe_url"]

logger = logging.getLogger("vigie.collectors")

# pg_stat_database column -> help (postgres_exporter's wording).
_STAT_DATABASE_COUNTERS = {
    "xact_commit": "Number of transactions in this database that have been committed",
    "xact_rollback": "Number of transactions in this database that have been rolled back",
    "blks_read": "Number of disk blocks read in this database",
    "blks_hit": "Number of times disk blocks were found already in the buffer cache, so that a "
    "read was not necessary (this only includes hits in the PostgreSQL buffer cache, not the "
    "operating system's file system cache)",
    "tup_returned": "Number of rows returned by queries in this database",
    "tup_fetched": "Number of rows fetched by queries in this database",
    "tup_inserted": "Number of rows inserted by queries in this database",
    "tup_updated": "Number of rows updated by queries in this database",
    "tup_deleted": "Number of rows deleted by queries in this database",
    "conflicts": "Number of queries canceled due to conflicts with recovery in this database",
    "temp_files": "Number of temporary files created by queries in this database",
    "temp_bytes": "Total amount of data written to temporary files by queries in this database",
    "deadlocks": "Number of deadlocks detected in this database",
    "blk_read_time": "Time spent reading data file blocks by backends in this database, in "
    "milliseconds",
    "blk_write_time": "Time spent writing data file blocks by backends in this database, in "
    "milliseconds",
}
# Built from the fixed column names above only; no outside value reaches the text.
_STAT_DATABASE_QUERY = (
    "SELECT datid::text, datname, numbackends, "  # noqa: S608
    + ", ".join(_STAT_DATABASE_COUNTERS)
    + " FROM pg_stat_database WHERE datname IS NOT NULL"
)
_SIZE_QUERY = (
    "SELECT datname, pg_database_size(oid) FROM pg_database "
    "WHERE datallowconn AND (has_database_privilege(oid, 'CONNECT') "
    "OR pg_has_role('pg_read_all_stats', 'USAGE'))"
)
# postgres_exporter's own query: every (database, state) pair, zeros included.
_ACTIVITY_QUERY = """
SELECT pg_database.datname, tmp.state,
       COALESCE(count, 0) AS count, COALESCE(max_tx_duration, 0) AS max_tx_duration
FROM (VALUES ('active'), ('idle'), ('idle in transaction'),
             ('idle in transaction (aborted)'), ('fastpath function call'), ('disabled')
     ) AS tmp(state) CROSS JOIN pg_database
LEFT JOIN (
    SELECT datname, state, count(*) AS count,
           MAX(EXTRACT(EPOCH FROM now() - xact_start))::float AS max_tx_duration
    FROM pg_stat_activity GROUP BY datname, state
) AS tmp2 ON tmp.state = tmp2.state AND pg_database.datname = tmp2.datname
"""
_SETTINGS_QUERY = (
    "SELECT name, setting::float FROM pg_settings "
    "WHERE name IN ('max_connections', 'superuser_reserved_connections')"
)
_START_TIME_QUERY = "SELECT EXTRACT(EPOCH FROM pg_postmaster_start_time())::float"


@dataclass(frozen=True)
class PostgresTarget:
    """One database server to watch.

    - ``url``: a libpq URL or key=value string (``postgresql://monitor@db:5432/postgres``). Keep
      the password out of it: libpq reads ``PGPASSWORD`` and ``~/.pgpass``.
    - ``name``: the ``server`` label of every series of this target (needed with several).
    - ``timeout_seconds``: connection and statement timeout; bounds a scrape of a dead server.
    """

    url: str
    name: str | None = None
    timeout_seconds: float = 5.0


def describe_url(url: str) -> str:
    """``host:port/dbname`` of a connection string, without user or password (safe to log)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
    except Exception:
        return "<unparsable connection string>"
    host = parts.get("host") or parts.get("hostaddr") or "localhost"
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"


@dataclass
class _TargetState:
    target: PostgresTarget
    connection: Any = None
    up: bool | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Families:
    """The families of one collection, filled target by target."""

    def __init__(self, server_label: bool) -> None:
        extra = ["server"] if server_label else []
        self.extra = extra
        self.up = GaugeMetricFamily(
            "pg_up",
            "Whether the last scrape of metrics from PostgreSQL was able to connect to the server "
            "(1 for yes, 0 for no).",
            labels=extra,
        )
        database = ["datid", "datname", *extra]
        self.numbackends = GaugeMetricFamily(
            "pg_stat_database_numbackends",
            "Number of backends currently connected to this database.",
            labels=database,
        )
        self.counters = {
            column: UnknownMetricFamily(
                f"pg_stat_database_{column}", help_text + " (cumulative)", labels=database
            )
            for column, help_text in _STAT_DATABASE_COUNTERS.items()
        }
        self.size = GaugeMetricFamily(
            "pg_database_size_bytes", "Disk space used by the database", labels=["datname", *extra]
        )
        activity = ["datname", "state", *extra]
        self.activity_count = GaugeMetricFamily(
            "pg_stat_activity_count", "number of connections in this state", labels=activity
        )
        self.max_tx_duration = GaugeMetricFamily(
            "pg_stat_activity_max_tx_duration",
            "max duration in seconds any active transaction has been running",
            labels=activity,
        )
        self.settings = {
            name: GaugeMetricFamily(
                f"pg_settings_{name}", f"Server Parameter: {name}", labels=extra
            )
            for name in ("max_connections", "superuser_reserved_connections")
        }
        self.start_time = GaugeMetricFamily(
            "pg_postmaster_start_time_seconds",
            "Time at which postmaster started",
            labels=extra,
        )

    def all(self) -> list[Metric]:
        return [
            self.up,
            self.numbackends,
            *self.counters.values(),
            self.size,
            self.activity_count,
            self.max_tx_duration,
            *self.settings.values(),
            self.start_time,
        ]


class PostgresCollector(Collector):
    """Collects postgres_exporter's core metrics from each target at every scrape.

    ``psycopg`` (version 3) is imported on the first collection, so a server without PostgreSQL
    targets never needs it.
    """

    def __init__(self, targets: Sequence[PostgresTarget]) -> None:
        self.targets = tuple(targets)
        self._states = [_TargetState(target) for target in self.targets]
        self._server_label = any(target.name for target in self.targets)
        # A collector dropped on a config reload closes its connections, even without close().
        self._finalizer = weakref.finalize(self, _close_all, self._states)

    def describe(self) -> Iterable[Metric]:
        """The families, without samples (no connection is made)."""
        return _Families(self._server_label).all()

    def collect(self) -> Iterator[Metric]:
        """Query every target now; a target that fails reports ``pg_up 0``."""
        families = _Families(self._server_label)
        for state in self._states:
            with state.lock:
                self._scrape(state, families)
        for family in families.all():
            if family.samples:
                yield family

    def close(self) -> None:
        """Close the kept connections (at shutdown, or when a reload replaces the collector)."""
        self._finalizer()

    def _scrape(self, state: _TargetState, families: _Families) -> None:
        target = state.target
        extra = [target.name or ""] if self._server_label else []
        staged = _Families(self._server_label)
        try:
            import psycopg

            if state.connection is None or state.connection.closed:
                state.connection = psycopg.connect(
                    target.url,
                    autocommit=True,
                    connect_timeout=max(1, round(target.timeout_seconds)),
                    options=f"-c statement_timeout={int(target.timeout_seconds * 1000)}",
                    application_name="vigie",
                )
            _query(state.connection, staged, extra)
        except Exception as error:
            _close(state)
            families.up.add_metric(extra, 0.0)
            if state.up is not False:
                logger.warning(
                    "postgres collector: %s is down: %s",
                    target.name or describe_url(target.url),
                    _first_line(error),
                )
            state.up = False
            return
        if state.up is False:
            logger.info(
                "postgres collector: %s is up again", target.name or describe_url(target.url)
            )
        state.up = True
        families.up.add_metric(extra, 1.0)
        for mine, staged_family in zip(families.all()[1:], staged.all()[1:], strict=True):
            mine.samples.extend(staged_family.samples)


def _query(connection: Any, families: _Families, extra: list[str]) -> None:
    with connection.cursor() as cursor:
        for row in cursor.execute(_STAT_DATABASE_QUERY).fetchall():
            datid, datname, numbackends, *counters = row
            labels = [datid, datname, *extra]
            families.numbackends.add_metric(labels, float(numbackends or 0))
            for column, value in zip(_STAT_DATABASE_COUNTERS, counters, strict=True):
                families.counters[column].add_metric(labels, float(value or 0))
        for datname, size in cursor.execute(_SIZE_QUERY).fetchall():
            families.size.add_metric([datname, *extra], float(size))
        for datname, state, count, duration in cursor.execute(_ACTIVITY_QUERY).fetchall():
            labels = [datname, state, *extra]
            families.activity_count.add_metric(labels, float(count))
            families.max_tx_duration.add_metric(labels, float(duration))
        for name, setting in cursor.execute(_SETTINGS_QUERY).fetchall():
            families.settings[name].add_metric(extra, float(setting))
        row = cursor.execute(_START_TIME_QUERY).fetchone()
        if row is not None:
            families.start_time.add_metric(extra, float(row[0]))


def _close_all(states: list[_TargetState]) -> None:
    for state in states:
        with state.lock:
            _close(state)


def _close(state: _TargetState) -> None:
    connection, state.connection = state.connection, None
    if connection is not None:
        # A broken connection may fail to close; it is dropped either way.
        with contextlib.suppress(Exception):
            connection.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
