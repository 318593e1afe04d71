"""RED metrics derived from spans, with Tempo's spanmetrics names and cumulative buckets."""

from __future__ import annotations

import pytest

from vigie.telemetry.records import Span
from vigie.telemetry.span_metrics import SpanMetrics

MS = 1_000_000


def _span(name: str, duration_ms: int, status: str = "UNSET") -> Span:
    return Span("ab" * 16, "01" * 8, None, name, "SERVER", "api", 0, duration_ms * MS,
                status_code=status)  # fmt: skip


def test_calls_and_cumulative_latency_buckets_per_operation() -> None:
    """Each span counts once; buckets are cumulative with +Inf equal to the count."""
    metrics = SpanMetrics(buckets=(0.01, 0.1, 1.0))
    metrics.observe(
        [_span("GET /", 5), _span("GET /", 50), _span("GET /", 5000), _span("GET /", 10)]
    )
    metrics.observe([_span("GET /", 70, "ERROR")])
    samples = {
        (labels["__name__"], labels["status_code"], labels.get("le")): value
        for labels, value in metrics.samples()
    }
    ok = "STATUS_CODE_UNSET"
    assert samples[("traces_spanmetrics_calls_total", ok, None)] == 4
    assert samples[("traces_spanmetrics_calls_total", "STATUS_CODE_ERROR", None)] == 1
    assert [samples[("traces_spanmetrics_latency_bucket", ok, le)] for le in
            ("0.01", "0.1", "1.0", "+Inf")] == [2, 3, 3, 4]  # fmt: skip
    assert samples[("traces_spanmetrics_latency_count", ok, None)] == 4
    assert samples[("traces_spanmetrics_latency_sum", ok, None)] == pytest.approx(5.065)
    labels = next(labels for labels, _ in metrics.samples())
    assert set(labels) == {"__name__", "service", "span_name", "span_kind", "status_code"}
    assert labels["span_kind"] == "SPAN_KIND_SERVER"


def test_buckets_must_increase() -> None:
    """Unsorted bucket bounds are refused at definition time."""
    with pytest.raises(ValueError, match="increasing"):
        SpanMetrics(buckets=(1.0, 0.5))
