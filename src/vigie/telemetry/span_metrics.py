"""RED metrics derived from spans, named as Tempo's metrics-generator and the OTel spanmetrics do.

Apps that export only traces still get request rate, errors and latency histograms queryable with
PromQL. Every received span counts once in::

    traces_spanmetrics_calls_total{service, span_name, span_kind, status_code}
    traces_spanmetrics_latency_bucket{service, span_name, span_kind, status_code, le}
    traces_spanmetrics_latency_sum{...}     traces_spanmetrics_latency_count{...}

with ``span_kind`` like ``SPAN_KIND_SERVER``, ``status_code`` like ``STATUS_CODE_ERROR`` and
latency in seconds (cumulative buckets, ``le="+Inf"`` included). Counters start at zero when the
process starts, like any Prometheus counter; PromQL's ``rate()`` handles the reset.

:meth:`SpanMetrics.samples` returns plain ``(labels, value)`` pairs, ``labels`` including
``__name__``; the server writes them into the time-series store.

Example::

    >>> metrics = SpanMetrics()
    >>> metrics.observe([Span("ab" * 16, "01" * 8, None, "GET /", "SERVER", "api", 0, 30_000_000)])
    >>> samples = dict((tuple(sorted(l.items())), v) for l, v in metrics.samples())
    >>> samples[(("__name__", "traces_spanmetrics_calls_total"), ("service", "api"),
    ...          ("span_kind", "SPAN_KIND_SERVER"), ("span_name", "GET /"),
    ...          ("status_code", "STATUS_CODE_UNSET"))]
    1.0
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from vigie.telemetry.records import Span

__all__ = ["DEFAULT_BUCKETS", "SpanMetrics"]

# Tempo metrics-generator's default span-metrics buckets, in seconds.
DEFAULT_BUCKETS = (
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.064,
    0.128,
    0.256,
    0.512,
    1.024,
    2.048,
    4.096,
    8.192,
    16.384,
)

Labels = tuple[str, str, str, str]


@dataclass
class _Series:
    calls: int = 0
    total_seconds: float = 0.0
    buckets: list[int] = field(default_factory=list)


class SpanMetrics:
    """Thread-safe accumulation of calls and latency histograms per operation."""

    def __init__(self, buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
        if list(buckets) != sorted(set(buckets)):
            raise ValueError("buckets must be increasing and distinct")
        self.buckets = tuple(float(b) for b in buckets)
        self._series: dict[Labels, _Series] = {}
        self._lock = threading.Lock()

    def observe(self, spans: Iterable[Span]) -> None:
        """Count each span once."""
        with self._lock:
            for span in spans:
                key = (
                    span.service,
                    span.name,
                    f"SPAN_KIND_{span.kind}",
                    f"STATUS_CODE_{span.status_code}",
                )
                series = self._series.get(key)
                if series is None:
                    series = self._series[key] = _Series(buckets=[0] * len(self.buckets))
                seconds = span.duration_ns / 1e9
                series.calls += 1
                series.total_seconds += seconds
                index = bisect.bisect_left(self.buckets, seconds)
                if index < len(self.buckets):
                    series.buckets[index] += 1

    def samples(self) -> list[tuple[dict[str, str], float]]:
        """Current values as ``(labels with __name__, value)``, buckets cumulative."""
        out: list[tuple[dict[str, str], float]] = []
        with self._lock:
            items = [
                (key, series.calls, series.total_seconds, list(series.buckets))
                for key, series in sorted(self._series.items())
            ]
        for (service, name, kind, status), calls, total, buckets in items:
            labels = {
                "service": service,
                "span_name": name,
                "span_kind": kind,
                "status_code": status,
            }
            out.append(({"__name__": "traces_spanmetrics_calls_total", **labels}, float(calls)))
            running = 0
            for bound, count in zip(self.buckets, buckets, strict=True):
                running += count
                out.append(
                    (
                        {
                            "__name__": "traces_spanmetrics_latency_bucket",
                            **labels,
                            "le": _le(bound),
                        },
                        float(running),
                    )
                )
            out.append(
                (
                    {"__name__": "traces_spanmetrics_latency_bucket", **labels, "le": "+Inf"},
                    float(calls),
                )
            )
            out.append(({"__name__": "traces_spanmetrics_latency_sum", **labels}, total))
            out.append(({"__name__": "traces_spanmetrics_latency_count", **labels}, float(calls)))
        return out


def _le(bound: float) -> str:
    """Prometheus formats bucket bounds as Go's ``%g``-like shortest float text."""
    return repr(bound)
