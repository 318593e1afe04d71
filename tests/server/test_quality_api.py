"""The quality endpoints of a running server: samples in, scheduled checks, report, reference."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.vigie_server import serving_vigie
from vigie.cli.main import main
from vigie.server.runtime import Server, ServerOptions
from vigie.store.memory import MemoryStorage

CONFIG = """\
vigie:
  self_monitoring: {enabled: false}
  telemetry: {enabled: false}
  quality: {check_interval: 300ms}
"""


class Live:
    def __init__(self, url: str, server: Server, storage: MemoryStorage, data: Path) -> None:
        self.url, self.server, self.storage, self.data = url, server, storage, data

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=5)

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=5)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """An in-process server checking quality every 300 ms."""
    storage = MemoryStorage()
    with serving_vigie(CONFIG, tmp_path, storage) as (url, _port, server):
        yield Live(url, server, storage, tmp_path / "data")


def _samples(count: int, mean: float, *, start: float) -> dict[str, object]:
    return {
        "samples": [
            {"model": "intent", "time": start + i, "numeric": {"amount": mean + (i % 7)}}
            for i in range(count)
        ]
    }


def _wait(check: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_samples_are_accepted_and_checked_on_schedule(live: Live) -> None:
    """A batch is counted, the scheduled check reports the model and writes drift series."""
    response = live.post("/api/v1/quality/samples", _samples(50, 10.0, start=time.time() - 60))
    assert response.status_code == 200
    assert response.json() == {"status": "success", "data": {"accepted": 50}}
    _wait(lambda: live.get("/api/v1/quality/report").json()["data"]["models"])
    report = live.get("/api/v1/quality/report").json()
    assert report["status"] == "success"
    assert [model["model"] for model in report["data"]["models"]] == ["intent"]
    names = {series.labels["__name__"] for series in live.storage.querier().select([], 0, 2**62)}
    assert "vigie_quality_window_samples" in names


def test_bad_batch_is_refused_naming_the_field(live: Live) -> None:
    """A bad sample answers 400 with the field named, and nothing of the batch is kept."""
    body = {"samples": [{"model": "m", "numeric": {"x": 1}}, {"model": "m", "numeric": {"x": "a"}}]}
    response = live.post("/api/v1/quality/samples", body)
    assert response.status_code == 400
    error = response.json()
    assert error["errorType"] == "bad_data"
    assert "samples[1].numeric.x" in error["error"]
    assert live.server.quality is not None
    assert live.server.quality.models == {}
    not_json = httpx.post(live.url + "/api/v1/quality/samples", content=b"{", timeout=5)
    assert not_json.status_code == 400


def test_distributions_and_reference(live: Live) -> None:
    """Distributions need model and feature; the reference window is set, then reset."""
    now = time.time()
    live.post("/api/v1/quality/samples", _samples(40, 10.0, start=now - 120))
    shown = live.get("/api/v1/quality/distributions", model="intent", feature="amount").json()
    assert shown["data"]["kind"] in {"numeric", "missing"}
    assert shown["data"]["feature"] == "amount"
    assert live.get("/api/v1/quality/distributions", model="intent").status_code == 400
    unknown = live.get("/api/v1/quality/distributions", model="nope", feature="amount")
    assert unknown.status_code == 404
    fixed = live.post(
        "/api/v1/quality/reference", {"model": "intent", "from": now - 3600, "to": now}
    )
    assert fixed.status_code == 200
    assert fixed.json()["data"]["model"] == "intent"
    backwards = live.post("/api/v1/quality/reference", {"model": "intent", "from": now, "to": 1})
    assert backwards.status_code == 400
    missing = live.post("/api/v1/quality/reference", {"model": "intent", "from": now})
    assert missing.json()["error"] == 'to: expected Unix seconds (or "reset": true)'
    reset = live.post("/api/v1/quality/reference", {"model": "intent", "reset": True})
    assert reset.json()["data"] == {"model": "intent", "reference": "trailing"}


def test_drift_cli_reads_the_server_report(live: Live, capsys: pytest.CaptureFixture[str]) -> None:
    """`vigie drift report --server` prints the report the server computed."""
    live.post("/api/v1/quality/samples", _samples(30, 5.0, start=time.time() - 30))
    _wait(lambda: live.get("/api/v1/quality/report").json()["data"]["models"])
    assert main(["drift", "report", "--server", live.url, "--format", "json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [model["model"] for model in printed["models"]] == ["intent"]


def test_state_is_saved_on_shutdown(tmp_path: Path) -> None:
    """Stopping the server writes the quality state to the data directory."""
    import asyncio

    config = tmp_path / "vigie.yml"
    config.write_text(CONFIG)
    server = Server(
        ServerOptions(data_dir=tmp_path / "data", config_path=config), storage=MemoryStorage()
    )

    async def run() -> None:
        await server.start()
        assert server.quality is not None
        server.quality.ingest(_samples(5, 1.0, start=time.time() - 5))
        await server.stop()

    asyncio.run(run())
    state = json.loads((tmp_path / "data" / "quality" / "state.json").read_text())
    assert list(state["models"]) == ["intent"]
