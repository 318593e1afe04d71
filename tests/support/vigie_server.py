"""An in-process vigie server (uvicorn in a thread) for tests that talk HTTP to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from support import free_port
from vigie.server.app import create_app
from vigie.server.runtime import Server, ServerOptions
from vigie.store.memory import MemoryStorage

QUIET = "vigie:\n  self_monitoring: {enabled: false}\n  telemetry: {enabled: false}\n"


@contextmanager
def serving_vigie(
    config_text: str, workdir: Path, storage: MemoryStorage, *, ready_within: float = 15.0
) -> Iterator[tuple[str, int, Server]]:
    """Serve vigie with ``config_text`` over ``storage``, ready; yields (URL, port, server)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "vigie.yml"
    config.write_text(config_text, encoding="utf-8")
    port = free_port()
    server = Server(
        ServerOptions(data_dir=workdir / "data", config_path=config, port=port),
        storage=storage,
    )
    web = uvicorn.Server(
        uvicorn.Config(create_app(server), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_within
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    try:
        yield url, port, server
    finally:
        web.should_exit = True
        thread.join(timeout=10)


@contextmanager
def running_vigie(config_text: str, workdir: Path) -> Iterator[str]:
    """Serve vigie with ``config_text`` on a free loopback port, ready; yields its base URL."""
    with serving_vigie(config_text, workdir, MemoryStorage()) as (url, _port, _server):
        yield url
