"""Deferred HTTP recording: buffered requests fold into prometheus-client exactly, never lost."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from vigie.exceptions import InstrumentationError
from vigie.sdk import http_folding
from vigie.sdk.failsafe import swallowing_internal_errors
from vigie.sdk.http_metrics import BATCH_SIZE, HttpServerMetrics

SRC = Path(__file__).resolve().parents[2] / "src"
ROUTE = "/r/{id}"


def labels(route: str = ROUTE, status: str = "200", method: str = "GET") -> dict[str, str]:
    return {
        "http_request_method": method,
        "url_scheme": "http",
        "http_route": route,
        "http_response_status_code": status,
    }


def value(registry: CollectorRegistry, name: str, **extra: str) -> float | None:
    return registry.get_sample_value(name, {**labels(), **extra})


def test_single_process_defers_by_default(registry: CollectorRegistry) -> None:
    """In one process, a request is buffered, not yet in prometheus-client's values."""
    metrics = HttpServerMetrics(registry)
    assert metrics.deferred
    metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
    assert metrics.pending == 1


def test_scrape_right_after_n_requests_sees_exactly_n(registry: CollectorRegistry) -> None:
    """A collection folds the buffer first: counts, buckets and sums are exact at once."""
    metrics = HttpServerMetrics(registry)
    requests = BATCH_SIZE * 2 + 37  # two folds on the request path, 37 left in the buffer
    for index in range(requests):
        metrics.record("GET", "http", ROUTE, 200, 0.001 * (index % 20), index % 3 - 1, 50 * index)
    assert metrics.pending == 37
    assert value(registry, "http_server_requests_total") == requests
    assert metrics.pending == 0
    assert value(registry, "http_server_request_duration_seconds_count") == requests
    # durations 0.000..0.019: 0.000-0.005 in le=0.005 (6 of every 20), up to 0.010 in le=0.01
    per_cycle = requests // 20
    extra = requests % 20
    assert value(registry, "http_server_request_duration_seconds_bucket", le="0.005") == (
        per_cycle * 6 + min(extra, 6)
    )
    assert value(registry, "http_server_request_duration_seconds_bucket", le="0.01") == (
        per_cycle * 11 + min(extra, 11)
    )
    expected_sum = sum(0.001 * (index % 20) for index in range(requests))
    assert value(registry, "http_server_request_duration_seconds_sum") == pytest.approx(
        expected_sum
    )
    with_body = [index % 3 - 1 for index in range(requests) if index % 3 - 1 >= 0]
    assert value(registry, "http_server_request_body_size_bytes_count") == len(with_body)
    assert value(registry, "http_server_request_body_size_bytes_sum") == sum(with_body)
    assert value(registry, "http_server_response_body_size_bytes_sum") == sum(
        50 * index for index in range(requests)
    )
    small = sum(1 for index in range(requests) if 50 * index <= 100)
    assert value(registry, "http_server_response_body_size_bytes_bucket", le="100.0") == small


def test_generate_latest_folds_too(registry: CollectorRegistry) -> None:
    """The text exposition (what /metrics serves) shows the buffered requests."""
    metrics = HttpServerMetrics(registry)
    for _ in range(3):
        metrics.record("POST", "https", "/upload", 201, 0.2, 2048, 10)
    text = generate_latest(registry).decode()
    assert (
        'http_server_requests_total{http_request_method="POST",http_response_status_code="201",'
        'http_route="/upload",url_scheme="https"} 3.0'
    ) in text


def test_full_buffer_folds_on_the_request_path(registry: CollectorRegistry) -> None:
    """The request that fills the buffer folds it, so memory stays bounded without scrapes."""
    metrics = HttpServerMetrics(registry, batch_size=10)
    for _ in range(9):
        metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
    assert metrics.pending == 9
    metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
    assert metrics.pending == 0
    for _ in range(25):
        metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
    assert metrics.pending == 5
    assert value(registry, "http_server_requests_total") == 35


def test_threads_recording_and_scraping_lose_nothing(registry: CollectorRegistry) -> None:
    """Eight threads record while another scrapes: the final totals are exact."""
    metrics = HttpServerMetrics(registry, batch_size=64)
    threads, per_thread = 8, 3000
    done = threading.Event()
    seen: list[float] = []

    def work(offset: int) -> None:
        active = metrics.active_child("GET", "http")
        for index in range(per_thread):
            active.inc()
            metrics.record("GET", "http", ROUTE, 200 + (index + offset) % 2, 0.003, 10, 1)
            active.dec()

    def scrape() -> None:
        while not done.is_set():
            seen.append(value(registry, "http_server_requests_total") or 0.0)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: appends meet folds
    try:
        scraper = threading.Thread(target=scrape)
        scraper.start()
        workers = [threading.Thread(target=work, args=(offset,)) for offset in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        done.set()
        scraper.join()
    finally:
        sys.setswitchinterval(interval)
    total = threads * per_thread
    ok, created = (
        value(registry, "http_server_requests_total"),
        registry.get_sample_value("http_server_requests_total", labels(status="201")),
    )
    assert ok == created == total / 2
    assert registry.get_sample_value(
        "http_server_request_body_size_bytes_sum", labels(status="201")
    ) == (10 * total / 2)
    assert seen == sorted(seen)  # a scrape never sees a count go down
    active = registry.get_sample_value(
        "http_server_active_requests", {"http_request_method": "GET", "url_scheme": "http"}
    )
    assert active == 0


def test_in_flight_gauge_is_live(registry: CollectorRegistry) -> None:
    """The in-flight counters are published at each collection."""
    metrics = HttpServerMetrics(registry)
    gauge = {"http_request_method": "POST", "url_scheme": "https"}
    first, second = metrics.active_child("POST", "https"), metrics.active_child("POST", "https")
    first.inc()
    second.inc()
    assert registry.get_sample_value("http_server_active_requests", gauge) == 2
    first.dec()
    assert registry.get_sample_value("http_server_active_requests", gauge) == 1
    second.dec()
    assert registry.get_sample_value("http_server_active_requests", gauge) == 0


def test_instances_on_one_registry_share_the_buffer_and_gauge(registry: CollectorRegistry) -> None:
    """Two apps on one registry: one buffer, one in-flight count per method and scheme."""
    one, two = HttpServerMetrics(registry), HttpServerMetrics(registry)
    one.record("GET", "http", ROUTE, 200, 0.01, -1, 1)
    two.record("GET", "http", ROUTE, 200, 0.01, -1, 1)
    assert one.pending == two.pending == 2
    one.active_child("GET", "http").inc()
    two.active_child("GET", "http").inc()
    assert value(registry, "http_server_requests_total") == 2
    assert (
        registry.get_sample_value(
            "http_server_active_requests", {"http_request_method": "GET", "url_scheme": "http"}
        )
        == 2
    )


def test_exemplar_request_recorded_at_once(registry: CollectorRegistry) -> None:
    """A request with an exemplar skips the buffer, and buffered ones still add up."""
    metrics = HttpServerMetrics(registry)
    metrics.record("GET", "http", ROUTE, 200, 0.02, -1, 5)
    metrics.record("GET", "http", ROUTE, 200, 0.03, -1, 5, {"trace_id": "abc"})
    assert metrics.pending == 1
    assert value(registry, "http_server_requests_total") == 2
    duration = next(m for m in registry.collect() if m.name.endswith("duration_seconds"))
    exemplars = [s.exemplar for s in duration.samples if s.exemplar is not None]
    assert [(e.labels, e.value) for e in exemplars] == [({"trace_id": "abc"}, 0.03)]


def test_direct_mode_records_at_once(registry: CollectorRegistry) -> None:
    """deferred=False records every request straight into prometheus-client."""
    metrics = HttpServerMetrics(registry, deferred=False)
    metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
    assert metrics.pending == 0
    assert value(registry, "http_server_requests_total") == 1
    active = metrics.active_child("GET", "http")
    active.inc()
    assert (
        registry.get_sample_value(
            "http_server_active_requests", {"http_request_method": "GET", "url_scheme": "http"}
        )
        == 1
    )


def test_mode_conflict_and_bad_batch_size_fail(registry: CollectorRegistry) -> None:
    """A registry keeps one recording mode; batch_size must be positive."""
    HttpServerMetrics(registry)
    with pytest.raises(InstrumentationError, match="deferred=True"):
        HttpServerMetrics(registry, deferred=False)
    with pytest.raises(InstrumentationError, match="batch_size"):
        HttpServerMetrics(registry, batch_size=0)


def test_multiprocess_mode_records_at_once(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, nothing is buffered: other workers read the files."""
    code = (
        "from vigie.sdk.http_metrics import HttpServerMetrics\n"
        "m = HttpServerMetrics()\n"
        "m.record('GET', 'http', '/r', 200, 0.01, -1, 5)\n"
        "print(m.deferred, m.pending)\n"
    )
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), PYTHONPATH=str(SRC))
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "0"]
    assert list(tmp_path.glob("counter_*.db"))


class FoldBugError(Exception):
    """Stands for a bug inside folding."""


def test_fold_failure_is_logged_and_recording_continues(
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing fold is logged on vigie.internal; the request path and the scrape go on."""

    def broken(self: http_folding.Folder, batch: list[http_folding.Observation]) -> None:
        raise FoldBugError("fold")

    metrics = HttpServerMetrics(registry, batch_size=4)
    monkeypatch.setattr(http_folding.Folder, "_add", broken)
    with swallowing_internal_errors(), caplog.at_level(logging.ERROR, logger="vigie.internal"):
        for _ in range(4):
            metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
        assert metrics.pending == 0  # the failed batch is dropped, not retried forever
        metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
        assert b"http_server_requests_total" in generate_latest(registry)
    assert [r.name for r in caplog.records] == ["vigie.internal"]
    assert "http_metrics.fold" in caplog.records[0].getMessage()
    monkeypatch.undo()
    metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
    assert value(registry, "http_server_requests_total") == 1  # folding works again


def test_fold_failure_raises_under_pytest(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without swallowing, a fold bug fails our own tests loudly."""

    def broken(self: http_folding.Folder, batch: list[http_folding.Observation]) -> None:
        raise FoldBugError("fold")

    metrics = HttpServerMetrics(registry)
    monkeypatch.setattr(http_folding.Folder, "_add", broken)
    metrics.record("GET", "http", ROUTE, 200, 0.01, -1, 5)
    with pytest.raises(FoldBugError):
        registry.get_sample_value("http_server_requests_total", labels())
