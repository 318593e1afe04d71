"""The config's ``rule_files`` evaluated against the store, alerts sent to its Alertmanagers.

Wiring only: :class:`vigie.rules.RuleManager` schedules and evaluates the groups (with the query
engine's query function), and :class:`vigie.notify.forwarder.AlertmanagerForwarder` posts due
alerts to every Alertmanager of ``alerting.alertmanagers``, as Prometheus's notifier does.
Rule file globs are relative to the configuration file, as in Prometheus.

Example::

    rules = RuleEvaluation(storage, "http://127.0.0.1:9800")
    rules.apply(config)     # raises RuleFileError and keeps the old rules on a bad file
    rules.start()
"""

from __future__ import annotations

import glob
import logging
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from vigie.exceptions import QueryError
from vigie.notify.alert import ZERO_TIME
from vigie.notify.alert import Alert as NotifierAlert
from vigie.notify.forwarder import AlertmanagerForwarder
from vigie.query import Engine, InstantVector, Sample, Scalar
from vigie.rules.alerting import Alert
from vigie.rules.manager import RuleManager
from vigie.rules.rule_file import load_rule_file
from vigie.server.config_model import Config
from vigie.store.interface import Storage

__all__ = ["RuleEvaluation", "check_rule_files", "rule_paths"]

logger = logging.getLogger("vigie.server")


def rule_paths(config: Config) -> list[str]:
    """The files ``rule_files`` names (globs expanded, relative to the config file's folder)."""
    base = Path(config.path).resolve().parent if config.path else Path.cwd()
    found: list[str] = []
    for pattern in config.rule_files:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
        found += [match for match in matches if match not in found]
    return found


def check_rule_files(config: Config) -> None:
    """Raise :class:`~vigie.exceptions.RuleFileError` if a rule file is invalid or missing."""
    for path in rule_paths(config):
        load_rule_file(path)


class RuleEvaluation:
    """Runs the rule groups of the current configuration in a background thread."""

    def __init__(self, storage: Storage, external_url: str) -> None:
        self.external_url = external_url.rstrip("/")
        self.engine = Engine(storage)
        self.manager = RuleManager(
            storage,
            self._query,
            external_url=self.external_url,
            notify=self._notify,
        )
        self._forwarders: list[AlertmanagerForwarder] = []

    def apply(self, config: Config) -> None:
        """Load the config's rule files and Alertmanagers (all or nothing for the rules)."""
        settings = config.global_config
        self.manager.default_interval_ms = settings.evaluation_interval_ms
        self.manager.external_labels = dict(settings.external_labels)
        self.manager.load(rule_paths(config))
        old, self._forwarders = self._forwarders, []
        for manager in config.alerting.alertmanagers:
            urls = [
                f"{manager.scheme}://{target}"
                for group in manager.static_configs
                for target in group.targets
            ]
            if urls:
                prefix = manager.path_prefix.rstrip("/")
                forwarder = AlertmanagerForwarder(
                    urls, timeout=manager.timeout_ms / 1000, path_prefix=prefix
                )
                self._forwarders.append(forwarder)
        for forwarder in old:
            forwarder.close()

    def start(self) -> None:
        self.manager.start()

    def stop(self) -> None:
        self.manager.stop()
        for forwarder in self._forwarders:
            forwarder.close()
        self._forwarders = []

    def _query(self, expr: str, time_ms: int) -> InstantVector:
        """Rules get vectors; a scalar becomes one label-less sample, as Prometheus's
        ``EngineQueryFunc`` does."""
        result = self.engine.instant(expr, time_ms)
        if isinstance(result, InstantVector):
            return result
        if isinstance(result, Scalar):
            return InstantVector([Sample({}, result.timestamp_ms, result.value)])
        raise QueryError("rule result is not a vector or scalar")

    def _notify(self, expr: str, alerts: list[Alert]) -> None:
        if not self._forwarders:
            return
        generator = f"{self.external_url}/graph?g0.expr={quote(expr, safe='')}&g0.tab=1"
        outgoing = [_notifier_alert(alert, generator) for alert in alerts]
        for forwarder in self._forwarders:
            forwarder.send(outgoing)


def _notifier_alert(alert: Alert, generator_url: str) -> NotifierAlert:
    """A rule's alert as Alertmanager receives it (``startsAt``, ``endsAt``, labels...)."""
    ends = alert.resolved_at if alert.resolved_at is not None else alert.valid_until
    return NotifierAlert(
        labels=dict(alert.labels),
        annotations=dict(alert.annotations),
        starts_at=_time(alert.fired_at if alert.fired_at is not None else alert.active_at),
        ends_at=_time(ends) if ends is not None else ZERO_TIME,
        generator_url=generator_url,
    )


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
