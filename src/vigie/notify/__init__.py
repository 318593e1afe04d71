"""Alertmanager-style routing and durable delivery of notifications.

Alerts go through a route tree into aggregation groups (``group_by``, ``group_wait``,
``group_interval``, ``repeat_interval``), are muted by inhibition rules, silences and time
intervals, and leave as notifications queued on disk and delivered with retries to webhooks
(Alertmanager's payload), Slack (Alertmanager's Slack message) or, through apprise, to Discord,
e-mail, Teams, Telegram and more.
"""

from vigie.notify.alert import Alert
from vigie.notify.config import RoutingConfig, load_routing_config, parse_routing_config
from vigie.notify.dispatcher import Dispatcher, Notification
from vigie.notify.notifiers import FakeNotifier, FaultyNotifier, Notifier
from vigie.notify.service import NotificationService
from vigie.notify.silences import Silence, SilenceStore

__all__ = [
    "Alert",
    "Dispatcher",
    "FakeNotifier",
    "FaultyNotifier",
    "Notification",
    "NotificationService",
    "Notifier",
    "RoutingConfig",
    "Silence",
    "SilenceStore",
    "load_routing_config",
    "parse_routing_config",
]
