"""Self-monitoring of the server's moving parts: rule evaluation, notifications, OTLP ingest.

"Monitoring the monitoring": a rule group that fails or falls behind, notifications piling up
for a receiver that is down, an OTLP ingest queue that refuses batches — each must be visible
at the server's own ``/metrics`` (scraped by its self-monitoring job), so that an alert rule
can watch it. The figures are read from the components at each scrape, never copied, so they
cannot drift from what the components report in their APIs. Names mirror Prometheus's and
Alertmanager's own self-metrics under the ``vigie_`` prefix:

=====================================================  =======  ==========================
metric                                                 type     labels
=====================================================  =======  ==========================
``vigie_rule_evaluations_total``                       counter  ``rule_group`` (file;name)
``vigie_rule_evaluation_failures_total``               counter  ``rule_group``
``vigie_rule_group_last_duration_seconds``             gauge    ``rule_group``
``vigie_rule_group_last_evaluation_timestamp_seconds`` gauge    ``rule_group``
``vigie_rule_group_interval_seconds``                  gauge    ``rule_group``
``vigie_rule_group_rules``                             gauge    ``rule_group``
``vigie_notifications_total``                          counter  ``integration``
``vigie_notifications_failed_total``                   counter  ``integration``
``vigie_notification_queue_length``                    gauge    ``state`` (pending, failed)
``vigie_otlp_records_accepted_total``                  counter  ``signal`` (traces, logs)
``vigie_otlp_records_refused_total``                   counter  ``signal``
``vigie_otlp_records_written_total``                   counter  ``signal``
``vigie_otlp_records_write_failed_total``              counter  ``signal``
``vigie_otlp_queue_length``                            gauge    ``signal``
=====================================================  =======  ==========================

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> collector = ComponentCollector()
    >>> registry.register(collector)
    >>> registry.get_sample_value("vigie_notification_queue_length", {"state": "pending"})
    >>> # nothing until the server attaches itself: collector.server = server
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ComponentCollector"]

logger = logging.getLogger(__name__)

Family = CounterMetricFamily | GaugeMetricFamily


class ComponentCollector(Collector):
    """Reads ``server.rules``, ``server.notifications`` and ``server.telemetry`` at each scrape.

    ``server`` is anything with those three attributes (each may be None while the part is not
    running); the collector never raises: a part that fails to report is left out of the scrape.
    """

    def __init__(self) -> None:
        self.server: Any = None

    def collect(self) -> Iterator[Family]:
        server = self.server
        if server is None:
            return
        for part in (_rule_families, _notification_families, _ingest_families):
            try:
                families = list(part(server))
            except Exception:  # a part stopping while scraped: leave it out, keep the rest
                logger.debug("self-metrics of %s not collected", part.__name__, exc_info=True)
                continue
            yield from families


def _rule_families(server: Any) -> Iterator[Family]:
    rules = getattr(server, "rules", None)
    if rules is None:
        return
    label = ["rule_group"]
    evaluations = CounterMetricFamily(
        "vigie_rule_evaluations", "Rule evaluations (one per rule and group tick).", labels=label
    )
    failures = CounterMetricFamily(
        "vigie_rule_evaluation_failures", "Rule evaluations that failed.", labels=label
    )
    duration = GaugeMetricFamily(
        "vigie_rule_group_last_duration_seconds",
        "Duration of the group's last evaluation.",
        labels=label,
    )
    last = GaugeMetricFamily(
        "vigie_rule_group_last_evaluation_timestamp_seconds",
        "When the group was last evaluated (its evaluation timestamp).",
        labels=label,
    )
    interval = GaugeMetricFamily(
        "vigie_rule_group_interval_seconds", "The group's evaluation interval.", labels=label
    )
    count = GaugeMetricFamily("vigie_rule_group_rules", "Rules in the group.", labels=label)
    for group in list(rules.manager.groups):
        name = [f"{group.file};{group.name}"]
        evaluations.add_metric(name, group.rule_evaluations)
        failures.add_metric(name, group.rule_evaluation_failures)
        duration.add_metric(name, group.evaluation_seconds)
        if group.last_evaluation is not None:
            last.add_metric(name, group.last_evaluation / 1000)
        interval.add_metric(name, group.interval_ms / 1000)
        count.add_metric(name, len(group.rules))
    yield from (evaluations, failures, duration, last, interval, count)


def _notification_families(server: Any) -> Iterator[Family]:
    notifications = getattr(server, "notifications", None)
    if notifications is None:
        return
    attempts, failures = dict(notifications.attempts), dict(notifications.failures)
    states = notifications.outbox.state_counts()
    sent = CounterMetricFamily(
        "vigie_notifications",
        "Notification delivery attempts, by integration (webhook, email, slack...).",
        labels=["integration"],
    )
    failed = CounterMetricFamily(
        "vigie_notifications_failed",
        "Notification delivery attempts that failed, by integration.",
        labels=["integration"],
    )
    for integration in sorted(attempts):
        sent.add_metric([integration], attempts[integration])
        failed.add_metric([integration], failures.get(integration, 0))
    queue = GaugeMetricFamily(
        "vigie_notification_queue_length",
        "Notifications waiting for delivery (pending) or given up after max age (failed).",
        labels=["state"],
    )
    queue.add_metric(["pending"], states.get("pending", 0))
    queue.add_metric(["failed"], states.get("failed", 0))
    yield from (sent, failed, queue)


def _ingest_families(server: Any) -> Iterator[Family]:
    telemetry = getattr(server, "telemetry", None)
    if telemetry is None:
        return
    queues = {"traces": telemetry.span_queue, "logs": telemetry.log_queue}
    figures = {
        "accepted": ("vigie_otlp_records_accepted", "OTLP records accepted into the queue."),
        "refused": ("vigie_otlp_records_refused", "OTLP records refused (queue full: 503)."),
        "written": ("vigie_otlp_records_written", "OTLP records committed to disk."),
        "failed": ("vigie_otlp_records_write_failed", "OTLP records whose write failed."),
    }
    for attribute, (name, documentation) in figures.items():
        family = CounterMetricFamily(name, documentation, labels=["signal"])
        for signal, queue in queues.items():
            family.add_metric([signal], getattr(queue, attribute))
        yield family
    length = GaugeMetricFamily(
        "vigie_otlp_queue_length", "OTLP records waiting to be written.", labels=["signal"]
    )
    for signal, queue in queues.items():
        length.add_metric([signal], len(queue))
    yield length
