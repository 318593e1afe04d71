"""An in-process vigie server on a free port, for tests that talk HTTP to it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from support import free_port
from vigie.server.app import create_app
from vigie.server.runtime import Server, ServerOptions
from vigie.store.memory import MemoryStorage


@dataclass
class LiveServer:
    """A running server: its URL, its state and its store."""

    url: str
    address: str
    server: Server
    storage: MemoryStorage


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """vigie's HTTP app served by uvicorn in a thread, over a MemoryStorage, self-scrape off."""
    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring:\n    enabled: false\n")
    port = free_port()
    storage = MemoryStorage()
    server = Server(
        ServerOptions(data_dir=tmp_path / "data", config_path=config, port=port),
        storage=storage,
    )
    web = uvicorn.Server(
        uvicorn.Config(create_app(server), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    yield LiveServer(url, f"127.0.0.1:{port}", server, storage)
    web.should_exit = True
    thread.join(timeout=10)
