"""Bad targets beside a good one, scraped by a real server: each bad scrape fails with its reason,
the good target keeps being scraped on time.

Targets are real HTTP servers in the test process: one healthy exporter, one that hangs for 60 s,
one that answers garbage, one that exposes a million series (over its job's ``sample_limit``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from reliability.server_process import ServerProcess
from support import free_port

pytestmark = pytest.mark.slow

MILLION = b"".join(b'huge_series{n="%d"} 1\n' % n for n in range(1_000_000))
GOOD = b"# TYPE good_value gauge\ngood_value 42\n"
GARBAGE = os.urandom(2048)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        kind = self.server.kind  # type: ignore[attr-defined]
        if kind == "hang":
            time.sleep(60)
            return
        body = {"good": GOOD, "garbage": GARBAGE, "million": MILLION}[kind]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def targets() -> Iterator[dict[str, str]]:
    servers = {}
    for kind in ("good", "hang", "garbage", "million"):
        server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
        server.daemon_threads = True
        server.kind = kind  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[kind] = server
    yield {kind: f"127.0.0.1:{server.server_address[1]}" for kind, server in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def test_bad_targets_fail_with_reason_good_target_unaffected(
    targets: dict[str, str], tmp_path: Path
) -> None:
    """Timeout, parse error and sample limit are reported per target; 'good' is up every second."""
    config = tmp_path / "vigie.yml"
    jobs = ""
    for kind, address in targets.items():
        limit = "    sample_limit: 1000\n" if kind == "million" else ""
        interval = "10s" if kind == "million" else "1s"
        timeout = "9s" if kind == "million" else "1s"
        jobs += (f"  - job_name: {kind}\n    scrape_interval: {interval}\n"
                 f"    scrape_timeout: {timeout}\n{limit}"
                 f"    static_configs: [{{targets: ['{address}']}}]\n")  # fmt: skip
    config.write_text(
        "vigie:\n  self_monitoring: {enabled: false}\n  telemetry: {enabled: false}\n"
        f"scrape_configs:\n{jobs}"
    )
    server = ServerProcess(config, tmp_path / "data")
    server.start()
    try:
        errors: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            active = httpx.get(server.url + "/api/v1/targets", timeout=10).json()["data"]
            errors = {t["labels"]["job"]: t["lastError"] for t in active["activeTargets"]}
            health = {t["labels"]["job"]: t["health"] for t in active["activeTargets"]}
            if all(errors.get(kind) for kind in ("hang", "garbage", "million")):
                break
            time.sleep(0.5)
        assert health["good"] == "up"
        assert errors["good"] == ""
        hang_url = f"http://{targets['hang']}/metrics"
        assert errors["hang"] == f'Get "{hang_url}": context deadline exceeded'  # as Prometheus
        assert errors["garbage"]  # a parse error naming the line
        assert errors["million"] == "sample limit exceeded"
        for kind in ("hang", "garbage", "million"):
            assert health[kind] == "down", kind
        # The good target was scraped about every second all along (up == 1, no gap > 3 s).
        now = time.time()
        response = httpx.get(server.url + "/api/v1/query", params={
            "query": 'up{job="good"}[20s]', "time": str(now)}, timeout=10)  # fmt: skip
        samples = response.json()["data"]["result"][0]["values"]
        stamps = [float(t) for t, v in samples if v == "1"]
        assert len(stamps) >= 5, samples
        assert max(b - a for a, b in itertools.pairwise(stamps)) < 3.0, stamps
        kept = httpx.get(server.url + "/api/v1/query",
                         params={"query": "count(huge_series)"}, timeout=10).json()  # fmt: skip
        assert kept["data"]["result"] == []  # nothing of the over-limit scrape was stored
    finally:
        server.stop()
