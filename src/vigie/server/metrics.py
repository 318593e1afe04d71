"""The server's own metrics, on a registry of their own (never prometheus-client's global one).

Served at ``/metrics`` and scraped by the server itself (the self-monitoring job), so the server's
health is queryable like any target's. Names mirror Prometheus's own where the meaning is the same
(``prometheus_config_last_reload_successful`` -> ``vigie_config_last_reload_successful``).

Example::

    >>> metrics = ServerMetrics()
    >>> metrics.scrapes.labels(scrape_job="app", result="success").inc()
    >>> metrics.registry.get_sample_value(
    ...     "vigie_scrapes_total", {"scrape_job": "app", "result": "success"})
    1.0
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

import vigie
from vigie.server.component_metrics import ComponentCollector

__all__ = ["ServerMetrics", "StoreCollector"]

# StoreStats field -> (metric name, type, help); read from the store at each collection.
_STORE_FIGURES = {
    "head_series": ("vigie_store_head_series", "gauge", "Series in the in-memory head."),
    "samples_appended": ("vigie_store_samples_appended", "counter", "Samples stored."),
    "samples_rejected": ("vigie_store_samples_rejected", "counter",
                         "Samples refused (duplicate or out of order)."),
    "blocks": ("vigie_store_blocks", "gauge", "Persisted blocks on disk."),
    "bytes_on_disk": ("vigie_store_bytes", "gauge", "Bytes used by blocks."),
    "wal_bytes": ("vigie_store_wal_bytes", "gauge", "Bytes used by the write-ahead log."),
    "corruptions": ("vigie_store_corruptions", "counter", "Files that failed their checksum."),
    "storage_full_errors": ("vigie_store_storage_full_errors", "counter",
                            "Commits refused because the disk was full."),
    "compactions": ("vigie_store_compactions", "counter", "Block compactions done."),
    "healthy": ("vigie_store_healthy", "gauge", "1 when the store reports no error."),
}  # fmt: skip


class StoreCollector(Collector):
    """Exports the store's ``stats()`` (when it has one) as ``vigie_store_*`` metrics."""

    def __init__(self) -> None:
        self.storage: Any = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats_of = getattr(self.storage, "stats", None)
        if not callable(stats_of):
            return
        stats = stats_of()
        for field, (name, kind, documentation) in _STORE_FIGURES.items():
            value = getattr(stats, field, None)
            if value is None:
                continue
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            yield family(name, documentation, value=float(value))


class ServerMetrics:
    """Every metric the server records about itself."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        registry = self.registry
        ProcessCollector(registry=registry)
        self.store = StoreCollector()
        registry.register(self.store)
        #: Rules, notifications and OTLP ingest, read at each scrape (see component_metrics).
        self.components = ComponentCollector()
        registry.register(self.components)
        PlatformCollector(registry=registry)
        Gauge("vigie_build_info", "Always 1; the version in a label.", ["version"],
              registry=registry).labels(vigie.__version__).set(1)  # fmt: skip
        self.ready = Gauge(
            "vigie_ready", "1 once the store is open (WAL replayed) and the server serves.",
            registry=registry,
        )  # fmt: skip
        self.reload_successful = Gauge(
            "vigie_config_last_reload_successful",
            "Whether the last configuration reload attempt succeeded.",
            registry=registry,
        )
        self.reload_timestamp = Gauge(
            "vigie_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration reload.",
            registry=registry,
        )
        self.scrapes = Counter(
            "vigie_scrapes", "Scrapes done, by job and result (success or failure).",
            ["scrape_job", "result"], registry=registry,
        )  # fmt: skip
        self.scrape_duration = Histogram(
            "vigie_scrape_duration_seconds", "Time to fetch, parse and store one scrape.",
            ["scrape_job"], registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self.scrape_samples = Counter(
            "vigie_scrape_samples_appended", "Samples stored from scrapes (staleness markers "
            "and scrape_* series included).", ["scrape_job"], registry=registry,
        )  # fmt: skip
        self.scrape_samples_dropped = Counter(
            "vigie_scrape_samples_dropped",
            "Scraped samples not stored: duplicate, out_of_order.",
            ["scrape_job", "reason"], registry=registry,
        )  # fmt: skip
        self.targets = Gauge(
            "vigie_targets", "Active targets by job and health (up, down, unknown).",
            ["scrape_job", "health"], registry=registry,
        )  # fmt: skip
        self.remote_write_requests = Counter(
            "vigie_remote_write_requests", "Remote-write requests received, by HTTP status code.",
            ["code"], registry=registry,
        )  # fmt: skip
        self.remote_write_samples = Counter(
            "vigie_remote_write_samples", "Samples stored from remote-write requests.",
            registry=registry,
        )  # fmt: skip
        self.remote_write_samples_dropped = Counter(
            "vigie_remote_write_samples_dropped",
            "Remote-write samples not stored: duplicate, out_of_order.",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.http_requests = Counter(
            "vigie_http_requests", "HTTP requests served, by handler and status code.",
            ["handler", "code"], registry=registry,
        )  # fmt: skip
        self._extra: list[Collector] = []
        self.queries = Counter(
            "vigie_queries", "PromQL queries evaluated through the HTTP API, by kind and result.",
            ["kind", "result"], registry=registry,
        )  # fmt: skip

    def replace_collectors(self, collectors: list[Collector]) -> None:
        """Serve ``collectors`` (the built-in host/PostgreSQL ones) instead of the previous set."""
        for collector in self._extra:
            self.registry.unregister(collector)
        self._extra = []
        for collector in collectors:
            self.registry.register(collector)
            self._extra.append(collector)
