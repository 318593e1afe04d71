"""Metrics are created once per registry; disagreeing definitions fail at definition time."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk.instruments import counter, gauge, histogram


def test_same_definition_returns_same_metric(registry: CollectorRegistry) -> None:
    """Two parts asking for the same metric share it."""
    first = histogram("job_seconds", "Job time.", ["job"], buckets=[1, 2], registry=registry)
    again = histogram("job_seconds", "Job time.", ["job"], buckets=[1, 2], registry=registry)
    assert first is again
    first.labels("a").observe(1.5)
    assert registry.get_sample_value("job_seconds_bucket", {"job": "a", "le": "2.0"}) == 1


def test_registries_are_independent() -> None:
    """The same name on two registries gives two metrics."""
    one, two = CollectorRegistry(), CollectorRegistry()
    counter("hits", "Hits.", registry=one).inc()
    assert two.get_sample_value("hits_total") is None
    assert one.get_sample_value("hits_total") == 1


def test_conflicting_definitions_fail(registry: CollectorRegistry) -> None:
    """Another type or other label names for an existing name raise InstrumentationError."""
    gauge("depth", "Depth.", ["queue"], registry=registry)
    with pytest.raises(InstrumentationError, match="Gauge"):
        counter("depth", "Depth.", ["queue"], registry=registry)
    with pytest.raises(InstrumentationError, match="labels"):
        gauge("depth", "Depth.", ["other"], registry=registry)


@pytest.mark.parametrize(
    ("name", "labels"), [("bad name", []), ("1st", []), ("ok", ["a-b"]), ("ok", ["__x"])]
)
def test_invalid_names_fail(registry: CollectorRegistry, name: str, labels: list[str]) -> None:
    """Names outside Prometheus's classic character set are refused at definition time."""
    with pytest.raises(InstrumentationError, match="invalid"):
        counter(name, "Bad.", labels, registry=registry)


def test_per_registry_builds_once_per_registry() -> None:
    """PerRegistry builds a part's metric set once per registry, and apart for another one."""
    from vigie.sdk.instruments import PerRegistry

    built: list[CollectorRegistry] = []

    class Jobs:
        def __init__(self, registry: CollectorRegistry) -> None:
            built.append(registry)
            self.done = counter("jobs_done", "Jobs done.", registry=registry)

    jobs = PerRegistry(Jobs)
    one, two = CollectorRegistry(), CollectorRegistry()
    assert jobs(one) is jobs(one)
    assert jobs(two) is not jobs(one)
    jobs(one).done.inc()
    assert one.get_sample_value("jobs_done_total") == 1
    assert two.get_sample_value("jobs_done_total") == 0
    assert built == [one, two]
