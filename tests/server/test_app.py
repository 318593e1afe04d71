"""The HTTP app's lifecycle endpoints and /metrics, served for real by uvicorn."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from support import free_port
from vigie.server import runtime
from vigie.server.app import create_app
from vigie.server.config_model import Config
from vigie.server.runtime import Server, ServerOptions
from vigie.store.interface import Storage
from vigie.store.memory import MemoryStorage


def test_ready_is_503_until_the_store_is_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/-/healthy answers at once; /-/ready and the API say 503 until the WAL replay ends."""
    release = threading.Event()

    def slow_open(data_dir: Path, config: Config) -> Storage:
        release.wait(10)
        return MemoryStorage()

    monkeypatch.setattr(runtime, "open_storage", slow_open)
    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring:\n    enabled: false\n")
    port = free_port()
    server = Server(ServerOptions(tmp_path / "data", config, port=port))
    web = uvicorn.Server(
        uvicorn.Config(create_app(server), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                healthy = httpx.get(url + "/-/healthy")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        assert healthy.text == "vigie is Healthy.\n"
        assert httpx.get(url + "/-/ready").status_code == 503
        query = httpx.get(url + "/api/v1/query", params={"query": "up"})
        assert query.status_code == 503
        assert query.json()["errorType"] == "unavailable"
        release.set()
        while time.monotonic() < deadline and httpx.get(url + "/-/ready").status_code != 200:
            time.sleep(0.05)
        assert httpx.get(url + "/-/ready").text == "vigie is Ready.\n"
    finally:
        release.set()
        web.should_exit = True
        thread.join(timeout=10)


def test_metrics_and_reload(live_server: object, tmp_path: Path) -> None:
    """/metrics negotiates OpenMetrics; /-/reload applies a good file and rejects a bad one."""
    url = live_server.url  # type: ignore[attr-defined]
    text = httpx.get(url + "/metrics").text
    assert 'vigie_build_info{version="' in text
    assert "vigie_ready 1.0" in text
    om = httpx.get(url + "/metrics", headers={"Accept": "application/openmetrics-text"})
    assert om.headers["content-type"].startswith("application/openmetrics-text")
    assert om.text.endswith("# EOF\n")
    config = tmp_path / "vigie.yml"
    config.write_text(
        "scrape_configs:\n  - job_name: later\n    static_configs: [{targets: ['127.0.0.1:1']}]\n"
    )
    assert httpx.post(url + "/-/reload").status_code == 200
    pools = [
        t["scrapePool"] for t in httpx.get(url + "/api/v1/targets").json()["data"]["activeTargets"]
    ]
    assert pools == ["later", "vigie"]
    assert "node_load1 " not in text
    config.write_text("vigie:\n  collectors:\n    host: {enabled: true}\n")
    assert httpx.post(url + "/-/reload").status_code == 200
    assert "node_load1 " in httpx.get(url + "/metrics").text  # built-in host collector
    config.write_text("global: {scrape_interval: soon}\n")
    failed = httpx.post(url + "/-/reload")
    assert failed.status_code == 500
    assert failed.text.startswith(f"failed to reload config: {config}:1: global.scrape_interval:")
    assert "vigie_config_last_reload_successful 0.0" in httpx.get(url + "/metrics").text


def test_otlp_traces_from_the_opentelemetry_sdk(live_server: object) -> None:
    """A real OpenTelemetry OTLP/HTTP exporter sends spans; span metrics become series."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    url = live_server.url  # type: ignore[attr-defined]
    server = live_server.server  # type: ignore[attr-defined]
    provider = TracerProvider(resource=Resource.create({"service.name": "faq-bot"}))
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("GET /items"):
        pass
    provider.shutdown()
    assert server.telemetry.flush(10)
    assert server.store_span_metrics() > 0
    result = httpx.get(
        url + "/api/v1/query", params={"query": "sum(traces_spanmetrics_calls_total)"}
    ).json()["data"]["result"]
    assert result[0]["value"][1] == "1"
    bad = httpx.post(url + "/v1/logs", content=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
