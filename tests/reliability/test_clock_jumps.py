"""The server's wall clock jumps backwards and forwards (libfaketime): it keeps scraping and
serving, drops what would go back in time, and its store stays consistent.

libfaketime (Debian package ``faketime``) is preloaded into a real `vigie server`; the offset is
read from a file at each clock call, so the test moves the clock of the running process.
Monotonic clocks are left alone (``FAKETIME_DONT_FAKE_MONOTONIC``), as with a real NTP step.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from reliability.server_process import ServerProcess
from support import free_port, missing
from vigie.store.tsdb import DiskStorage

pytestmark = pytest.mark.slow

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    registry = CollectorRegistry()
    Gauge("clock_test_value", "A gauge.", registry=registry).set(7)
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


def _scrapes(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    for line in text.splitlines():
        wanted = 'scrape_job="app"' in line and 'result="success"' in line
        if line.startswith("vigie_scrapes_total{") and wanted:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _phase(server: ServerProcess, offset_file: Path, offset: str, seconds: float) -> float:
    """Set the offset, wait, and return how many successful scrapes happened meanwhile."""
    offset_file.write_text(offset)
    before = _scrapes(server.url)
    time.sleep(seconds)
    assert httpx.get(server.url + "/-/healthy", timeout=5).status_code == 200
    return _scrapes(server.url) - before


@pytest.fixture(scope="module")
def jumps(exporter: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Run a server through +0, -1h, +0, +1h (4 s each); scrapes per phase and the store check."""
    if not LIBFAKETIME.exists():
        missing("libfaketime not installed (Debian package faketime)")
    tmp_path = tmp_path_factory.mktemp("clock")
    config = tmp_path / "vigie.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "vigie:\n  self_monitoring: {enabled: false}\n  telemetry: {enabled: false}\n"
        f"scrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{exporter}']}}]\n"
    )
    offset_file = tmp_path / "faketime"
    offset_file.write_text("+0")
    env = {
        **os.environ,
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    data = tmp_path / "data"
    server = ServerProcess(config, data)
    server.start(env=env)
    try:
        scrapes = {
            phase: _phase(server, offset_file, offset, 4)
            for phase, offset in (("normal", "+0"), ("backwards", "-1h"),
                                  ("back_to_normal", "+0"), ("forwards", "+1h"))
        }  # fmt: skip
        print(f"successful scrapes per 4 s phase: {scrapes}")
        server.stop()  # exits 0 whatever the clock did
    finally:
        server.kill()
    storage = DiskStorage(data)
    try:
        ok = storage.check().ok
        ordered = all(
            series.timestamps.tolist() == sorted(set(series.timestamps.tolist()))
            for series in storage.querier().select([], 0, 2**62)
        )
    finally:
        storage.close()
    return {"scrapes": scrapes, "check_ok": ok, "ordered": ordered}


def test_clock_jumps_keep_the_server_healthy_and_the_store_consistent(
    jumps: dict[str, object],
) -> None:
    """Healthy through -1h and +1h, clean shutdown, check() passes, no sample back in time."""
    scrapes = jumps["scrapes"]
    assert isinstance(scrapes, dict)
    assert scrapes["normal"] >= 3
    assert jumps["check_ok"] is True
    assert jumps["ordered"] is True


def test_scraping_goes_on_through_clock_jumps(jumps: dict[str, object]) -> None:
    """Every phase keeps about one scrape per second, without a catch-up burst."""
    scrapes = jumps["scrapes"]
    assert isinstance(scrapes, dict)
    for phase in ("backwards", "back_to_normal", "forwards"):
        assert 3 <= scrapes[phase] <= 6, (phase, scrapes)
