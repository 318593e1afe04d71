"""`vigie server` as a real subprocess: readiness, reload, clean shutdown, data kept."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from support import free_port

pytestmark = pytest.mark.slow


def _config(exporter: str, *, jobs: tuple[str, ...] = ("app",)) -> str:
    text = "global:\n  scrape_interval: 1s\nvigie:\n  self_monitoring:\n    scrape_interval: 1s\n"
    text += "scrape_configs:\n"
    for job in jobs:
        text += f"  - job_name: {job}\n    static_configs:\n      - targets: ['{exporter}']\n"
    return text


@pytest.fixture
def exporter() -> Iterator[str]:
    """A real prometheus-client exposition server with one gauge."""
    registry = CollectorRegistry()
    Gauge("demo_temperature", "A temperature.", registry=registry).set(21.5)
    port = free_port()
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


class Running:
    def __init__(self, config: Path, data: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
             "--data-dir", str(data), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=5)

    def wait(self, check: object, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():  # type: ignore[operator]
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"timed out; server output:\n{self.process.communicate()[0]}")

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        output = self.process.communicate(timeout=20)[0]
        return self.process.returncode, output


def _targets(server: Running) -> list[dict[str, object]]:
    return server.get("/api/v1/targets").json()["data"]["activeTargets"]


def _series(server: Running, match: str) -> list[dict[str, str]]:
    return server.get("/api/v1/series", **{"match[]": match}).json()["data"]


def test_server_lifecycle(tmp_path: Path, exporter: str) -> None:
    """Healthy, ready, scrapes, reloads on SIGHUP and POST, exits 0 on SIGTERM, keeps its data."""
    config = tmp_path / "vigie.yml"
    config.write_text(_config(exporter))
    data = tmp_path / "data"
    server = Running(config, data)
    try:
        server.wait(lambda: server.get("/-/healthy").status_code == 200)
        server.wait(lambda: server.get("/-/ready").status_code == 200)
        assert server.get("/-/ready").text == "vigie is Ready.\n"
        server.wait(lambda: {t["health"] for t in _targets(server)} == {"up"})
        assert sorted(t["scrapePool"] for t in _targets(server)) == ["app", "vigie"]
        server.wait(lambda: _series(server, "demo_temperature"))
        assert _series(server, "demo_temperature") == [
            {"__name__": "demo_temperature", "instance": exporter, "job": "app"}
        ]
        server.wait(lambda: _series(server, 'vigie_scrapes_total{scrape_job="app"}'))

        config.write_text(_config(exporter, jobs=("app", "second")))
        server.process.send_signal(signal.SIGHUP)
        server.wait(lambda: len(_targets(server)) == 3)

        config.write_text("scrape_configs:\n  - job_name: x\n    scrape_intervl: 1s\n")
        response = httpx.post(server.url + "/-/reload", timeout=5)
        assert response.status_code == 500
        assert f"{config}:3: scrape_configs[0].scrape_intervl: unknown field" in response.text
        assert len(_targets(server)) == 3  # the old configuration keeps running
        metrics = server.get("/metrics").text
        assert "vigie_config_last_reload_successful 0.0" in metrics

        config.write_text(_config(exporter))
        assert httpx.post(server.url + "/-/reload", timeout=5).status_code == 200
        assert len(_targets(server)) == 2
    finally:
        code, output = server.stop()
    assert code == 0, output

    restarted = Running(config, data)
    try:
        restarted.wait(lambda: restarted.get("/-/ready").status_code == 200)
        jobs = {series["job"] for series in _series(restarted, "demo_temperature")}
        assert "app" in jobs  # the samples survived the restart
    finally:
        code, output = restarted.stop()
    assert code == 0, output


def test_bad_config_fails_at_start(tmp_path: Path) -> None:
    """A bad config file stops `vigie server` at once with file:line: field in the message."""
    config = tmp_path / "vigie.yml"
    config.write_text("global:\n  scrape_interval: often\n")
    result = subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"{config}:2: global.scrape_interval: not a valid duration string" in result.stderr


def test_acknowledged_remote_writes_survive_kill_9(tmp_path: Path) -> None:
    """Every remote-write batch answered 204 before a SIGKILL is there after the restart."""
    import cramjam

    from vigie.server.remote_write import WriteRequest

    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring:\n    enabled: false\n")
    data = tmp_path / "data"
    server = Running(config, data)
    acknowledged = 0
    try:
        server.wait(lambda: server.get("/-/ready").status_code == 200)
        for batch in range(40):
            request = WriteRequest()
            series = request.timeseries.add()
            series.labels.add(name="__name__", value="pushed")
            series.labels.add(name="batch", value=str(batch % 4))
            series.samples.add(timestamp=1_000 + batch, value=float(batch))
            body = bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
            response = httpx.post(
                server.url + "/api/v1/write", content=body,
                headers={"Content-Encoding": "snappy"}, timeout=5,
            )  # fmt: skip
            assert response.status_code == 204
            acknowledged += 1
    finally:
        server.process.kill()
        server.process.communicate(timeout=20)
    restarted = Running(config, data)
    try:
        restarted.wait(lambda: restarted.get("/-/ready").status_code == 200)
        response = restarted.get(
            "/api/v1/query", query="count_over_time(pushed[1h])", time="100"
        ).json()
        counts = {row["metric"]["batch"]: row["value"][1] for row in response["data"]["result"]}
        assert counts == {str(b): str(acknowledged // 4) for b in range(4)}
    finally:
        code, output = restarted.stop()
    assert code == 0, output
