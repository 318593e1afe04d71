"""A real PostgreSQL server for tests: initdb in a temporary folder, a free port, torn down always.

The Debian ``postgresql`` package ships ``initdb``, ``pg_ctl`` and ``postgres`` under
``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as root, so when the tests run as
root the data folder is handed to the ``postgres`` system user and every server command runs
through ``runuser -u postgres --``. Clients connect over TCP on 127.0.0.1 with ``trust``
authentication as the ``postgres`` role; the unix socket lives in the temporary folder too, so
nothing touches the system cluster.

Every wait is bounded, and the server is stopped and its folder removed even when a test fails.

Example::

    from support.postgres import running_postgres

    @pytest.fixture(scope="module")
    def postgres():
        with running_postgres() as server:
            yield server

    def test_something(postgres):
        import psycopg
        with psycopg.connect(postgres.url()) as connection: ...
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support import free_port, missing

__all__ = ["PostgresServer", "find_postgres_bin", "running_postgres"]

_START_TIMEOUT = 30  # seconds pg_ctl waits for the server to accept connections
_COMMAND_TIMEOUT = 60  # seconds any one command may take (initdb on a slow, shared machine)


@dataclass(frozen=True)
class PostgresServer:
    """A running test server: where it listens and where its files are."""

    port: int
    root: Path
    bin_dir: Path
    user: str = "postgres"

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """The folder holding the server's unix socket."""
        return self.root / "socket"

    @property
    def log_file(self) -> Path:
        """The server log (read it when a test fails)."""
        return self.root / "server.log"

    def url(self, database: str = "postgres", *, driver: str = "postgresql") -> str:
        """A URL to ``database``; ``driver="postgresql+psycopg"`` gives a SQLAlchemy URL."""
        return f"{driver}://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """Create database ``name`` (``createdb``)."""
        _run(
            [
                str(self.bin_dir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                name,
            ],
            as_postgres=False,
        )


def find_postgres_bin() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` holding ``initdb``; fails (CI) or skips if none."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if candidates:
        newest = max(candidates, key=lambda path: int(Path(path).parts[-3].split(".")[0]))
        return Path(newest).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        missing("PostgreSQL server binaries not found (Debian package postgresql)")
    return Path(str(initdb)).parent


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _run(command: list[str], *, as_postgres: bool = True) -> subprocess.CompletedProcess[str]:
    if as_postgres and _is_root():
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def _stop(server: PostgresServer) -> None:
    pg_ctl = str(server.bin_dir / "pg_ctl")
    for mode in ("fast", "immediate"):
        try:
            _run([pg_ctl, "stop", "-D", str(server.data_dir), "-m", mode, "-w", "-t", "20"])
            return
        except (RuntimeError, subprocess.TimeoutExpired):
            if not (server.data_dir / "postmaster.pid").exists():
                return


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a throw-away PostgreSQL server; stop it and delete its files on exit."""
    bin_dir = find_postgres_bin()
    if _is_root() and shutil.which("runuser") is None:
        missing("runuser not found (Debian package util-linux), needed to run postgres as root")
    root = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
    started: PostgresServer | None = None
    try:
        (root / "socket").mkdir()
        if _is_root():
            shutil.chown(root, "postgres", "postgres")
            shutil.chown(root / "socket", "postgres", "postgres")
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        last_error: Exception | None = None
        for _attempt in range(3):  # the free port may be taken between the check and the bind
            server = PostgresServer(port=free_port(), root=root, bin_dir=bin_dir)
            options = (
                f"-p {server.port} -k {server.socket_dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                _run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "start",
                        "-D",
                        str(server.data_dir),
                        "-l",
                        str(server.log_file),
                        "-o",
                        options,
                        "-w",
                        "-t",
                        str(_START_TIMEOUT),
                    ]
                )
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                last_error = error
                _stop(server)
                time.sleep(0.2)
                continue
            started = server
            break
        if started is None:
            log = (
                (root / "server.log").read_text(errors="replace")
                if (root / "server.log").exists()
                else ""
            )
            raise RuntimeError(f"PostgreSQL did not start: {last_error}\n{log}")
        yield started
    finally:
        if started is not None:
            _stop(started)
        shutil.rmtree(root, ignore_errors=True)
