"""A real Redis server for tests: ``redis-server`` on a free port, no persistence, always stopped.

Example::

    from support.redis_server import running_redis

    @pytest.fixture(scope="module")
    def redis_port():
        with running_redis() as server:
            yield server.port
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from support import free_port, require_binary

__all__ = ["RedisServer", "running_redis"]

_START_TIMEOUT = 10.0  # seconds to wait for the first PONG


@dataclass(frozen=True)
class RedisServer:
    """A running test server."""

    port: int
    root: Path

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """Start a throw-away ``redis-server``; stop it and delete its folder on exit."""
    binary = require_binary("redis-server", package="redis-server")
    root = Path(tempfile.mkdtemp(prefix="vigie-redis-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(3):  # the free port may be taken between the check and the bind
            port = free_port()
            log = open(root / "server.log", "ab")  # noqa: SIM115 - closed right below
            with log:
                process = subprocess.Popen(
                    [
                        binary,
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        str(root),
                        "--daemonize",
                        "no",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            deadline = time.monotonic() + _START_TIMEOUT
            while time.monotonic() < deadline and process.poll() is None and not _pong(port):
                time.sleep(0.05)
            if process.poll() is None and _pong(port):
                yield RedisServer(port=port, root=root)
                return
            _stop(process)
        log_text = (root / "server.log").read_text(errors="replace")
        raise RuntimeError(f"redis-server did not start:\n{log_text}")
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)
