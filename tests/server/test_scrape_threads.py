"""Scrapes commit in the scrape manager's own threads; the server process tunes malloc."""

from __future__ import annotations

import asyncio
import platform
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vigie.server.config import parse_config
from vigie.server.metrics import ServerMetrics
from vigie.server.runtime import tune_malloc
from vigie.server.scrape_manager import ScrapeManager
from vigie.store.memory import MemoryAppender, MemoryStorage

BODY = b"# TYPE jobs_total counter\njobs_total 3\n"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    """A real exporter on a free port; yields its address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _RecordingStorage(MemoryStorage):
    """A memory store noting the thread of every commit."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def appender(self) -> MemoryAppender:
        appender = super().appender()
        commit = appender.commit

        def recorded() -> None:
            self.threads.append(threading.current_thread().name)
            commit()

        appender.commit = recorded  # type: ignore[method-assign]
        return appender


async def test_scrapes_are_stored_while_the_default_pool_is_busy(target: str) -> None:
    """With every default-pool thread held (slow queries), scrapes still commit, in
    vigie-scrape threads."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(1))
    release = threading.Event()
    busy = loop.run_in_executor(None, release.wait)
    storage = _RecordingStorage()
    manager = ScrapeManager(storage, ServerMetrics())
    text = (
        "scrape_configs:\n  - job_name: j\n    scrape_interval: 1s\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
    )
    try:
        await manager.apply(parse_config(text))
        (scrape,) = manager.loops()
        for _ in range(50):
            if scrape.health == "up":
                break
            await asyncio.sleep(0.1)
        assert scrape.health == "up"
        assert not busy.done()
    finally:
        release.set()
        await busy
        await manager.stop()
    assert storage.threads
    assert all(name.startswith("vigie-scrape") for name in storage.threads), storage.threads


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_tune_malloc_applies_on_glibc() -> None:
    """On glibc Linux the server fixes malloc's mmap threshold and arena count."""
    assert tune_malloc() is True
