"""The /metrics response: formats by content negotiation, gzip, promtool-clean, workers merged."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import vigie
from support import require_binary
from vigie.sdk.exposition import render_metrics
from vigie.sdk.http_metrics import HttpServerMetrics


def recorded_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    metrics = HttpServerMetrics(registry)
    metrics.record("GET", "http", "/items/{item_id}", 200, 0.012, -1, 120)
    metrics.record("POST", "https", "/items", 201, 0.3, 2048, 64)
    metrics.record("BREW", "http", "", 404, 0.001, -1, 9)
    return registry


def test_default_is_text_format_0_0_4() -> None:
    """Without an Accept header the body is the Prometheus text format 0.0.4."""
    response = render_metrics(recorded_registry())
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# TYPE http_server_request_duration_seconds histogram" in response.body
    assert b"# EOF" not in response.body


def test_openmetrics_when_asked() -> None:
    """Accept: application/openmetrics-text gives OpenMetrics 1.0 that its parser reads back."""
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    response = render_metrics(recorded_registry(), accept=accept)
    assert response.content_type.startswith("application/openmetrics-text; version=1.0.0")
    families = {f.name: f for f in text_string_to_metric_families(response.body.decode())}
    assert families["http_server_requests"].type == "counter"
    assert families["http_server_active_requests"].type == "gauge"
    totals = {
        s.labels["http_route"]: s.value
        for s in families["http_server_requests"].samples
        if s.name == "http_server_requests_total"
    }
    assert totals == {"/items/{item_id}": 1.0, "/items": 1.0, "": 1.0}


def _stable(body: bytes) -> list[bytes]:
    """The lines that cannot change between two renders (process and GC figures move)."""
    return [
        line for line in body.splitlines() if b"process_" not in line and b"python_gc_" not in line
    ]


def test_gzip_when_accepted() -> None:
    """Accept-Encoding: gzip compresses the body and says so; the content is unchanged."""
    registry = recorded_registry()
    plain = render_metrics(registry)
    zipped = render_metrics(registry, accept_encoding="br;q=1.0, gzip;q=0.8")
    assert ("Content-Encoding", "gzip") in zipped.headers
    assert _stable(gzip.decompress(zipped.body)) == _stable(plain.body)
    assert ("Content-Length", str(len(zipped.body))) in zipped.headers
    assert all(name != "Content-Encoding" for name, _ in plain.headers)


def test_promtool_check_metrics_is_clean(tmp_path: Path) -> None:
    """promtool check metrics finds no problem in the text exposition of every HTTP metric."""
    promtool = require_binary("promtool", package="prometheus")
    body = render_metrics(recorded_registry()).body
    result = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.strip() == b""
    assert result.stderr.strip() == b""


async def test_served_by_the_middleware_with_negotiation() -> None:
    """The middleware's /metrics honours Accept and Accept-Encoding like render_metrics."""
    registry = CollectorRegistry()

    async def ok(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = vigie.instrument_asgi(Starlette(routes=[Route("/ok", ok)]), registry=registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        await http.get("/ok")
        text = await http.get("/metrics", headers={"Accept-Encoding": "identity"})
        open_metrics = await http.get(
            "/metrics",
            headers={"Accept": "application/openmetrics-text", "Accept-Encoding": "gzip"},
        )
    assert text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "content-encoding" not in text.headers
    assert 'http_server_requests_total{http_request_method="GET"' in text.text
    assert open_metrics.headers["content-encoding"] == "gzip"
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert open_metrics.text.endswith("# EOF\n")  # httpx decompressed it


def test_multiprocess_directory_merges_worker_files(tmp_path: Path) -> None:
    """With a multiprocess directory, the files of every worker are summed, archive included."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    key = mmap_key(
        "http_server_requests", "http_server_requests_total", ["route"], ["/a"], "Requests."
    )
    for name, value in (
        ("counter_101.db", 2.0),
        ("counter_202.db", 3.0),
        ("counter_archive.db", 5.0),
    ):
        values = MmapedDict(str(tmp_path / name))
        values.write_value(key, value, 0.0)
        values.close()
    response = render_metrics(CollectorRegistry(), multiprocess_dir=str(tmp_path))
    assert b'http_server_requests_total{route="/a"} 10.0' in response.body
