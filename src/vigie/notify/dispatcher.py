"""Grouping and timing of notifications, as Alertmanager's dispatcher and notification pipeline.

Each alert is routed through the tree; on each matching route it joins the *aggregation group* of
its ``group_by`` labels. A new group waits ``group_wait`` (so alerts firing together arrive in one
message), then flushes every ``group_interval``. A flush drops muted alerts (inhibited, silenced,
or in a mute time interval), asks the notification log whether the receiver must hear about the
rest (new firing alerts, newly resolved ones, or ``repeat_interval`` elapsed), and emits one
:class:`Notification` per integration of the receiver. Resolved alerts that were flushed leave
the group; an empty group is dropped at the next maintenance.

Time is a parameter everywhere (``now``), so the same logic runs under a real clock in
:mod:`vigie.notify.service` and under simulated time in tests.

Example::

    >>> from datetime import datetime, timedelta, timezone
    >>> from vigie.notify.alert import Alert
    >>> from vigie.notify.config import parse_routing_config
    >>> config = parse_routing_config('''
    ... route: {receiver: team, group_by: [alertname], group_wait: 10s}
    ... receivers: [{name: team, webhook_configs: [{url: "http://127.0.0.1:1/hook"}]}]
    ... ''')
    >>> sent = []
    >>> dispatcher = Dispatcher(config, emit=sent.append)
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> dispatcher.receive([Alert({"alertname": "Down"}, starts_at=t0,
    ...                           ends_at=t0 + timedelta(minutes=5), updated_at=t0)], t0)
    >>> dispatcher.flush_due(t0 + timedelta(seconds=9)), len(sent)
    ([], 0)
    >>> [n.payload["status"] for n in dispatcher.flush_due(t0 + timedelta(seconds=10))]
    ['firing']
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vigie.notify.alert import Alert, fingerprint, sort_key
from vigie.notify.config import Integration, Route, RoutingConfig
from vigie.notify.inhibition import Inhibitor
from vigie.notify.notification_log import NotificationLog, needs_update
from vigie.notify.payload import (
    common_labels,
    default_body,
    default_title,
    group_key,
    webhook_payload,
)
from vigie.notify.silences import SilenceStore
from vigie.notify.template_data import template_data
from vigie.rules.templating import TemplateError

__all__ = ["AggregationGroup", "Dispatcher", "Notification"]

logger = logging.getLogger("vigie.notify")

#: The title of a notification whose integration has no title of its own (webhooks, Telegram).
SUBJECT_TEMPLATE = '{{ template "__subject" . }}'
#: How long the notification log remembers a group (Alertmanager's --data.retention default).
NOTIFICATION_LOG_RETENTION = timedelta(hours=120)
#: How long resolved alerts stay known to the dispatcher (Alertmanager's --alerts.gc-interval).
RESOLVED_ALERT_RETENTION = timedelta(minutes=30)


@dataclass
class Notification:
    """One message for one integration of a receiver, ready to deliver."""

    receiver: str
    integration: Integration
    integration_index: int
    group_key: str
    payload: dict[str, Any]
    title: str
    body: str
    created_at: datetime
    #: ``text`` or ``html`` (an e-mail receiver's ``html`` template).
    body_format: str = "text"

    @property
    def dedup_key(self) -> str:
        """Identity for at-least-once delivery: group, receiver, integration and time."""
        return (
            f"{self.receiver}/{self.integration.kind}/{self.integration_index}/"
            f"{self.group_key}@{self.created_at.timestamp():.6f}"
        )


@dataclass
class AggregationGroup:
    """The alerts of one route sharing the same ``group_by`` label values."""

    route: Route
    labels: dict[str, str]
    key: str
    next_flush: datetime
    alerts: dict[str, Alert] = field(default_factory=dict)
    has_flushed: bool = False

    def insert(self, alert: Alert, now: datetime) -> None:
        """Add or replace an alert; an old alert makes a first flush due at once."""
        self.alerts[alert.fingerprint] = alert
        if not self.has_flushed and alert.starts_at + self.route.group_wait < now:
            self.next_flush = now


class Dispatcher:
    """Routes alerts into aggregation groups and turns due groups into notifications."""

    def __init__(
        self,
        config: RoutingConfig,
        *,
        emit: Callable[[Notification], None],
        silences: SilenceStore | None = None,
        notification_log: NotificationLog | None = None,
        external_url: str = "",
        ui_url: str = "",
    ) -> None:
        self.config = config
        self._emit = emit
        self.silences = silences or SilenceStore()
        self.notification_log = notification_log or NotificationLog()
        self.external_url = external_url
        self.ui_url = ui_url
        self._inhibitor = Inhibitor(config.inhibit_rules)
        self._alerts: dict[str, Alert] = {}
        self._groups: dict[tuple[str, str], AggregationGroup] = {}
        self._lock = threading.RLock()

    # -- alerts in ---------------------------------------------------------------------------

    def receive(self, alerts: Iterable[Alert], now: datetime) -> None:
        """Take in alerts (merged with what is known of them) and route each into its groups."""
        with self._lock:
            for incoming in alerts:
                known = self._alerts.get(incoming.fingerprint)
                alert = incoming
                if known is not None and _overlaps(known, incoming):
                    alert = known.merge(incoming, now)
                self._alerts[alert.fingerprint] = alert
                for route in self.config.route.match(alert.labels):
                    self._group_for(route, alert, now).insert(alert, now)

    def _group_for(self, route: Route, alert: Alert, now: datetime) -> AggregationGroup:
        if route.group_by_all:
            labels = dict(alert.labels)
        else:
            labels = {name: alert.labels[name] for name in route.group_by if name in alert.labels}
        identity = (route.identifier(), fingerprint(labels))
        group = self._groups.get(identity)
        if group is None:
            group = AggregationGroup(
                route=route,
                labels=labels,
                key=group_key(route.key(), labels),
                next_flush=now + route.group_wait,
            )
            self._groups[identity] = group
        return group

    # -- time passing ------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """When the earliest group flush is due (None without groups)."""
        with self._lock:
            return min((group.next_flush for group in self._groups.values()), default=None)

    def flush_due(self, now: datetime) -> list[Notification]:
        """Flush every group whose time has come; returns (and emits) the notifications."""
        sent: list[Notification] = []
        with self._lock:
            due = [group for group in self._groups.values() if group.next_flush <= now]
            for group in sorted(due, key=lambda g: g.next_flush):
                group.next_flush = now + group.route.group_interval
                group.has_flushed = True
                sent.extend(self._flush(group, now))
        return sent

    def maintenance(self, now: datetime) -> None:
        """Drop empty groups and long-resolved alerts; trim the notification log."""
        with self._lock:
            for identity in [key for key, group in self._groups.items() if not group.alerts]:
                del self._groups[identity]
            horizon = now - RESOLVED_ALERT_RETENTION
            for key in [k for k, a in self._alerts.items() if a.resolved_at(horizon)]:
                del self._alerts[key]
        self.notification_log.garbage_collect(now)

    def _flush(self, group: AggregationGroup, now: datetime) -> list[Notification]:
        if not group.alerts:
            return []
        snapshot: list[Alert] = []
        resolved_snapshot: list[Alert] = []
        for alert in group.alerts.values():
            copy = dataclasses.replace(alert)
            if copy.resolved_at(now):
                resolved_snapshot.append(copy)
            snapshot.append(copy)
        snapshot.sort(key=sort_key)
        notifications = self._notify(group, snapshot, now)
        # Flushed resolved alerts leave the group, unless they changed during the flush.
        for alert in resolved_snapshot:
            current = group.alerts.get(alert.fingerprint)
            if current is not None and current.updated_at == alert.updated_at:
                del group.alerts[alert.fingerprint]
        return notifications

    def _notify(
        self, group: AggregationGroup, alerts: list[Alert], now: datetime
    ) -> list[Notification]:
        route = group.route
        alerts = [a for a in alerts if not self._inhibitor.mutes(a.labels, self._active(), now)]
        if not alerts or self._time_muted(route, now):
            return []
        alerts = [a for a in alerts if not self.silences.silenced_by(a.labels, now)]
        if not alerts:
            return []
        receiver = self.config.receivers[route.receiver]
        firing = {a.fingerprint for a in alerts if not a.resolved_at(now)}
        resolved = {a.fingerprint for a in alerts if a.resolved_at(now)}
        sent: list[Notification] = []
        for index, integration in enumerate(receiver.integrations):
            log_key = f"{receiver.name}/{integration.kind}/{index}/{group.key}"
            entry = self.notification_log.get(log_key)
            if not needs_update(
                entry,
                firing,
                resolved,
                send_resolved=integration.send_resolved,
                now=now,
                repeat=route.repeat_interval,
            ):
                continue
            chosen = alerts
            if not integration.send_resolved:
                chosen = [a for a in alerts if not a.resolved_at(now)]
            if chosen:
                notification = self._build(group, receiver.name, integration, index, chosen, now)
                self._emit(notification)
                sent.append(notification)
            self.notification_log.log(log_key, firing, resolved, now, NOTIFICATION_LOG_RETENTION)
        return sent

    def _build(
        self,
        group: AggregationGroup,
        receiver: str,
        integration: Integration,
        index: int,
        alerts: list[Alert],
        now: datetime,
    ) -> Notification:
        limit = int(integration.settings.get("max_alerts") or 0)
        shown = alerts[:limit] if limit > 0 else alerts
        payload = webhook_payload(
            receiver=receiver,
            group_key_text=group.key,
            group_labels=group.labels,
            alerts=shown,
            now=now,
            external_url=self.external_url,
            truncated=len(alerts) - len(shown),
        )
        title, body, body_format = self._message(group, receiver, integration, alerts, now)
        return Notification(
            receiver=receiver,
            integration=integration,
            integration_index=index,
            group_key=group.key,
            payload=payload,
            title=title,
            body=body,
            created_at=now,
            body_format=body_format,
        )

    def _message(
        self,
        group: AggregationGroup,
        receiver: str,
        integration: Integration,
        alerts: list[Alert],
        now: datetime,
    ) -> tuple[str, str, str]:
        """Title, body and body format from the receiver's templates (or vigie's defaults).

        A template that fails at send time (data it did not expect) must not lose the page:
        the notification goes out with the default title and body and the error on top.
        """
        templates = self.config.message_templates
        data = template_data(
            receiver, group.labels, alerts, now=now, external_url=self.external_url
        )
        fallback = default_body(alerts, now=now, ui_url=self.ui_url)
        try:
            message = templates.message(integration.kind, integration.settings, data)
            title = message.title
            if title is None:
                title = templates.render(SUBJECT_TEMPLATE, data)
        except TemplateError as error:
            logger.warning("notification template of receiver %s failed: %s", receiver, error)
            shared = common_labels([alert.labels for alert in alerts])
            title = default_title(data.Status, alerts, group.labels, shared, now=now)
            return title, f"(notification template failed: {error})\n\n{fallback}", "text"
        if message.body is None:
            return title, fallback, "text"
        return title, message.body, message.body_format

    def _active(self) -> list[Alert]:
        return list(self._alerts.values())

    def _time_muted(self, route: Route, now: datetime) -> bool:
        intervals = self.config.time_intervals
        for name in route.mute_time_intervals:
            if any(interval.contains(now) for interval in intervals[name]):
                return True
        if route.active_time_intervals:
            return not any(
                interval.contains(now)
                for name in route.active_time_intervals
                for interval in intervals[name]
            )
        return False

    # -- views -------------------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """Every alert the dispatcher knows (firing and recently resolved)."""
        with self._lock:
            return sorted(self._alerts.values(), key=sort_key)

    def groups(self) -> list[AggregationGroup]:
        """The current aggregation groups."""
        with self._lock:
            return list(self._groups.values())

    def mute_reasons(self, alert: Alert, now: datetime) -> tuple[list[str], bool]:
        """(silence ids, inhibited?) for an alert, for the alerts API and UI."""
        silenced, inhibitors = self.suppression(alert, now)
        return silenced, bool(inhibitors)

    def suppression(self, alert: Alert, now: datetime) -> tuple[list[str], list[str]]:
        """(silence ids, fingerprints of the inhibiting alerts) for an alert."""
        with self._lock:
            inhibitors = self._inhibitor.inhibited_by(alert.labels, self._active(), now)
        return self.silences.silenced_by(alert.labels, now), inhibitors


def _overlaps(old: Alert, new: Alert) -> bool:
    """Alertmanager merges two reports only when their activity ranges overlap."""
    return (old.starts_at < new.ends_at < old.ends_at) or (
        old.starts_at < new.starts_at < old.ends_at
    )
