"""SQLAlchemy pool and query metrics against real SQLite and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

import vigie
from support.postgres import PostgresServer, running_postgres
from vigie.exceptions import InstrumentationError
from vigie.integrations.sqlalchemy import instrument_sqlalchemy, operation_name

sqlalchemy = pytest.importorskip("sqlalchemy")
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.exc import IntegrityError  # noqa: E402
from sqlalchemy.exc import TimeoutError as PoolTimeoutError  # noqa: E402

POOL = "pool_name"


def _operations(
    registry: CollectorRegistry, system: str, pool: str, operation: str, error: str = ""
) -> float:
    value = registry.get_sample_value(
        "db_client_operation_duration_seconds_count",
        {"db_system_name": system, POOL: pool, "db_operation_name": operation, "error_type": error},
    )
    return value or 0.0


def _pool(registry: CollectorRegistry, name: str, pool: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {POOL: pool, **labels})


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL server with an ``app`` database."""
    pytest.importorskip("psycopg")
    with running_postgres() as server:
        server.create_database("app")
        yield server


def _workload(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50))"))
        for index in range(3):
            connection.execute(
                text("INSERT INTO items (id, name) VALUES (:id, 'secret-user-name')"), {"id": index}
            )
        connection.execute(text("SELECT * FROM items")).all()
        connection.execute(text("  -- a comment\n select count(*) from items")).all()
        connection.execute(text("UPDATE items SET name = 'x' WHERE id = 1"))
        connection.execute(text("DELETE FROM items WHERE id = 2"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_operations_are_counted_by_kind_never_by_text(
    backend: str, registry: CollectorRegistry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Each statement lands in SELECT/INSERT/UPDATE/DELETE/OTHER; no SQL text is exposed."""
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    else:
        server = request.getfixturevalue("postgres")
        engine = create_engine(server.url("app", driver="postgresql+psycopg"))
    instrument_sqlalchemy(engine, name="app", registry=registry)
    try:
        _workload(engine)
        with engine.connect() as connection:
            with pytest.raises(IntegrityError):
                connection.execute(text("INSERT INTO items (id, name) VALUES (1, 'dup')"))
            connection.rollback()
            connection.execute(text("DROP TABLE items"))
            connection.commit()
    finally:
        engine.dispose()
    expected_error = "IntegrityError" if backend == "sqlite" else "UniqueViolation"
    counts = {
        operation: _operations(registry, backend, "app", operation)
        for operation in ("SELECT", "INSERT", "UPDATE", "DELETE", "OTHER")
    }
    assert counts == {"SELECT": 2, "INSERT": 3, "UPDATE": 1, "DELETE": 1, "OTHER": 2}
    assert _operations(registry, backend, "app", "INSERT", expected_error) == 1
    exposition = generate_latest(registry).decode()
    assert "secret-user-name" not in exposition
    assert "items" not in exposition


def test_postgres_pool_exhaustion_is_visible(
    postgres: PostgresServer, registry: CollectorRegistry
) -> None:
    """pool_size 2 + overflow 1: three checkouts fill it, a fourth times out and is counted."""
    engine = create_engine(
        postgres.url("app", driver="postgresql+psycopg"),
        pool_size=2,
        max_overflow=1,
        pool_timeout=0.2,
    )
    instrument_sqlalchemy(engine, name="main", registry=registry)
    try:
        assert _pool(registry, "db_client_connections_max", "main") == 3
        assert _pool(registry, "db_client_connections_idle_max", "main") == 2
        connections = [engine.connect() for _ in range(3)]
        for connection in connections:
            connection.execute(text("SELECT 1"))
        assert _pool(registry, "db_client_connections_usage", "main", state="used") == 3
        assert _pool(registry, "db_client_connections_usage", "main", state="idle") == 0
        assert _pool(registry, "vigie_db_client_connections_overflow", "main") == 1
        assert _pool(registry, "vigie_db_client_connections_usage_ratio", "main") == 1.0
        with pytest.raises(PoolTimeoutError):
            engine.connect()
        assert _pool(registry, "db_client_connections_timeouts_total", "main") == 1
        assert _pool(registry, "db_client_connections_wait_time_seconds_count", "main") == 4
        slow = registry.get_sample_value(
            "db_client_connections_wait_time_seconds_bucket", {POOL: "main", "le": "0.1"}
        )
        assert slow == 3  # the three fast checkouts; the timed-out one waited 0.2 s
        for connection in connections:
            connection.close()
        used = _pool(registry, "db_client_connections_usage", "main", state="used")
        idle = _pool(registry, "db_client_connections_usage", "main", state="idle")
        assert (used, idle) == (0, 2)  # the overflow connection is closed, not kept
        assert _pool(registry, "vigie_db_client_connections_overflow", "main") == 0
        assert _pool(registry, "vigie_db_client_connections_usage_ratio", "main") == 0
    finally:
        engine.dispose()


def test_dispose_keeps_the_new_pool_watched(registry: CollectorRegistry, tmp_path: Path) -> None:
    """After engine.dispose() the fresh pool is watched: checkouts still count."""
    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    instrument_sqlalchemy(engine, name="a", registry=registry)
    with engine.connect():
        pass
    engine.dispose()
    with engine.connect():
        assert _pool(registry, "db_client_connections_usage", "a", state="used") == 1
    assert _pool(registry, "db_client_connections_wait_time_seconds_count", "a") == 2


def test_unreachable_database_counts_connection_errors(registry: CollectorRegistry) -> None:
    """A refused connection is counted by error type and still raised to the app."""
    from support import free_port

    pytest.importorskip("psycopg")
    engine = create_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x")
    instrument_sqlalchemy(engine, name="gone", registry=registry)
    with pytest.raises(sqlalchemy.exc.OperationalError):
        engine.connect()
    assert (
        _pool(
            registry,
            "vigie_db_client_connections_errors_total",
            "gone",
            error_type="OperationalError",
        )
        == 1
    )


def test_default_name_has_no_credentials(
    postgres: PostgresServer, registry: CollectorRegistry
) -> None:
    """Without name=, the pool is named host:port/database, never with user or password."""
    url = f"postgresql+psycopg://postgres:hunter2@127.0.0.1:{postgres.port}/app"
    engine = instrument_sqlalchemy(create_engine(url), registry=registry)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    name = f"127.0.0.1:{postgres.port}/app"
    assert _operations(registry, "postgresql", name, "SELECT") == 1
    assert "hunter2" not in generate_latest(registry).decode()


async def test_async_engine_is_instrumented(registry: CollectorRegistry) -> None:
    """An AsyncEngine (aiosqlite) records through its sync engine."""
    pytest.importorskip("aiosqlite")
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("sqlite+aiosqlite://")
    assert vigie.instrument_sqlalchemy(engine, name="async", registry=registry) is engine
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
    await engine.dispose()
    assert _operations(registry, "sqlite", "async", "SELECT") == 1


async def test_async_pool_waits_are_timed_per_task(
    registry: CollectorRegistry, tmp_path: Path
) -> None:
    """Two tasks sharing a one-connection async pool: both checkouts timed, one waited."""
    import asyncio

    pytest.importorskip("aiosqlite")
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", pool_size=1, max_overflow=0
    )
    instrument_sqlalchemy(engine, name="one", registry=registry)

    async def hold() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.2)

    await asyncio.gather(hold(), hold())
    await engine.dispose()
    assert _pool(registry, "db_client_connections_wait_time_seconds_count", "one") == 2
    fast = registry.get_sample_value(
        "db_client_connections_wait_time_seconds_bucket", {POOL: "one", "le": "0.1"}
    )
    assert fast == 1  # the second task waited about 0.2 s for the only connection


def test_instrumenting_twice_records_once(registry: CollectorRegistry) -> None:
    """A second instrument_sqlalchemy call on the same engine and registry changes nothing."""
    engine = create_engine("sqlite://")
    instrument_sqlalchemy(engine, name="m", registry=registry)
    instrument_sqlalchemy(engine, name="m", registry=registry)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert _operations(registry, "sqlite", "m", "SELECT") == 1


def test_misuse_is_reported_at_once() -> None:
    """Not an engine, a bad registry or an empty name raise InstrumentationError."""
    with pytest.raises(InstrumentationError, match="Engine"):
        instrument_sqlalchemy(object())
    with pytest.raises(InstrumentationError, match="registry"):
        instrument_sqlalchemy(create_engine("sqlite://"), registry=object())  # type: ignore[arg-type]
    with pytest.raises(InstrumentationError, match="name"):
        instrument_sqlalchemy(create_engine("sqlite://"), name=" ")


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("SELECT 1", "SELECT"),
        ("\n\t insert into t values (1)", "INSERT"),
        ("/* multi\nline */ -- and one\nUpDaTe t set x=1", "UPDATE"),
        ("delete from t", "DELETE"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "OTHER"),
        ("", "OTHER"),
        ("-- only a comment", "OTHER"),
        ("SELECTED", "OTHER"),
    ],
)
def test_operation_name(statement: str, expected: str) -> None:
    """The operation is the first keyword after comments, else OTHER."""
    assert operation_name(statement) == expected
