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
import os
from collections.abc import Callable
from pathlib import Path

import yaml

from vigie.exceptions import QueryError
from vigie.notify.alert import Alert as NotifierAlert
from vigie.notify.forwarder import AlertmanagerForwarder
from vigie.notify.from_rules import notifier_alerts
from vigie.query import Engine, InstantVector, Sample, Scalar
from vigie.rules.alerting import Alert
from vigie.rules.manager import RuleManager
from vigie.rules.packs.ai import ai_pack_groups, render_ai_pack
from vigie.rules.rule_file import load_rule_file, parse_duration
from vigie.server.config_model import AIPackSettings, Config
from vigie.store.interface import Storage

__all__ = ["AI_PACK_FILE", "RuleEvaluation", "check_rule_files", "render_pack", "rule_paths"]

#: Where the enabled AI rule pack is rendered, under the data directory.
AI_PACK_FILE = "rule_packs/ai.rules.yml"

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


def render_pack(settings: AIPackSettings) -> str:
    """The AI pack's rule file text: time compressed by ``time_scale``, ``for`` scaled by
    ``for_scale``."""
    if settings.for_scale == 1:
        return render_ai_pack(settings.thresholds, time_scale=settings.time_scale)
    groups = ai_pack_groups(settings.thresholds, time_scale=settings.time_scale)
    for group in groups:
        for rule in group["rules"]:
            if "for" in rule:
                scaled = round(parse_duration(rule["for"]) * settings.for_scale)
                rule["for"] = f"{max(scaled, 1)}ms"
    header = f"# vigie AI rule pack, for durations scaled by {settings.for_scale}.\n"
    return header + yaml.safe_dump({"groups": groups}, sort_keys=False, width=100)


def _write_pack(data_dir: Path, settings: AIPackSettings) -> str:
    """Write the pack atomically (a reader never sees half a file); returns its path."""
    path = data_dir / AI_PACK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(render_pack(settings), encoding="utf-8")
    os.replace(temporary, path)
    return str(path)


class RuleEvaluation:
    """Runs the rule groups of the current configuration in a background thread.

    ``receive`` (vigie's own notification service) gets every due alert, converted as
    Prometheus sends them; the config's Alertmanagers get them too.
    """

    def __init__(
        self,
        storage: Storage,
        external_url: str,
        *,
        data_dir: Path | None = None,
        receive: Callable[[list[NotifierAlert]], None] | None = None,
    ) -> None:
        self.external_url = self._listen_url = external_url.rstrip("/")
        self.data_dir = data_dir
        self.receive = receive
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
        # Rules run under the same limits as API queries, as Prometheus's --query.* flags do.
        limits = config.vigie.query
        self.engine.lookback_delta_ms = limits.lookback_delta_ms
        self.engine.max_samples = limits.max_samples
        self.engine.timeout_s = limits.timeout_ms / 1000
        self.manager.default_interval_ms = settings.evaluation_interval_ms
        self.manager.external_labels = dict(settings.external_labels)
        self.external_url = config.vigie.alerting.external_url or self._listen_url
        self.manager.external_url = self.external_url
        paths = rule_paths(config)
        if config.vigie.ai_pack.enabled and self.data_dir is not None:
            paths.append(_write_pack(self.data_dir, config.vigie.ai_pack))
        self.manager.load(paths)
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
        if not self._forwarders and self.receive is None:
            return
        outgoing = notifier_alerts(
            expr, alerts, self.external_url, external_labels=self.manager.external_labels
        )
        if self.receive is not None:
            try:
                self.receive(outgoing)
            except Exception:  # the forwarders below must still get the alerts
                logger.exception("routing alerts in vigie failed")
        for forwarder in self._forwarders:
            forwarder.send(outgoing)
