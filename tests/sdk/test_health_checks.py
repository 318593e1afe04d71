"""The ready-made health checks against real SQLite, Alembic, HTTP servers and disks."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from support import free_port, missing
from vigie.exceptions import HealthCheckError, InstrumentationError
from vigie.sdk.health import (
    HealthRegistry,
    alembic_check,
    database_check,
    disk_check,
    http_check,
    index_check,
)
from vigie.sdk.health._checks import _bytes, _status_with_urllib


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        missing(f"Python package {module} is not installed (vigie[sqlalchemy] extra)")


def _message(check: Any) -> str:
    """Run one check through a registry and return its message, asserting nothing else."""
    health = HealthRegistry(registry=CollectorRegistry())
    health.add_check("subject", check, timeout=5)
    return health.run().checks[0].message


def _failure(check: Any) -> str:
    health = HealthRegistry(registry=CollectorRegistry())
    health.add_check("subject", check, timeout=5)
    result = health.run().checks[0]
    assert not result.ok, result.message
    return result.message


# -- SQLAlchemy ---------------------------------------------------------------------------------


def test_database_check_on_real_sqlite(tmp_path: Path) -> None:
    """SELECT 1 on a real SQLite file passes and names the dialect."""
    _need("sqlalchemy")
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'faq.db'}")
    try:
        assert _message(database_check(engine)) == "SELECT 1 ok (sqlite)"
    finally:
        engine.dispose()


def test_database_check_fails_on_unreachable_database(tmp_path: Path) -> None:
    """A database that cannot be opened fails with the driver's message."""
    _need("sqlalchemy")
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'faq.db'}")
    try:
        message = _failure(database_check(engine))
    finally:
        engine.dispose()
    assert message == "OperationalError: (sqlite3.OperationalError) unable to open database file"


def test_database_check_with_async_engine(tmp_path: Path) -> None:
    """An AsyncEngine gives an async check that runs on the event loop."""
    _need("sqlalchemy")
    _need("aiosqlite")
    from sqlalchemy.ext.asyncio import create_async_engine

    async def scenario() -> str:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'faq.db'}")
        try:
            health = HealthRegistry(registry=CollectorRegistry())
            health.add_check("db", database_check(engine))
            return (await health.run_async()).checks[0].message
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == "SELECT 1 ok (sqlite)"


def test_database_check_rejects_a_non_engine() -> None:
    """Passing something that is not an engine fails at registration."""
    with pytest.raises(InstrumentationError, match="needs a SQLAlchemy engine"):
        database_check("sqlite:///x.db")  # type: ignore[arg-type]


# -- Alembic ------------------------------------------------------------------------------------

_ENV = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
engine = engine_from_config(
    config.get_section(config.config_ini_section), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""

_REVISION = """\
import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade():
    {upgrade}


def downgrade():
    {downgrade}
"""

_STEPS = [
    ("a1", None, "op.create_table('faq', sa.Column('id', sa.Integer, primary_key=True))",
     "op.drop_table('faq')"),
    ("b2", "a1", "op.add_column('faq', sa.Column('question', sa.Text))",
     "op.drop_column('faq', 'question')"),
    ("c3", "b2", "op.create_table('feedback', sa.Column('id', sa.Integer, primary_key=True))",
     "op.drop_table('feedback')"),
]  # fmt: skip


@pytest.fixture
def migrations(tmp_path: Path) -> tuple[Path, str]:
    """A real Alembic migration folder (three revisions) and the URL of an empty SQLite file."""
    _need("sqlalchemy")
    _need("alembic")
    folder = tmp_path / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(_ENV)
    for revision, down, upgrade, downgrade in _STEPS:
        (folder / "versions" / f"{revision}.py").write_text(
            _REVISION.format(revision=revision, down=down, upgrade=upgrade, downgrade=downgrade)
        )
    return folder, f"sqlite:///{tmp_path / 'app.db'}"


def _upgrade(folder: Path, url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, revision)


def _schema_message(folder: Path, url: str, **options: Any) -> tuple[bool, str]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        health = HealthRegistry(registry=CollectorRegistry())
        health.add_check("schema", alembic_check(engine, **options), timeout=5)
        result = health.run().checks[0]
    finally:
        engine.dispose()
    return result.ok, result.message


def test_alembic_at_head(migrations: tuple[Path, str]) -> None:
    """A database upgraded to head passes and names the head revision."""
    folder, url = migrations
    _upgrade(folder, url, "head")
    assert _schema_message(folder, url, script_location=folder) == (True, "at head c3")


def test_alembic_behind_head_counts_missing_migrations(migrations: tuple[Path, str]) -> None:
    """A database two revisions behind fails naming both revisions and the count."""
    folder, url = migrations
    _upgrade(folder, url, "a1")
    assert _schema_message(folder, url, script_location=folder) == (
        False,
        "database is at revision a1, head is c3: 2 migrations not applied; "
        "run `alembic upgrade head`",
    )


def test_alembic_never_migrated(migrations: tuple[Path, str]) -> None:
    """An empty database (no alembic_version) fails as never migrated."""
    folder, url = migrations
    assert _schema_message(folder, url, script_location=folder) == (
        False,
        "database has no Alembic revision (never migrated); head is c3: run `alembic upgrade head`",
    )


def test_alembic_unknown_revision(migrations: tuple[Path, str]) -> None:
    """A database at a revision the scripts lack (newer than the code) fails saying so."""
    from sqlalchemy import create_engine, text

    folder, url = migrations
    _upgrade(folder, url, "head")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'd4'"))
    engine.dispose()
    ok, message = _schema_message(folder, url, script_location=folder)
    assert not ok
    assert message == (
        "database is at revision d4, which the migration scripts do not contain (head is c3): "
        "is the deployed code older than the database?"
    )


def test_alembic_through_an_ini_file(migrations: tuple[Path, str], tmp_path: Path) -> None:
    """The check reads script_location from alembic.ini, %(here)s included."""
    folder, url = migrations
    _upgrade(folder, url, "b2")
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = %(here)s/{folder.name}\n")
    ok, message = _schema_message(folder, url, config=ini)
    assert not ok
    assert message.startswith("database is at revision b2, head is c3: 1 migration not applied")


def test_alembic_with_async_engine(migrations: tuple[Path, str]) -> None:
    """With an AsyncEngine the schema check is async and reads the same revisions."""
    _need("aiosqlite")
    from sqlalchemy.ext.asyncio import create_async_engine

    folder, url = migrations
    _upgrade(folder, url, "head")

    async def scenario() -> str:
        engine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
        try:
            health = HealthRegistry(registry=CollectorRegistry())
            health.add_check("schema", alembic_check(engine, script_location=folder), timeout=5)
            return (await health.run_async()).checks[0].message
        finally:
            await engine.dispose()

    assert asyncio.run(scenario()) == "at head c3"


def test_alembic_check_validates_its_arguments(tmp_path: Path) -> None:
    """Missing config, a missing ini file or folder fail at registration."""
    engine: Any = object()
    with pytest.raises(InstrumentationError, match="needs config"):
        alembic_check(engine)
    with pytest.raises(InstrumentationError, match="not found"):
        alembic_check(engine, tmp_path / "alembic.ini")
    with pytest.raises(InstrumentationError, match="is not a folder"):
        alembic_check(engine, script_location=tmp_path / "nope")


# -- HTTP ---------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/slow":
            time.sleep(2)
        status = {"/ok": 200, "/moved": 302, "/fail": 503, "/slow": 200}.get(path, 404)
        if path == "/auth":
            expected = "Basic " + base64.b64encode(b"probe:s3cret").decode()
            status = 200 if self.headers.get("Authorization") == expected else 401
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@pytest.fixture
def server() -> Iterator[str]:
    """A real HTTP server on a free local port; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_http_check_passes_on_2xx_and_redirects(server: str) -> None:
    """A 200 (and a redirect to it) passes and shows the status and URL."""
    assert _message(http_check(f"{server}/ok")) == f"HTTP 200 from {server}/ok"
    assert _message(http_check(f"{server}/moved")) == f"HTTP 200 from {server}/moved"


def test_http_check_fails_on_error_status_without_leaking(server: str) -> None:
    """A 503 fails; credentials and query of the URL never reach the message."""
    host = server.removeprefix("http://")
    url = f"http://probe:s3cret@{host}/fail?token=abc"
    message = _failure(http_check(url))
    assert message == f"HTTP 503 from {server}/fail"


def test_http_check_sends_url_credentials_as_basic_auth(server: str) -> None:
    """Credentials in the URL authenticate (httpx and urllib alike) and are never shown."""
    host = server.removeprefix("http://")
    assert (
        _message(http_check(f"http://probe:s3cret@{host}/auth")) == f"HTTP 200 from {server}/auth"
    )
    assert _status_with_urllib(f"http://probe:s3cret@{host}/auth", "GET", {}, 2, "x") == 200
    assert _status_with_urllib(f"{server}/auth", "GET", {}, 2, "x") == 401


def test_http_check_expected_status(server: str) -> None:
    """expected_status replaces the 2xx/3xx rule."""
    assert _message(http_check(f"{server}/missing", expected_status={404})).startswith("HTTP 404")
    assert _failure(http_check(f"{server}/ok", expected_status={204})) == (
        f"HTTP 200 from {server}/ok"
    )


def test_http_check_unreachable() -> None:
    """Nothing listening on the port fails as unreachable."""
    url = f"http://127.0.0.1:{free_port()}/health"
    message = _failure(http_check(url, timeout=1))
    assert message.startswith(f"http://127.0.0.1:{url.split(':')[2]} unreachable: ")


def test_http_check_slow_dependency_is_cut(server: str) -> None:
    """A dependency slower than the check timeout is reported failed in time."""
    health = HealthRegistry(registry=CollectorRegistry())
    health.add_check("slow", http_check(f"{server}/slow", timeout=0.3), timeout=0.3)
    started = time.monotonic()
    result = health.run().checks[0]
    assert time.monotonic() - started < 1.5
    assert not result.ok


def test_http_standard_library_fallback(server: str) -> None:
    """Without httpx, urllib gives the same statuses."""
    assert _status_with_urllib(f"{server}/ok", "GET", {}, 2, "ok") == 200
    assert _status_with_urllib(f"{server}/fail", "GET", {}, 2, "fail") == 503
    closed = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(HealthCheckError, match="unreachable"):
        _status_with_urllib(closed, "GET", {}, 2, "x")


def test_http_check_rejects_other_schemes() -> None:
    """Only http and https URLs are accepted."""
    with pytest.raises(InstrumentationError, match="http:// or https://"):
        http_check("file:///etc/passwd")


# -- index and disk -----------------------------------------------------------------------------


class _FaissLike:
    def __init__(self, ntotal: int) -> None:
        self.ntotal = ntotal


@pytest.mark.parametrize(
    ("source", "ok", "message"),
    [
        (lambda: True, True, "index loaded"),
        (lambda: None, False, "index not loaded"),
        (lambda: ["a", "b"], True, "index has 2 items"),
        (lambda: [], False, "index has 0 items, expected at least 1"),
        (_FaissLike(60), True, "index has 60 items"),
        (lambda: 7, True, "index has 7 items"),
        (lambda: object(), False, "cannot count the items of a object"),
    ],
)
def test_index_check(source: object, ok: bool, message: str) -> None:
    """An index passes when loaded and holding at least min_items items."""
    health = HealthRegistry(registry=CollectorRegistry())
    health.add_check("index", index_check(source))
    result = health.run().checks[0]
    assert (result.ok, result.message) == (ok, message)


def test_disk_check_on_the_real_filesystem(tmp_path: Path) -> None:
    """Free space above the minimum passes; a minimum above the disk's size fails."""
    usage = shutil.disk_usage(tmp_path)
    assert _message(disk_check(tmp_path, min_free_bytes=0)).endswith(f"%) at {tmp_path}")
    message = _failure(disk_check(tmp_path, min_free_bytes=usage.total + 1))
    assert message.startswith("only ")
    assert message.endswith(f"at {tmp_path}; minimum {_bytes(usage.total + 1)}")
    percent_message = _failure(disk_check(tmp_path, min_free_percent=100))
    assert percent_message.endswith("; minimum 100%")


def test_disk_check_validates_its_arguments() -> None:
    """Negative or out-of-range minimums fail at registration."""
    with pytest.raises(InstrumentationError, match="min_free_bytes"):
        disk_check(".", min_free_bytes=-1)
    with pytest.raises(InstrumentationError, match="min_free_percent"):
        disk_check(".", min_free_percent=150)
