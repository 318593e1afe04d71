"""vigie.testing helpers behave as documented."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from vigie.testing import FakeClock, MetricsReader


def test_metrics_reader_totals(registry: CollectorRegistry) -> None:
    """total() sums matching series; value() reads one exactly."""
    hits = Counter("hits", "Hits.", ["route", "code"], registry=registry)
    hits.labels("/a", "200").inc(2)
    hits.labels("/a", "500").inc()
    hits.labels("/b", "200").inc(4)
    reader = MetricsReader(registry)
    assert reader.total("hits_total", route="/a") == 3
    assert reader.value("hits_total", route="/b", code="200") == 4
    assert reader.value("hits_total", route="/c", code="200") is None
    assert {"route": "/b", "code": "200"} in reader.label_sets("hits_total")


def test_fake_clock_moves_only_when_told() -> None:
    """The clock advances and jumps on request only."""
    clock = FakeClock(10)
    assert clock() == 10
    clock.advance(2.5)
    assert clock() == 12.5
    clock.set(1)
    assert clock() == 1
