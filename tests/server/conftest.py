"""An in-process vigie server on a free port, for tests that talk HTTP to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.vigie_server import serving_vigie
from vigie.server.runtime import Server
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
    storage = MemoryStorage()
    config = "vigie:\n  self_monitoring:\n    enabled: false\n"
    with serving_vigie(config, tmp_path, storage, ready_within=10) as (url, port, server):
        yield LiveServer(url, f"127.0.0.1:{port}", server, storage)
