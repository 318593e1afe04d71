"""Ready-made checks: a database, an HTTP dependency, an index, the Alembic schema, free disk.

Each function here builds a check (a callable for :meth:`HealthRegistry.add_check`) and validates
its arguments at once, so a typo fails at startup rather than at the first probe. The libraries
they use (SQLAlchemy, Alembic, httpx) are imported lazily, only when that check is used.

Example::

    >>> from vigie.sdk.health import HealthRegistry, disk_check, index_check
    >>> health = HealthRegistry()
    >>> health.add_check("disk", disk_check(".", min_free_bytes=1))
    >>> health.add_check("index", index_check(lambda: ["doc-1", "doc-2"]), required=False)
    >>> [result.message for result in health.run().checks][1]
    'index has 2 items'
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
from collections.abc import Container, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from vigie.exceptions import HealthCheckError, InstrumentationError
from vigie.sdk.health._redaction import safe_url
from vigie.sdk.health._registry import DEFAULT_TIMEOUT, CheckFunction

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["alembic_check", "database_check", "disk_check", "http_check", "index_check"]


def _is_async_engine(engine: object) -> bool:
    # AsyncEngine wraps a sync one; checking the attribute avoids importing the asyncio extension.
    return hasattr(engine, "sync_engine")


def database_check(engine: Engine | AsyncEngine, *, statement: str = "SELECT 1") -> CheckFunction:
    """A check that the database answers ``statement`` through the SQLAlchemy ``engine``.

    An ``AsyncEngine`` gives an async check, run on the event loop under ASGI.

    Example::

        health.add_check("db", database_check(create_engine("sqlite:///app.db")))
    """
    if not hasattr(engine, "connect") or not hasattr(engine, "dialect"):
        raise InstrumentationError(f"database_check needs a SQLAlchemy engine, got {engine!r}")
    passed = f"{statement} ok ({engine.dialect.name})"

    if _is_async_engine(engine):
        async_engine: AsyncEngine = engine  # type: ignore[assignment]

        async def check_async_database() -> str:
            from sqlalchemy import text

            async with async_engine.connect() as connection:
                await connection.execute(text(statement))
            return passed

        return check_async_database

    sync_engine: Engine = engine  # type: ignore[assignment]

    def check_database() -> str:
        from sqlalchemy import text

        with sync_engine.connect() as connection:
            connection.execute(text(statement))
        return passed

    return check_database


def http_check(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    method: str = "GET",
    expected_status: Container[int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> CheckFunction:
    """A check that ``url`` answers with an expected status (default: any 2xx or 3xx).

    Uses httpx when installed, else the standard library; redirects are followed. Messages show
    the URL without credentials, query or fragment. Give ``timeout`` no larger than the check's.

    Example::

        health.add_check("search", http_check("http://search:9200/_cluster/health"), required=False)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InstrumentationError(
            f"http_check needs an http:// or https:// URL, got {safe_url(url)!r}"
        )
    shown = safe_url(url)
    sent_headers = dict(headers or {})

    def check_http() -> str:
        if importlib.util.find_spec("httpx") is not None:
            status = _status_with_httpx(url, method, sent_headers, timeout, shown)
        else:
            status = _status_with_urllib(url, method, sent_headers, timeout, shown)
        wanted = status in expected_status if expected_status is not None else 200 <= status < 400
        if not wanted:
            raise HealthCheckError(f"HTTP {status} from {shown}")
        return f"HTTP {status} from {shown}"

    return check_http


def _status_with_httpx(
    url: str, method: str, headers: dict[str, str], timeout: float, shown: str
) -> int:
    import httpx

    try:
        response = httpx.request(
            method, url, headers=headers, timeout=timeout, follow_redirects=True
        )
    except httpx.HTTPError as error:
        raise HealthCheckError(f"{shown} unreachable: {type(error).__name__}: {error}") from None
    return response.status_code


def _status_with_urllib(
    url: str, method: str, headers: dict[str, str], timeout: float, shown: str
) -> int:
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # urllib does not read credentials from the URL: send them as httpx does, basic auth.
        credentials = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
        token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        headers = {"Authorization": f"Basic {token}", **headers}
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    import urllib.error  # lazily: urllib.request alone costs ~30 ms of import time
    import urllib.request

    request = urllib.request.Request(url, method=method, headers=headers)  # noqa: S310 - scheme checked
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise HealthCheckError(f"{shown} unreachable: {reason}") from None


def index_check(source: object, *, min_items: int = 1) -> CheckFunction:
    """A check that an index (vector store, search index, model) is loaded.

    ``source`` is a callable, called at each run, or the index itself. Its value passes when it
    is ``True``, or has at least ``min_items`` items: a number, an object with ``ntotal`` (FAISS)
    or with a length. ``None`` or ``False`` means not loaded.

    Example::

        health.add_check("faiss", index_check(lambda: app.state.index))
    """
    if isinstance(min_items, bool) or not isinstance(min_items, int) or min_items < 0:
        raise InstrumentationError(
            f"index_check: min_items must be an integer >= 0, got {min_items!r}"
        )

    def check_index() -> str:
        value = source() if callable(source) else source
        if value is None or value is False:
            raise HealthCheckError("index not loaded")
        if value is True:
            return "index loaded"
        count = _size(value)
        if count < min_items:
            raise HealthCheckError(f"index has {count} items, expected at least {min_items}")
        return f"index has {count} items"

    return check_index


def _size(value: object) -> int:
    if isinstance(value, int):
        return value
    ntotal = getattr(value, "ntotal", None)
    if isinstance(ntotal, int):
        return ntotal
    if hasattr(value, "__len__"):
        return len(value)
    raise HealthCheckError(f"cannot count the items of a {type(value).__name__}")


def alembic_check(
    engine: Engine | AsyncEngine,
    config: str | os.PathLike[str] | Config | None = None,
    *,
    script_location: str | os.PathLike[str] | None = None,
) -> CheckFunction:
    """A check that the database schema is at the Alembic head revision.

    Give the ``alembic.ini`` path (or an Alembic ``Config``), the migration folder as
    ``script_location``, or both (``script_location`` wins). It fails, naming both revisions,
    when the database is behind head, has never been migrated, or is at a revision the scripts
    do not know (code older than the database). The scripts are read once, at the first run.

    Example::

        health.add_check("schema", alembic_check(engine, "alembic.ini"))
    """
    if config is None and script_location is None:
        raise InstrumentationError("alembic_check needs config (alembic.ini) or script_location")
    if isinstance(config, str | os.PathLike) and not Path(config).is_file():
        raise InstrumentationError(f"alembic_check: config file {os.fspath(config)!r} not found")
    if script_location is not None and not Path(script_location).is_dir():
        raise InstrumentationError(
            f"alembic_check: script_location {os.fspath(script_location)!r} is not a folder"
        )
    loaded: list[ScriptDirectory] = []

    def scripts() -> ScriptDirectory:
        if not loaded:
            loaded.append(_script_directory(config, script_location))
        return loaded[0]

    if _is_async_engine(engine):
        async_engine: AsyncEngine = engine  # type: ignore[assignment]

        async def check_async_schema() -> str:
            directory = scripts()
            async with async_engine.connect() as connection:
                current = await connection.run_sync(_current_heads)
            return _compare(directory, current)

        return check_async_schema

    sync_engine: Engine = engine  # type: ignore[assignment]

    def check_schema() -> str:
        directory = scripts()
        with sync_engine.connect() as connection:
            current = _current_heads(connection)
        return _compare(directory, current)

    return check_schema


def _script_directory(
    config: str | os.PathLike[str] | Config | None, script_location: str | os.PathLike[str] | None
) -> ScriptDirectory:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    if isinstance(config, Config):
        settings = config
    elif config is not None:
        settings = Config(os.fspath(config))
    else:
        settings = Config()
    if script_location is not None:
        # configparser interpolation: a literal % is written %%.
        settings.set_main_option("script_location", os.fspath(script_location).replace("%", "%%"))
    return ScriptDirectory.from_config(settings)


def _current_heads(connection: Connection) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    return tuple(MigrationContext.configure(connection).get_current_heads())


def _compare(scripts: ScriptDirectory, current: tuple[str, ...]) -> str:
    heads = tuple(sorted(scripts.get_heads()))
    shown_heads = ", ".join(heads) or "(none)"
    if set(current) == set(heads):
        return f"at head {shown_heads}"
    if not current:
        raise HealthCheckError(
            f"database has no Alembic revision (never migrated); head is {shown_heads}: "
            "run `alembic upgrade head`"
        )
    shown_current = ", ".join(sorted(current))
    unknown = [revision for revision in current if not _known(scripts, revision)]
    if unknown:
        raise HealthCheckError(
            f"database is at revision {', '.join(sorted(unknown))}, which the migration scripts "
            f"do not contain (head is {shown_heads}): is the deployed code older than the database?"
        )
    pending = _pending(scripts, current)
    count = f"{pending} migration{'s' if pending != 1 else ''} not applied" if pending else "behind"
    raise HealthCheckError(
        f"database is at revision {shown_current}, head is {shown_heads}: {count}; "
        "run `alembic upgrade head`"
    )


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises several resolution errors for an unknown id
        return False


def _pending(scripts: ScriptDirectory, current: tuple[str, ...]) -> int:
    try:
        return sum(1 for _ in scripts.iterate_revisions("heads", current))
    except Exception:  # branches alembic cannot walk: the message goes without a count
        return 0


def disk_check(
    path: str | os.PathLike[str] = ".",
    *,
    min_free_bytes: int | None = None,
    min_free_percent: float | None = None,
) -> CheckFunction:
    """A check that the filesystem holding ``path`` has enough free space.

    Give ``min_free_bytes``, ``min_free_percent`` or both (both must hold); with neither, the
    minimum is 5 % free. Free space is what an unprivileged process may use.

    Example::

        health.add_check("disk", disk_check("/var/lib/app", min_free_bytes=1_000_000_000))
    """
    if min_free_bytes is None and min_free_percent is None:
        min_free_percent = 5.0
    if min_free_bytes is not None and (
        isinstance(min_free_bytes, bool)
        or not isinstance(min_free_bytes, int)
        or min_free_bytes < 0
    ):
        raise InstrumentationError(
            f"disk_check: min_free_bytes must be an integer >= 0, got {min_free_bytes!r}"
        )
    if min_free_percent is not None and not 0 <= min_free_percent <= 100:
        raise InstrumentationError(
            f"disk_check: min_free_percent must be in [0, 100], got {min_free_percent!r}"
        )
    shown = os.fspath(path)

    def check_disk() -> str:
        usage = shutil.disk_usage(path)
        percent = 100.0 * usage.free / usage.total if usage.total else 0.0
        summary = f"{_bytes(usage.free)} free of {_bytes(usage.total)} ({percent:.1f}%) at {shown}"
        short = []
        if min_free_bytes is not None and usage.free < min_free_bytes:
            short.append(_bytes(min_free_bytes))
        if min_free_percent is not None and percent < min_free_percent:
            short.append(f"{min_free_percent:g}%")
        if short:
            raise HealthCheckError(f"only {summary}; minimum {' and '.join(short)}")
        return summary

    return check_disk


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")
