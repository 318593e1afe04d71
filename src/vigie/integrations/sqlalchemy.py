"""Connection-pool and query metrics of a SQLAlchemy engine (PostgreSQL, SQLite, MySQL, ...).

``vigie.instrument_sqlalchemy(engine)`` records the pool metrics of OpenTelemetry's database
client semantic conventions, under the Prometheus names that OpenTelemetry's own SQLAlchemy
instrumentation produces (``db.client.connections.usage`` -> ``db_client_connections_usage``,
attributes ``pool.name`` and ``state``), so dashboards built for it work unchanged, and the
newer ``db.client.operation.duration`` for queries:

============================================ ========= ============================================
name                                         type      labels
============================================ ========= ============================================
``db_client_connections_usage``              gauge     pool_name, state (``idle`` | ``used``)
``db_client_connections_max``                gauge     pool_name (pool_size + max_overflow)
``db_client_connections_idle_max``           gauge     pool_name (pool_size)
``db_client_connections_wait_time_seconds``  histogram pool_name (time to get a connection)
``db_client_connections_timeouts_total``     counter   pool_name (the pool was exhausted)
``db_client_operation_duration_seconds``     histogram db_system_name, pool_name,
                                                       db_operation_name, error_type
``vigie_db_client_connections_overflow``     gauge     pool_name (connections beyond pool_size)
``vigie_db_client_connections_usage_ratio``  gauge     pool_name (used / max, 0 to 1)
``vigie_db_client_connections_errors_total`` counter   pool_name, error_type (a new connection
                                                       could not be opened)
============================================ ========= ============================================

``db_operation_name`` is the statement's first keyword, one of ``SELECT INSERT UPDATE DELETE
OTHER``: never the SQL text, whose literals may hold user data. ``error_type`` is the driver's
exception class (``UniqueViolation``, ``IntegrityError``, ``OperationalError``) and empty on
success, as OpenTelemetry's ``error.type``. The wait time includes opening a new connection when
the pool grows.

The pool figures are refreshed at each checkout and return, so they are exact after every
change and need no scrape-time callback (which prometheus-client's multi-process mode would not
run). Pool metrics need a pool that SQLAlchemy manages (QueuePool, the default for servers, and
its async variant); others report ``used`` only.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> from sqlalchemy import create_engine, text
    >>> registry = CollectorRegistry()
    >>> engine = instrument_sqlalchemy(create_engine("sqlite://"), name="app", registry=registry)
    >>> with engine.connect() as connection:
    ...     _ = connection.execute(text("SELECT 1"))
    >>> registry.get_sample_value("db_client_operation_duration_seconds_count", {
    ...     "db_system_name": "sqlite", "pool_name": "app",
    ...     "db_operation_name": "SELECT", "error_type": ""})
    1.0
"""

from __future__ import annotations

import contextvars
import re
import threading
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk import instruments
from vigie.sdk.failsafe import guard, log_internal_error

__all__ = ["OPERATION_BUCKETS", "instrument_sqlalchemy", "operation_name"]

#: OpenTelemetry's advised boundaries for ``db.client.operation.duration``.
OPERATION_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
# Waiting for a pooled connection is sub-millisecond when healthy, up to pool_timeout when not.
_WAIT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0,
)  # fmt: skip

_POOL = "pool_name"
_OPERATION_LABELS = ("db_system_name", _POOL, "db_operation_name", "error_type")
_OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
_FIRST_KEYWORD = re.compile(r"\s*(?:(?:--[^\n]*(?:\n|\Z)|/\*.*?\*/)\s*)*([A-Za-z]+)", re.DOTALL)
# SQLAlchemy dialect name -> OpenTelemetry db.system.name, where they differ.
_SYSTEMS = {"mssql": "microsoft.sql_server", "oracle": "oracle.db"}

_instrumented: weakref.WeakKeyDictionary[Any, CollectorRegistry] = weakref.WeakKeyDictionary()
_instrumented_lock = threading.Lock()


def operation_name(statement: str) -> str:
    """``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE`` or ``OTHER``: the statement's first keyword.

    >>> operation_name("  /* app */ select * from items where name = 'secret'")
    'SELECT'
    >>> operation_name("CREATE TABLE t (x int)")
    'OTHER'
    """
    # Fast path: statements SQLAlchemy compiles start with the keyword (all four have 6 letters).
    head = statement[:7].upper()
    if head[:6] in _OPERATIONS and (len(head) == 6 or not (head[6].isalnum() or head[6] == "_")):
        return head[:6]
    match = _FIRST_KEYWORD.match(statement)
    if match is None:
        return "OTHER"
    word = match.group(1).upper()
    return word if word in _OPERATIONS else "OTHER"


def instrument_sqlalchemy(
    engine: Any, *, name: str | None = None, registry: CollectorRegistry | None = None
) -> Any:
    """Record pool and query metrics of ``engine`` (sync or async); return ``engine``.

    ``name`` is the ``pool_name`` label (default ``host:port/database``, without user or
    password); give one per engine when several point at the same database.
    Instrumenting the same engine twice is a no-op.
    """
    try:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
    except ImportError as error:  # pragma: no cover - the extra is missing
        raise InstrumentationError(
            "instrument_sqlalchemy needs SQLAlchemy: pip install 'vigie[sqlalchemy]'"
        ) from error
    sync_engine = getattr(engine, "sync_engine", engine)  # AsyncEngine wraps a sync Engine
    if not isinstance(sync_engine, Engine):
        raise InstrumentationError(
            f"instrument_sqlalchemy expects a SQLAlchemy Engine or AsyncEngine, "
            f"got {type(engine).__name__}"
        )
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise InstrumentationError("registry must be a prometheus_client CollectorRegistry")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InstrumentationError("name must be a non-empty string")
    target = registry if registry is not None else instruments.default_registry()
    with _instrumented_lock:
        if _instrumented.get(sync_engine) is target:
            return engine
        _instrumented[sync_engine] = target
    metrics = _EngineMetrics(
        target, name or _default_name(sync_engine.url), _system(sync_engine.dialect.name)
    )
    metrics.watch(sync_engine.pool)
    event.listen(sync_engine, "before_cursor_execute", metrics.before_cursor_execute)
    event.listen(sync_engine, "after_cursor_execute", metrics.after_cursor_execute)
    event.listen(sync_engine, "handle_error", metrics.handle_error)
    # dispose() replaces the pool with a fresh one: watch that one too.
    event.listen(sync_engine, "engine_disposed", lambda disposed: metrics.watch(disposed.pool))
    return engine


def _default_name(url: Any) -> str:
    if url.host is None:  # SQLite and other file or memory databases
        return f"{url.get_backend_name()}:{url.database or 'memory'}"
    port = f":{url.port}" if url.port else ""
    return f"{url.host}{port}/{url.database or ''}"


def _system(dialect: str) -> str:
    return _SYSTEMS.get(dialect, dialect)


class _EngineMetrics:
    """The metric children of one engine, and the event handlers that record into them."""

    def __init__(self, registry: CollectorRegistry, pool_name: str, system: str) -> None:
        self.pool_name = pool_name
        self.system = system
        self._duration = instruments.histogram(
            "db_client_operation_duration_seconds",
            "Duration of database client operations.",
            _OPERATION_LABELS,
            buckets=OPERATION_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, str], Any] = {}
        pool = {_POOL: pool_name}

        def gauge(metric_name: str, documentation: str, mode: str) -> Any:
            return instruments.gauge(
                metric_name, documentation, [_POOL], registry=registry, multiprocess_mode=mode
            ).labels(**pool)

        count = instruments.gauge(
            "db_client_connections_usage",
            "Connections currently in the state described by state.",
            [_POOL, "state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.used = count.labels(pool_name, "used")
        self.idle = count.labels(pool_name, "idle")
        self.max = gauge(
            "db_client_connections_max",
            "The maximum number of open connections allowed.",
            "livesum",
        )
        self.idle_max = gauge(
            "db_client_connections_idle_max",
            "The maximum number of idle open connections allowed.",
            "livesum",
        )
        self.overflow = gauge(
            "vigie_db_client_connections_overflow",
            "Connections open beyond the pool size (SQLAlchemy max_overflow in use).",
            "livesum",
        )
        self.ratio = gauge(
            "vigie_db_client_connections_usage_ratio",
            "Used connections over the maximum allowed (0 to 1).",
            "livemax",
        )
        self.wait_time = instruments.histogram(
            "db_client_connections_wait_time_seconds",
            "The time it took to obtain an open connection from the pool.",
            [_POOL],
            buckets=_WAIT_BUCKETS,
            registry=registry,
        ).labels(**pool)
        self.timeouts = instruments.counter(
            "db_client_connections_timeouts",
            "Connection requests that timed out because the pool was exhausted.",
            [_POOL],
            registry=registry,
        ).labels(**pool)
        self._connect_errors = instruments.counter(
            "vigie_db_client_connections_errors",
            "Failures to obtain a connection other than pool timeouts (database unreachable).",
            [_POOL, "error_type"],
            registry=registry,
        )
        self._own_used = 0
        self._lock = threading.Lock()

    # -- queries -------------------------------------------------------------------------------

    def _record(self, statement: str | None, started: float, error_type: str) -> None:
        key = (operation_name(statement or ""), error_type)
        child = self._children.get(key)
        if child is None:
            child = self._duration.labels(self.system, self.pool_name, *key)
            self._children[key] = child
        child.observe(perf_counter() - started)

    def before_cursor_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if context is not None:
            context._vigie_started = perf_counter()

    def after_cursor_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        started = getattr(context, "_vigie_started", None)
        if started is not None:
            # try/except rather than guard(): this runs once per statement, and a generator-based
            # context manager costs about a microsecond.
            try:
                self._record(statement, started, "")
            except Exception:
                log_internal_error("sqlalchemy.after_cursor_execute")

    def handle_error(self, exception_context: Any) -> None:
        started = getattr(exception_context.execution_context, "_vigie_started", None)
        if started is not None:
            with guard("sqlalchemy.handle_error"):
                error = exception_context.original_exception
                self._record(exception_context.statement, started, type(error).__name__)

    # -- the pool ------------------------------------------------------------------------------

    def watch(self, pool: Any) -> None:
        """Wrap the pool's get and return so each checkout is timed and the gauges refreshed."""
        if getattr(pool, "_vigie_watched", False):
            return
        original_get: Callable[[], Any] | None = getattr(pool, "_do_get", None)
        original_return: Callable[[Any], None] | None = getattr(pool, "_do_return_conn", None)
        if original_get is None or original_return is None:  # pragma: no cover - other SQLAlchemy
            return
        from sqlalchemy.exc import TimeoutError as PoolTimeoutError

        # A context variable, not a thread-local: the async engine's greenlets share a thread.
        inside: contextvars.ContextVar[bool] = contextvars.ContextVar(
            "vigie_pool_get", default=False
        )

        def timed_get() -> Any:
            if inside.get():  # QueuePool retries by calling itself
                return original_get()
            token = inside.set(True)
            started = perf_counter()
            try:
                record = original_get()
            except PoolTimeoutError:
                with guard("sqlalchemy.pool.timeout"):
                    self.wait_time.observe(perf_counter() - started)
                    self.timeouts.inc()
                raise
            except Exception as error:
                with guard("sqlalchemy.pool.error"):
                    self._connect_errors.labels(self.pool_name, type(error).__name__).inc()
                raise
            finally:
                inside.reset(token)
            with guard("sqlalchemy.pool.checkout"):
                self.wait_time.observe(perf_counter() - started)
                self._refresh(pool, +1)
            return record

        def counted_return(record: Any) -> None:
            try:
                original_return(record)
            finally:
                with guard("sqlalchemy.pool.checkin"):
                    self._refresh(pool, -1)

        pool._do_get = timed_get
        pool._do_return_conn = counted_return
        pool._vigie_watched = True
        with self._lock:
            self._own_used = 0
        with guard("sqlalchemy.pool.watch"):
            self._refresh(pool, 0)

    def _refresh(self, pool: Any, change: int) -> None:
        with self._lock:
            self._own_used = max(0, self._own_used + change)
            own_used = self._own_used
        checkedout = getattr(pool, "checkedout", None)
        if checkedout is None:  # NullPool, StaticPool, SingletonThreadPool: count ourselves
            self.used.set(own_used)
            return
        size = pool.size()
        used = checkedout()
        max_overflow = getattr(pool, "_max_overflow", -1)
        self.used.set(used)
        self.idle.set(pool.checkedin())
        self.idle_max.set(size)
        self.overflow.set(max(0, pool.overflow()))
        if size > 0 and max_overflow >= 0:
            self.max.set(size + max_overflow)
            self.ratio.set(used / (size + max_overflow))
