"""The traffic generator against the example app served by a real uvicorn."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from support import free_port
from vigie.demo.example_app import create_app
from vigie.demo.traffic import TrafficGenerator, TrafficStats
from vigie.exceptions import ConfigurationError
from vigie.sdk.health import HealthRegistry


@pytest.fixture
def served() -> Iterator[str]:
    """The example app under a real uvicorn on a free port; yields its base URL."""
    app = create_app(
        health=HealthRegistry(registry=CollectorRegistry()),
        registry=CollectorRegistry(),
        slow_seconds=(0.05, 0.1),
        seed=7,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_traffic_is_a_bounded_realistic_mix(served: str) -> None:
    """At 40 req/s for 1.5 s it sends about 60 requests, mostly answered 2xx, some 4xx."""
    progress = io.StringIO()
    generator = TrafficGenerator(
        served,
        rate=40,
        concurrency=4,
        seed=11,
        progress=progress,
        progress_interval=0.5,
        mix="example",
    )
    started = time.monotonic()
    stats = generator.run(threading.Event(), duration=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 4
    assert 20 <= stats.sent <= 40 * 1.5 + 4
    assert sum(stats.by_class.values()) == stats.sent
    assert stats.by_class["failed"] == 0
    assert stats.by_class["2xx"] > stats.sent / 2
    assert stats.by_class["4xx"] >= 1
    lines = progress.getvalue().splitlines()
    assert lines
    assert all(line.startswith("traffic: ") for line in lines)


def test_traffic_stops_when_asked(served: str) -> None:
    """Setting the stop event ends the run promptly."""
    stop = threading.Event()
    generator = TrafficGenerator(served, rate=20, mix="example")
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    started = time.monotonic()
    stats = generator.run(stop)
    assert time.monotonic() - started < 3
    assert stats.sent >= 1


def test_unreachable_app_counts_failures() -> None:
    """Requests to a port where nothing listens are counted as failed, never raised."""
    generator = TrafficGenerator(f"http://127.0.0.1:{free_port()}", rate=20, timeout=1)
    stats = generator.run(threading.Event(), duration=0.5)
    assert stats.sent >= 1
    assert stats.by_class["failed"] == stats.sent


def test_stats_summary_and_percentiles() -> None:
    """The summary line shows counts by class and latency quantiles."""
    stats = TrafficStats()
    for status, seconds in [(200, 0.01), (200, 0.02), (404, 0.03), (503, 0.5), (None, 1.0)]:
        stats.record(status, seconds)
    assert stats.percentile(0.5) == 0.03
    assert stats.percentile(0.95) == 1.0
    summary = stats.summary()
    assert summary.startswith("traffic: 5 requests  ")
    assert "2xx 2  4xx 1  5xx 1  failed 1  p50 30 ms  p95 1000 ms" in summary


def test_bad_settings_are_refused() -> None:
    """A non-positive rate or concurrency is a configuration error."""
    with pytest.raises(ConfigurationError, match="rate"):
        TrafficGenerator("http://x", rate=0)
    with pytest.raises(ConfigurationError, match="concurrency"):
        TrafficGenerator("http://x", concurrency=0)
