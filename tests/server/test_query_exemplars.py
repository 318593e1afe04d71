"""Exemplars end to end: a real OpenMetrics target scraped by vigie and by a real Prometheus
(2.42, ``--enable-feature=exemplar-storage``), both asked ``/api/v1/query_exemplars``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import free_port, require_binary
from support.exporter import OPENMETRICS, Exporter
from support.prometheus import running_prometheus
from support.vigie_server import serving_vigie
from vigie.server.exemplars_api import exemplar_selectors
from vigie.store.interface import Matcher
from vigie.store.tsdb import DiskStorage

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def exposition(stamp: float, extra: str = "") -> bytes:
    return (
        "# TYPE request_latency_seconds histogram\n"
        f'request_latency_seconds_bucket{{route="/chat",le="0.1"}} 3 # {{trace_id="{TRACE}"}} '
        f"0.05 {stamp:.3f}\n"
        'request_latency_seconds_bucket{route="/chat",le="1.0"} 7 # '
        '{trace_id="0af7651916cd43dd8448eb211c80319c",span_id="b7ad6b7169203331"} 0.62\n'
        f"{extra}"
        'request_latency_seconds_bucket{route="/chat",le="+Inf"} 8\n'
        'request_latency_seconds_sum{route="/chat"} 4.2\n'
        'request_latency_seconds_count{route="/chat"} 8\n'
        "# TYPE jobs counter\n"
        'jobs_total{queue="embed"} 5 # {trace_id="00f067aa0ba902b7"} 1\n'
        "# EOF\n"
    ).encode()


@pytest.fixture
def target() -> Iterator[Exporter]:
    served = Exporter()
    served.content_type = OPENMETRICS
    yield served
    served.close()


def _get(url: str, query: str, start: float, end: float) -> Any:
    response = httpx.get(
        url + "/api/v1/query_exemplars",
        params={"query": query, "start": str(start), "end": str(end)},
        timeout=5,
    )
    if response.status_code == 204:  # a query without selectors, as Prometheus answers it
        assert response.content == b""
        return None
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    return body["data"]


def _wait(condition: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _comparable(data: list[Any]) -> list[Any]:
    """Series labels, exemplar labels and values (timestamps of timestamp-less exemplars are
    each server's own scrape time, so they are compared separately)."""
    return [
        (item["seriesLabels"], [(e["labels"], e["value"]) for e in item["exemplars"]])
        for item in data
    ]


def test_exemplars_match_a_real_prometheus(target: Exporter, tmp_path: Path) -> None:
    """Same target, same answers: seriesLabels, exemplar labels and values, the given
    timestamps; a repeated exemplar is stored once by both; a new one is appended by both."""
    binary = require_binary("prometheus")
    stamp = round(time.time() - 30, 3)
    target.body = exposition(stamp)
    scrape = (
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n  - job_name: app\n"
        f"    static_configs: [{{targets: ['{target.address}']}}]\n"
    )
    port = free_port()
    (tmp_path / "prometheus.yml").write_text(scrape)
    storage = DiskStorage(tmp_path / "store")
    config = scrape + "vigie:\n  self_monitoring: {enabled: false}\n"
    query = "histogram_quantile(0.9, rate(request_latency_seconds_bucket[5m])) or jobs_total"
    start, end = stamp - 60, time.time() + 600
    flags = ("--enable-feature=exemplar-storage",)
    running = running_prometheus(
        binary, tmp_path / "prometheus.yml", tmp_path / "prom", port, *flags
    )
    try:
        with running as process, serving_vigie(config, tmp_path / "vigie", storage) as (url, _, _):  # type: ignore[arg-type]
            prometheus = process.url
            ours = _wait(lambda: len(_get(url, query, start, end)) == 3 and
                         _get(url, query, start, end), "vigie's exemplars")  # fmt: skip
            theirs = _wait(lambda: len(_get(prometheus, query, start, end)) == 3 and
                           _get(prometheus, query, start, end), "Prometheus's exemplars",
                           timeout=60)  # fmt: skip
            assert _comparable(ours) == _comparable(theirs)
            assert ours[0]["seriesLabels"] == {
                "__name__": "jobs_total", "instance": target.address, "job": "app",
                "queue": "embed",
            }  # fmt: skip
            given = [item for item in ours if item["seriesLabels"].get("le") == "0.1"]
            assert given[0]["exemplars"] == [
                {"labels": {"trace_id": TRACE}, "value": "0.05", "timestamp": stamp}
            ]
            assert [i for i in theirs if i["seriesLabels"].get("le") == "0.1"] == given
            # A later exemplar on one bucket: both append it, the repeated ones stay single.
            time.sleep(2.5)  # a few more scrapes of the same exemplars
            target.body = exposition(stamp + 5)
            for server in (url, prometheus):
                _wait(lambda s=server: sum(len(i["exemplars"]) for i in _get(s, query, start, end))
                      == 4, f"the new exemplar at {server}")  # fmt: skip
            time.sleep(2.5)
            ours, theirs = _get(url, query, start, end), _get(prometheus, query, start, end)
            assert _comparable(ours) == _comparable(theirs)
            assert [len(item["exemplars"]) for item in ours] == [1, 2, 1]
            assert [e["timestamp"] for e in ours[1]["exemplars"]] == [stamp, stamp + 5]
            # Outside the time range: nothing; a query without selectors: 204, as Prometheus.
            assert _get(url, query, start - 600, start - 300) == []
            assert _get(url, "time()", start, end) is None
            assert _get(prometheus, "time()", start, end) is None
    finally:
        storage.close()


def test_exemplar_leads_to_its_trace(target: Exporter, tmp_path: Path) -> None:
    """The Grafana flow: a latency exemplar's trace_id opens the trace vigie received by OTLP."""
    target.body = exposition(round(time.time() - 5, 3))
    config = (
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n  - job_name: app\n"
        f"    static_configs: [{{targets: ['{target.address}']}}]\n"
        "vigie:\n  self_monitoring: {enabled: false}\n"
    )
    storage = DiskStorage(tmp_path / "store")
    now_ns = time.time_ns()
    span = {"traceId": TRACE, "spanId": "eee19b7ec3c1b174", "name": "POST /chat", "kind": 2,
            "startTimeUnixNano": str(now_ns - 50_000_000),
            "endTimeUnixNano": str(now_ns)}  # fmt: skip
    traces = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "chat-app"}}]},
        "scopeSpans": [{"spans": [span]}]}]}  # fmt: skip
    try:
        with serving_vigie(config, tmp_path / "vigie", storage) as (url, _, server):  # type: ignore[arg-type]
            assert httpx.post(url + "/v1/traces", json=traces, timeout=5).status_code == 200
            assert server.telemetry.flush(10)
            # Grafana posts the form; the slow bucket's exemplar carries the trace id.
            found = _wait(lambda: httpx.post(url + "/api/v1/query_exemplars", timeout=5, data={
                "query": 'request_latency_seconds_bucket{le="0.1"}', "start": "0",
                "end": str(time.time() + 60)}).json()["data"], "the exemplar")  # fmt: skip
            trace_id = found[0]["exemplars"][0]["labels"]["trace_id"]
            trace = httpx.get(url + f"/api/v1/traces/{trace_id}", timeout=5).json()["data"]
            assert [s["name"] for s in trace["spans"]] == ["POST /chat"]
    finally:
        storage.close()


def test_selectors_are_taken_from_anywhere_in_the_query() -> None:
    """Every vector selector counts: in functions, aggregations, range selectors, subqueries."""
    groups = exemplar_selectors(
        'sum(rate(a_bucket{job="x"}[5m])) / max_over_time(b[1h:1m]) or c{d=~"e|f"} offset 5m'
    )
    assert groups == [
        [Matcher("__name__", "=", "a_bucket"), Matcher("job", "=", "x")],
        [Matcher("__name__", "=", "b")],
        [Matcher("__name__", "=", "c"), Matcher("d", "=~", "e|f")],
    ]
    assert exemplar_selectors("1 + time()") == []


def test_bad_queries_are_bad_data(tmp_path: Path) -> None:
    """A missing or unparsable query, or end before start, is a 400 in the API envelope."""
    storage = DiskStorage(tmp_path / "store")
    config = "vigie:\n  self_monitoring: {enabled: false}\n  telemetry: {enabled: false}\n"
    try:
        with serving_vigie(config, tmp_path / "vigie", storage) as (url, _, _):  # type: ignore[arg-type]
            for params in ({}, {"query": "sum("}, {"query": "up", "start": "10", "end": "5"}):
                response = httpx.get(url + "/api/v1/query_exemplars", params=params, timeout=5)
                assert response.status_code == 400, params
                assert response.json()["errorType"] == "bad_data"
            empty = httpx.get(url + "/api/v1/query_exemplars", params={"query": "up"}, timeout=5)
            assert empty.json() == {"status": "success", "data": []}
    finally:
        storage.close()


def test_max_exemplars_config_key(tmp_path: Path) -> None:
    """Prometheus's storage.exemplars.max_exemplars sizes the ring; a bad value names its line."""
    from vigie.exceptions import ConfigurationError
    from vigie.server.config import parse_config
    from vigie.server.runtime import open_storage

    config = parse_config("storage:\n  exemplars:\n    max_exemplars: 42\n")
    assert config.exemplars.max_exemplars == 42
    assert parse_config("").exemplars.max_exemplars == 100_000
    storage = open_storage(tmp_path, config)
    try:
        assert storage.exemplars.max_exemplars == 42  # type: ignore[attr-defined]
    finally:
        storage.close()  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError) as caught:
        parse_config("storage:\n  exemplars:\n    max_exemplars: many\n", path="vigie.yml")
    assert str(caught.value) == (
        "vigie.yml:3: storage.exemplars.max_exemplars: expected a non-negative integer, got 'many'"
    )
