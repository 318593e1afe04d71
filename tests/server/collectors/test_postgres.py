"""The PostgreSQL collector against a real PostgreSQL server started by the test."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics import exposition as openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from support import free_port, require_binary
from support.postgres import PostgresServer, running_postgres
from vigie.exceptions import ConfigurationError
from vigie.server.collectors import PostgresCollector, PostgresTarget, build_collectors

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A throw-away server with an ``app`` database and a ``items`` table."""
    with running_postgres() as server:
        server.create_database("app")
        with psycopg.connect(server.url("app"), autocommit=True) as connection:
            connection.execute("CREATE TABLE items (id int PRIMARY KEY, value int)")
            connection.execute("INSERT INTO items VALUES (1, 0), (2, 0)")
        yield server


@pytest.fixture
def scrape(postgres: PostgresServer) -> Iterator[Callable[[str, dict[str, str]], float | None]]:
    """Collect from the server (the collector connects to the ``postgres`` database)."""
    registry = CollectorRegistry()
    collector = PostgresCollector([PostgresTarget(postgres.url("postgres"))])
    registry.register(collector)
    yield lambda name, labels: registry.get_sample_value(name, labels)
    collector.close()


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    # PostgreSQL publishes a backend's statistics up to a second after its transactions end.
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def _app(scrape: Callable[[str, dict[str, str]], float | None], column: str) -> float:
    value = scrape(f"pg_stat_database_{column}", {"datname": "app", "datid": _datid_app[0]})
    assert value is not None
    return value


_datid_app: list[str] = []


@pytest.fixture(autouse=True)
def _datid(postgres: PostgresServer) -> None:
    if not _datid_app:
        with psycopg.connect(postgres.url("app")) as connection:
            row = connection.execute("SELECT oid::text FROM pg_database WHERE datname='app'")
            _datid_app.append(row.fetchone()[0])


def test_up_settings_and_size(postgres: PostgresServer, scrape) -> None:
    """pg_up is 1; max_connections and the database size are the server's own figures."""
    assert scrape("pg_up", {}) == 1.0
    with psycopg.connect(postgres.url("app")) as connection:
        max_connections = float(connection.execute("SHOW max_connections").fetchone()[0])
        size = connection.execute("SELECT pg_database_size('app')").fetchone()[0]
    assert scrape("pg_settings_max_connections", {}) == max_connections
    assert scrape("pg_settings_superuser_reserved_connections", {}) == 3.0
    assert scrape("pg_database_size_bytes", {"datname": "app"}) == float(size)
    start = scrape("pg_postmaster_start_time_seconds", {})
    assert start is not None
    assert time.time() - 600 < start <= time.time()


def test_commits_and_rollbacks_are_counted_exactly(postgres: PostgresServer, scrape) -> None:
    """Five commits and two rollbacks in `app` move xact_commit by 5 (+1) and xact_rollback by 2."""
    # Earlier sessions flush their statistics as they exit: wait until none is left.
    _wait_for(lambda: _app(scrape, "numbackends") == 0.0)
    commits, rollbacks = _app(scrape, "xact_commit"), _app(scrape, "xact_rollback")
    with psycopg.connect(postgres.url("app")) as connection:
        for value in range(5):
            connection.execute("UPDATE items SET value = %s WHERE id = 1", (value,))
            connection.commit()
        for _ in range(2):
            connection.execute("UPDATE items SET value = -1 WHERE id = 1")
            connection.rollback()
    # PostgreSQL counts one more commit per session: the transaction that starts it.
    _wait_for(lambda: _app(scrape, "xact_commit") >= commits + 6)
    _wait_for(lambda: _app(scrape, "xact_rollback") >= rollbacks + 2)
    assert _app(scrape, "xact_commit") == commits + 6
    assert _app(scrape, "xact_rollback") == rollbacks + 2
    assert _app(scrape, "blks_hit") > 0


def test_numbackends_and_activity_by_state(postgres: PostgresServer, scrape) -> None:
    """An idle-in-transaction session shows in count and max_tx_duration for its state."""
    labels = {"datname": "app", "state": "idle in transaction"}
    _wait_for(lambda: _app(scrape, "numbackends") == 0.0)
    assert scrape("pg_stat_activity_count", labels) == 0.0
    assert scrape("pg_stat_activity_max_tx_duration", labels) == 0.0
    with psycopg.connect(postgres.url("app")) as holder:
        holder.execute("SELECT 1")  # opens a transaction and leaves it idle
        time.sleep(1.2)
        assert scrape("pg_stat_activity_count", labels) == 1.0
        assert scrape("pg_stat_activity_max_tx_duration", labels) >= 1.0
        assert _app(scrape, "numbackends") == 1.0
        holder.rollback()
    _wait_for(lambda: _app(scrape, "numbackends") == 0.0)
    # The collector's own session is active in the `postgres` database while it asks.
    assert scrape("pg_stat_activity_count", {"datname": "postgres", "state": "active"}) >= 1.0


def test_a_real_deadlock_is_counted(postgres: PostgresServer, scrape) -> None:
    """Two sessions locking rows in opposite order make one deadlock in `app`."""
    _wait_for(lambda: _app(scrape, "numbackends") == 0.0)
    before = _app(scrape, "deadlocks")
    first = psycopg.connect(postgres.url("app"))
    second = psycopg.connect(postgres.url("app"))
    try:
        for connection in (first, second):
            connection.execute("SET deadlock_timeout = '100ms'")
        first.execute("UPDATE items SET value = 1 WHERE id = 1")
        second.execute("UPDATE items SET value = 2 WHERE id = 2")
        errors: list[BaseException] = []

        def cross(connection, row: int) -> None:
            try:
                connection.execute("UPDATE items SET value = 3 WHERE id = %s", (row,))
            except psycopg.errors.DeadlockDetected as error:
                errors.append(error)
                connection.rollback()

        thread = threading.Thread(target=cross, args=(first, 2))
        thread.start()
        time.sleep(0.3)  # let the first session wait on row 2
        cross(second, 1)
        thread.join(timeout=10)
        assert len(errors) == 1
        first.rollback()
        second.rollback()
    finally:
        first.close()
        second.close()
    _wait_for(lambda: _app(scrape, "deadlocks") == before + 1)


def test_down_database_gives_pg_up_zero_and_nothing_else() -> None:
    """A server that refuses connections yields pg_up 0, no exception, within the timeout."""
    registry = CollectorRegistry()
    registry.register(
        PostgresCollector([PostgresTarget(f"postgresql://app@127.0.0.1:{free_port()}/app")])
    )
    started = time.monotonic()
    text = generate_latest(registry).decode()
    assert time.monotonic() - started < 5
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert samples == ["pg_up 0.0"]


def test_named_targets_carry_a_server_label(postgres: PostgresServer) -> None:
    """With names, each target's series carry server=<name>; a dead one is only pg_up 0."""
    (collector,) = build_collectors(
        {
            "postgres": [
                {"name": "main", "url": postgres.url("postgres")},
                {"name": "gone", "url": f"postgresql://x@127.0.0.1:{free_port()}/x"},
            ]
        }
    )
    registry = CollectorRegistry()
    registry.register(collector)
    try:
        assert registry.get_sample_value("pg_up", {"server": "main"}) == 1.0
        assert registry.get_sample_value("pg_up", {"server": "gone"}) == 0.0
        assert (
            registry.get_sample_value(
                "pg_database_size_bytes", {"datname": "app", "server": "main"}
            )
            > 0
        )
        text = generate_latest(registry).decode()
        assert 'server="gone"' in text.split("# HELP pg_stat_database_numbackends")[0]
        assert text.count('server="gone"') == 1
    finally:
        collector.close()


def test_reconnects_after_the_connection_is_killed(postgres: PostgresServer, scrape) -> None:
    """A terminated collector session gives one pg_up 0, then the next scrape reconnects."""
    assert scrape("pg_up", {}) == 1.0
    with psycopg.connect(postgres.url("postgres"), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'vigie'"
        )
    assert scrape("pg_up", {}) == 0.0
    assert scrape("pg_up", {}) == 1.0


def test_exposition_passes_promtool(scrape, postgres: PostgresServer) -> None:
    """promtool finds nothing but the `_count` suffix of postgres_exporter's own activity name."""
    promtool = require_binary("promtool", package="prometheus")
    registry = CollectorRegistry()
    collector = PostgresCollector([PostgresTarget(postgres.url("postgres"))])
    registry.register(collector)
    try:
        text = generate_latest(registry).decode()
        openmetrics_text = openmetrics.generate_latest(registry).decode()
    finally:
        collector.close()
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    problems = (result.stdout + result.stderr).strip().splitlines()
    assert problems == [
        'pg_stat_activity_count non-histogram and non-summary metrics should not have "_count" '
        "suffix"
    ]
    assert "pg_stat_database_xact_commit{" in text  # postgres_exporter's series name, no _total
    # The OpenMetrics rendering (what a scraper asking for it gets) parses too.
    families = {family.name for family in text_string_to_metric_families(openmetrics_text)}
    assert {"pg_up", "pg_stat_database_xact_commit", "pg_stat_activity_count"} <= families


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"postgres": [{"name": "a"}]}, "collectors.postgres[0].url"),
        ({"postgres": [{"url": "host=x bogus=1"}]}, "collectors.postgres[0].url"),
        ({"postgres": [{"url": "postgresql://a/b", "port": 1}]}, "collectors.postgres[0].port"),
        (
            {"postgres": [{"url": "postgresql://a/b"}, {"url": "postgresql://c/d"}]},
            "collectors.postgres",
        ),
        (
            {"postgres": [{"url": "postgresql://a/b", "timeout_seconds": 0}]},
            "collectors.postgres[0].timeout_seconds",
        ),
        ({"host": {"filesystems": "/"}}, "collectors.host.filesystems"),
        ({"host": {"disk_devices_exclude": "("}}, "collectors.host.disk_devices_exclude"),
        ({"host": {"enable": True}}, "collectors.host.enable"),
        ({"redis": {}}, "collectors.redis"),
    ],
)
def test_bad_config_names_the_field(section: dict, field: str) -> None:
    """A bad collectors section raises ConfigurationError naming the exact field."""
    with pytest.raises(ConfigurationError) as caught:
        build_collectors(section)
    assert caught.value.field == field


def test_config_builds_what_it_says() -> None:
    """host false builds nothing; host {} builds a HostCollector; absent builds nothing."""
    assert build_collectors(None) == []
    assert build_collectors({"host": {"enabled": False}}) == []
    (host,) = build_collectors({"host": {"filesystems": ["/"]}})
    assert host.filesystems == ("/",)


def test_a_dropped_collector_closes_its_connection(postgres: PostgresServer) -> None:
    """A collector replaced on reload (dropped without close()) ends its database session."""
    import gc

    registry = CollectorRegistry()
    collector = PostgresCollector([PostgresTarget(postgres.url("postgres"))])
    registry.register(collector)
    assert registry.get_sample_value("pg_up") == 1.0
    registry.unregister(collector)
    del collector
    gc.collect()

    def vigie_sessions() -> int:
        with psycopg.connect(postgres.url("postgres"), autocommit=True) as admin:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigie'"
            return int(admin.execute(query).fetchone()[0])

    _wait_for(lambda: vigie_sessions() == 0, timeout=5)
