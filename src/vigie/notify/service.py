"""The notification service: the dispatcher and durable delivery, running on real time.

Two threads: one flushes aggregation groups when they are due, the other delivers queued
notifications and retries failed ones. They share nothing but the outbox, so a slow or dead
receiver never delays the grouping of other alerts. State lives under ``data_dir``
(``notifications.db`` for the outbox and the notification log, ``silences.json``), so a restart
resumes delivery of everything queued and does not re-send what was already sent.

Example::

    service = NotificationService(load_routing_config("alertmanager.yml"), data_dir="vigie-data")
    service.start()
    service.receive(alerts)          # from the rule evaluator or POST /api/v2/alerts
    ...
    service.stop()
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigie.exceptions import NotificationError
from vigie.notify.alert import Alert
from vigie.notify.config import Integration, RoutingConfig
from vigie.notify.dispatcher import Dispatcher, Notification
from vigie.notify.notification_log import NotificationLog
from vigie.notify.notifiers import Notifier, notifier_for
from vigie.notify.outbox import DeliveryRecord, Outbox, RetryPolicy
from vigie.notify.silences import SilenceStore

__all__ = ["NotificationService"]

logger = logging.getLogger("vigie.notify")

#: Alertmanager's dispatcher maintenance period: empty groups are dropped this often.
MAINTENANCE_INTERVAL = timedelta(seconds=30)


class NotificationService:
    """Runs a :class:`Dispatcher` and an :class:`Outbox` on background threads."""

    def __init__(
        self,
        config: RoutingConfig,
        *,
        data_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
        notifier_factory: Callable[[Integration], Notifier] | None = None,
        retry_policy: RetryPolicy | None = None,
        external_url: str = "",
        ui_url: str = "",
    ) -> None:
        self._clock = clock
        self._notifier_factory = notifier_factory or self._notifier_for
        #: Delivery attempts and failed attempts since start, by integration kind.
        self.attempts: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        database: str | Path = ":memory:"
        silences_path = None
        if data_dir is not None:
            folder = Path(data_dir)
            folder.mkdir(parents=True, exist_ok=True)
            database = folder / "notifications.db"
            silences_path = folder / "silences.json"
        self.outbox = Outbox(database, policy=retry_policy)
        self.silences = SilenceStore(silences_path)
        self.dispatcher = Dispatcher(
            config,
            emit=self._enqueue,
            silences=self.silences,
            notification_log=NotificationLog(database),
            external_url=external_url,
            ui_url=ui_url,
        )
        self._notifiers: dict[str, Notifier] = {}
        self._wake_dispatch = threading.Condition()
        self._wake_delivery = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_maintenance = self.now() + MAINTENANCE_INTERVAL

    @property
    def config(self) -> RoutingConfig:
        """The routing configuration in force."""
        return self.dispatcher.config

    def now(self) -> datetime:
        """The service's clock as an aware datetime."""
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    def start(self) -> None:
        """Start the dispatch and delivery threads."""
        for name, target in (("dispatch", self._dispatch_loop), ("delivery", self._delivery_loop)):
            thread = threading.Thread(target=target, name=f"vigie-notify-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads; queued notifications stay on disk for the next start."""
        self._stopping.set()
        for condition in (self._wake_dispatch, self._wake_delivery):
            with condition:
                condition.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        for notifier in self._notifiers.values():
            notifier.close()
        self.outbox.close()
        self.dispatcher.notification_log.close()

    def receive(self, alerts: Iterable[Alert]) -> None:
        """Take in alerts now."""
        self.dispatcher.receive(alerts, self.now())
        with self._wake_dispatch:
            self._wake_dispatch.notify_all()

    def reload(self, config: RoutingConfig) -> None:
        """Swap the routing configuration; known alerts are routed again under the new one."""
        known = self.dispatcher.alerts()
        replacement = Dispatcher(
            config,
            emit=self._enqueue,
            silences=self.silences,
            notification_log=self.dispatcher.notification_log,
            external_url=self.dispatcher.external_url,
            ui_url=self.dispatcher.ui_url,
        )
        replacement.receive(known, self.now())
        self.dispatcher = replacement
        self._notifiers.clear()
        with self._wake_dispatch:
            self._wake_dispatch.notify_all()

    def history(self, limit: int = 100) -> list[DeliveryRecord]:
        """Recent notifications with their delivery state."""
        return self.outbox.history(limit)

    def flush_due(self) -> None:
        """Flush the groups that are due now (the dispatch thread does this on its own)."""
        self.dispatcher.flush_due(self.now())

    def deliver_due(self) -> int:
        """Attempt every notification due now; returns how many were attempted."""
        records = self.outbox.due(self.now())
        for record in records:
            if self._stopping.is_set():
                break
            self._deliver(record)
        return len(records)

    # -- threads -----------------------------------------------------------------------------

    def _enqueue(self, notification: Notification) -> None:
        self.outbox.enqueue(notification)
        with self._wake_delivery:
            self._wake_delivery.notify_all()

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            now = self.now()
            try:
                self.dispatcher.flush_due(now)
                if now >= self._next_maintenance:
                    self.dispatcher.maintenance(now)
                    self._next_maintenance = now + MAINTENANCE_INTERVAL
            except Exception:
                logger.exception("notification dispatch failed; continuing")
            due = self.dispatcher.next_due()
            wake = min(due, self._next_maintenance) if due else self._next_maintenance
            self._sleep(self._wake_dispatch, wake)

    def _delivery_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.deliver_due()
            except Exception:
                logger.exception("notification delivery loop failed; continuing")
            wake = self.outbox.next_attempt() or self.now() + timedelta(seconds=5)
            self._sleep(self._wake_delivery, wake)

    def _deliver(self, record: DeliveryRecord) -> None:
        notification = record.notification
        integration = notification.integration
        key = f"{notification.receiver}/{integration.kind}/{notification.integration_index}"
        self.attempts[integration.kind] = self.attempts.get(integration.kind, 0) + 1
        try:
            notifier = self._notifiers.get(key)
            if notifier is None:
                notifier = self._notifier_factory(notification.integration)
                self._notifiers[key] = notifier
            notifier.send(notification)
        except NotificationError as error:
            logger.warning("notification to %s failed: %s", notification.receiver, error)
            self.failures[integration.kind] = self.failures.get(integration.kind, 0) + 1
            self.outbox.failed(record, str(error), self.now())
            return
        except Exception as error:  # a bug in a channel must not stop delivery of the others
            logger.exception("notifier for %s crashed", notification.receiver)
            self.failures[integration.kind] = self.failures.get(integration.kind, 0) + 1
            self.outbox.failed(record, f"{type(error).__name__}: {error}", self.now())
            return
        self.outbox.delivered(record.id, self.now())

    def _notifier_for(self, integration: Integration) -> Notifier:
        """The default notifiers, with the templates in force (Slack renders at send time)."""
        return notifier_for(integration, templates=self.config.message_templates)

    def _sleep(self, condition: threading.Condition, until: datetime) -> None:
        seconds = (until - self.now()).total_seconds()
        if seconds <= 0:
            return
        with condition:
            if not self._stopping.is_set():
                condition.wait(timeout=min(seconds, 1.0))
