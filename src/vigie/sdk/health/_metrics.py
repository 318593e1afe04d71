"""Health check results as Prometheus metrics, so alerts and dashboards see them too.

Each run of the checks (a ``/health`` or ``/health/ready`` request, or :meth:`HealthRegistry.run`)
updates:

* ``vigie_health_check_status`` (gauge, label ``check``): 1 if the check passed on its last run,
  0 if it failed.
* ``vigie_health_check_duration_seconds`` (gauge, label ``check``): how long its last run took
  (the time waited when it was cut by its timeout).
* ``vigie_health_check_failures_total`` (counter, label ``check``): runs in which it failed.
* ``vigie_health_status`` (gauge, label ``status``): 1 for the app's current status (``ok``,
  ``degraded``, ``down``), 0 for the two others; set by runs of every check (``/health``) only.

Example::

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> from vigie.sdk.health import HealthRegistry
    >>> registry = CollectorRegistry()
    >>> health = HealthRegistry(registry=registry)
    >>> health.add_check("db", lambda: True)
    >>> _ = health.run()
    >>> b'vigie_health_check_status{check="db"} 1.0' in generate_latest(registry)
    True
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from vigie.sdk import instruments
from vigie.sdk.failsafe import guard

if TYPE_CHECKING:
    from vigie.sdk.health._registry import HealthReport

__all__ = ["forget", "record"]

STATUSES = ("ok", "degraded", "down")


def _families(registry: CollectorRegistry | None) -> tuple[Gauge, Gauge, Counter]:
    status = instruments.gauge(
        "vigie_health_check_status",
        "1 if the health check passed on its last run, 0 if it failed.",
        ["check"],
        registry=registry,
        multiprocess_mode="livemostrecent",
    )
    duration = instruments.gauge(
        "vigie_health_check_duration_seconds",
        "Duration of the health check's last run, in seconds (its timeout when it was cut).",
        ["check"],
        registry=registry,
        multiprocess_mode="livemostrecent",
    )
    failures = instruments.counter(
        "vigie_health_check_failures",
        "Runs in which the health check failed (error, False or timeout).",
        ["check"],
        registry=registry,
    )
    return status, duration, failures


def record(report: HealthReport, registry: CollectorRegistry | None, *, overall: bool) -> None:
    """Export ``report``; ``overall`` also sets ``vigie_health_status`` (runs of every check)."""
    with guard("vigie.health metrics"):
        status, duration, failures = _families(registry)
        for result in report.checks:
            status.labels(result.name).set(1.0 if result.ok else 0.0)
            duration.labels(result.name).set(result.latency_seconds)
            failures.labels(result.name).inc(0.0 if result.ok else 1.0)
        if overall:
            health = instruments.gauge(
                "vigie_health_status",
                "1 for the app's current health status (ok, degraded or down), 0 for the others.",
                ["status"],
                registry=registry,
                multiprocess_mode="livemostrecent",
            )
            for name in STATUSES:
                health.labels(name).set(1.0 if name == report.status else 0.0)


def forget(name: str, registry: CollectorRegistry | None) -> None:
    """Drop the series of the removed check ``name``."""
    with guard("vigie.health metrics"):
        for family in _families(registry):
            with contextlib.suppress(KeyError):
                family.remove(name)
