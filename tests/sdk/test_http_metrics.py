"""The HTTP server metric set: names, labels, buckets and exact values."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk.http_metrics import (
    DURATION_BUCKETS,
    HttpServerMetrics,
    normalize_method,
)


def labels(method: str = "GET", route: str = "/r/{id}", status: str = "200") -> dict[str, str]:
    return {
        "http_request_method": method,
        "url_scheme": "http",
        "http_route": route,
        "http_response_status_code": status,
    }


def test_families_types_and_buckets(registry: CollectorRegistry) -> None:
    """The five families exist with the OTel bucket bounds on the duration."""
    HttpServerMetrics(registry)
    types = {metric.name: metric.type for metric in registry.collect()}
    assert types == {
        "http_server_request_duration_seconds": "histogram",
        "http_server_requests": "counter",
        "http_server_active_requests": "gauge",
        "http_server_request_body_size_bytes": "histogram",
        "http_server_response_body_size_bytes": "histogram",
    }
    assert DURATION_BUCKETS == (
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    )  # fmt: skip


def test_record_exact_values(registry: CollectorRegistry) -> None:
    """Observations land in the right buckets, sums and counts, as prometheus-client's would."""
    metrics = HttpServerMetrics(registry)
    for duration in (0.005, 0.0051, 0.3, 11.0):
        metrics.record("GET", "http", "/r/{id}", 200, duration, 1000, 100)
    get = registry.get_sample_value
    bucket = "http_server_request_duration_seconds_bucket"
    assert get(bucket, {**labels(), "le": "0.005"}) == 1  # bounds are inclusive
    assert get(bucket, {**labels(), "le": "0.01"}) == 2
    assert get(bucket, {**labels(), "le": "0.5"}) == 3
    assert get(bucket, {**labels(), "le": "10.0"}) == 3
    assert get(bucket, {**labels(), "le": "+Inf"}) == 4
    assert get("http_server_request_duration_seconds_count", labels()) == 4
    assert get("http_server_request_duration_seconds_sum", labels()) == pytest.approx(11.3101)
    assert get("http_server_requests_total", labels()) == 4
    assert get("http_server_request_body_size_bytes_bucket", {**labels(), "le": "1000.0"}) == 4
    assert get("http_server_response_body_size_bytes_bucket", {**labels(), "le": "100.0"}) == 4
    assert get("http_server_response_body_size_bytes_sum", labels()) == 400


def test_no_body_is_not_observed(registry: CollectorRegistry) -> None:
    """request_size -1 (no body) leaves the request-size histogram untouched."""
    metrics = HttpServerMetrics(registry)
    metrics.record("GET", "http", "/r/{id}", 200, 0.01, -1, 5)
    assert registry.get_sample_value("http_server_request_body_size_bytes_count", labels()) == 0
    assert registry.get_sample_value("http_server_requests_total", labels()) == 1


def test_exemplar_is_kept_on_the_duration(registry: CollectorRegistry) -> None:
    """An exemplar passed to record is attached to the latency bucket."""
    metrics = HttpServerMetrics(registry)
    metrics.record("GET", "http", "/r/{id}", 200, 0.02, -1, 5, {"trace_id": "abc"})
    duration = next(m for m in registry.collect() if m.name.endswith("duration_seconds"))
    exemplars = [s.exemplar for s in duration.samples if s.exemplar is not None]
    assert len(exemplars) == 1
    assert exemplars[0].labels == {"trace_id": "abc"}
    assert exemplars[0].value == 0.02


def test_methods_and_schemes_are_bounded(registry: CollectorRegistry) -> None:
    """Unknown methods and schemes collapse into _OTHER."""
    assert [normalize_method(m) for m in ("GET", "PATCH", "QUERY", "get", "PROPFIND", "")] == [
        "GET", "PATCH", "QUERY", "_OTHER", "_OTHER", "_OTHER",
    ]  # fmt: skip
    metrics = HttpServerMetrics(registry)
    metrics.record("_OTHER", "gopher", "", 405, 0.01, -1, 0)
    assert (
        registry.get_sample_value(
            "http_server_requests_total",
            {
                "http_request_method": "_OTHER",
                "url_scheme": "_OTHER",
                "http_route": "",
                "http_response_status_code": "405",
            },
        )
        == 1
    )
    assert metrics.active_child("_OTHER", "gopher") is metrics.active_child("_OTHER", "_OTHER")


def test_two_instances_share_families(registry: CollectorRegistry) -> None:
    """Two apps instrumented on one registry record into the same series."""
    HttpServerMetrics(registry).record("GET", "http", "/r/{id}", 200, 0.01, -1, 1)
    HttpServerMetrics(registry).record("GET", "http", "/r/{id}", 200, 0.01, -1, 1)
    assert registry.get_sample_value("http_server_requests_total", labels()) == 2


def test_bad_buckets_fail_at_definition() -> None:
    """Unsorted or empty bucket bounds are refused when the metrics are defined."""
    with pytest.raises(InstrumentationError, match="duration_buckets"):
        HttpServerMetrics(CollectorRegistry(), duration_buckets=[1.0, 0.5])
    with pytest.raises(InstrumentationError, match="size_buckets"):
        HttpServerMetrics(CollectorRegistry(), size_buckets=[])
