"""The rule manager: loads rule files, runs their groups on schedule, serves the rules APIs.

It plays Prometheus's ``rules.Manager``: each group is evaluated at its aligned ticks (the first
one *after* start, missed ticks skipped, never replayed), alerting rules hand their due alerts to
a notify function, and after a restart the ``for`` state of pending alerts is restored from
``ALERTS_FOR_STATE`` once the group has run twice (the first run may see incomplete data).
:meth:`RuleManager.rules_data` and :meth:`RuleManager.alerts_data` build the ``data`` of
``/api/v1/rules`` and ``/api/v1/alerts`` exactly as Prometheus serves them.

The scheduler is driven by :meth:`RuleManager.run_pending` (give it the current time), so tests
step time by hand; :meth:`RuleManager.start` runs it in a background thread.

Example::

    >>> import pathlib, tempfile
    >>> from vigie.query.result import InstantVector, Sample
    >>> from vigie.store.memory import MemoryStorage
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.yml"
    >>> text = "groups:\\n- name: g\\n  rules:\\n  - alert: Always\\n    expr: vector(1)\\n"
    >>> _ = path.write_text(text)
    >>> query = lambda expr, t: InstantVector([Sample({}, t, 1.0)])
    >>> manager = RuleManager(MemoryStorage(), query, restore=False)
    >>> manager.load([path])
    >>> manager.run_pending(0); manager.run_pending(120_000)
    0
    1
    >>> [alert["state"] for alert in manager.alerts_data()["alerts"]]
    ['firing']
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigie.rules.alerting import Alert, AlertingRule, AlertState, QueryFunction
from vigie.rules.group import (
    DEFAULT_FOR_GRACE_PERIOD_MS,
    DEFAULT_INTERVAL_MS,
    DEFAULT_OUTAGE_TOLERANCE_MS,
    DEFAULT_RESEND_DELAY_MS,
    NotifyFunction,
    Rule,
    RuleGroup,
)
from vigie.rules.rule_file import load_rule_file
from vigie.store.interface import Storage

__all__ = ["RuleManager", "alert_json", "go_time_json", "go_value_json"]


def go_time_json(ms: int | None) -> str:
    """A Go ``time.Time`` as JSON (RFC 3339, trailing zeros of the fraction dropped)."""
    if ms is None:
        return "0001-01-01T00:00:00Z"
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = ms % 1000
    if fraction:
        text += f".{fraction:03d}".rstrip("0")
    return text + "Z"


def go_value_json(value: float) -> str:
    """``strconv.FormatFloat(v, 'e', -1, 64)``: how the API prints an alert's value."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    mantissa_text = f"{value:.17e}"
    # Shortest digits that round-trip, in exponent form.
    for precision in range(17):
        candidate = f"{value:.{precision}e}"
        if float(candidate) == value:
            mantissa_text = candidate
            break
    mantissa, exponent = mantissa_text.split("e")
    return f"{mantissa}e{exponent[0]}{int(exponent[1:]):02d}"


def alert_json(alert: Alert) -> dict[str, Any]:
    """One alert as ``/api/v1/alerts`` and ``/api/v1/rules`` show it."""
    data: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state.value,
        "activeAt": go_time_json(alert.active_at),
        "value": go_value_json(alert.value),
    }
    if alert.keep_firing_since is not None:
        data["keepFiringSince"] = go_time_json(alert.keep_firing_since)
    return data


class _Schedule:
    def __init__(self) -> None:
        self.next_ms: int | None = None
        self.runs = 0


class RuleManager:
    """Owns the rule groups of a set of files and evaluates them against a store."""

    def __init__(
        self,
        storage: Storage,
        query: QueryFunction,
        *,
        default_interval_ms: int = DEFAULT_INTERVAL_MS,
        default_query_offset_ms: int = 0,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        notify: NotifyFunction | None = None,
        resend_delay_ms: int = DEFAULT_RESEND_DELAY_MS,
        outage_tolerance_ms: int = DEFAULT_OUTAGE_TOLERANCE_MS,
        grace_period_ms: int = DEFAULT_FOR_GRACE_PERIOD_MS,
        restore: bool = True,
    ) -> None:
        self.storage = storage
        self.query = query
        self.default_interval_ms = default_interval_ms
        self.default_query_offset_ms = default_query_offset_ms
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        self.notify = notify
        self.resend_delay_ms = resend_delay_ms
        self.outage_tolerance_ms = outage_tolerance_ms
        self.grace_period_ms = grace_period_ms
        self.restore = restore
        self.groups: list[RuleGroup] = []
        self._schedules: dict[tuple[str, str], _Schedule] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------- loading

    def load(self, paths: Iterable[str | Path], *, now_ms: int | None = None) -> None:
        """(Re)load rule files; raises RuleFileError and keeps the old rules on a bad file.

        Groups that still exist (same file and name) keep their alerts; removed groups get
        staleness markers for the series they wrote.
        """
        files = [load_rule_file(path) for path in paths]
        groups = [
            RuleGroup(
                spec,
                default_interval_ms=self.default_interval_ms,
                default_query_offset_ms=self.default_query_offset_ms,
                external_labels=self.external_labels,
                external_url=self.external_url,
                restore=self.restore,
            )
            for rule_file in files
            for spec in rule_file.groups
        ]
        with self._lock:
            old = {group.key: group for group in self.groups}
            for group in groups:
                previous = old.pop(group.key, None)
                if previous is not None:
                    group.copy_state_from(previous)
                    group.should_restore = False
            stale_at = now_ms if now_ms is not None else int(time.time() * 1000)
            for removed in old.values():
                removed.mark_stale(stale_at, self.storage)
                self._schedules.pop(removed.key, None)
            self.groups = groups
            for group in groups:
                self._schedules.setdefault(group.key, _Schedule())

    # ----------------------------------------------------------------------- scheduling

    def run_pending(self, now_ms: int) -> int:
        """Evaluate every group whose tick is due at ``now_ms``; returns how many ran."""
        ran = 0
        with self._lock:
            for group in self.groups:
                schedule = self._schedules.setdefault(group.key, _Schedule())
                if schedule.next_ms is None:
                    schedule.next_ms = group.eval_timestamp(now_ms) + group.interval_ms
                if now_ms < schedule.next_ms:
                    continue
                missed = (now_ms - schedule.next_ms) // group.interval_ms
                ts = schedule.next_ms + missed * group.interval_ms
                group.evaluate(
                    ts,
                    self.query,
                    self.storage,
                    notify=self.notify,
                    resend_delay_ms=self.resend_delay_ms,
                )
                schedule.runs += 1
                schedule.next_ms = ts + group.interval_ms
                ran += 1
                if group.should_restore and schedule.runs >= 2:
                    group.restore_for_state(
                        now_ms,
                        self.storage.querier(),
                        outage_tolerance_ms=self.outage_tolerance_ms,
                        grace_period_ms=self.grace_period_ms,
                    )
        return ran

    def start(self, *, tick_seconds: float = 0.5) -> None:
        """Run :meth:`run_pending` in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(tick_seconds):
                self.run_pending(int(time.time() * 1000))

        self._thread = threading.Thread(target=loop, name="vigie-rules", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (waits for the current evaluation)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # ----------------------------------------------------------------------- reading

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts of every rule."""
        with self._lock:
            return [
                alert
                for group in self.groups
                for rule in group.alerting_rules()
                for alert in rule.active_alerts()
            ]

    def alerts_data(self) -> dict[str, Any]:
        """The ``data`` of ``GET /api/v1/alerts``."""
        return {"alerts": [alert_json(alert) for alert in self.alerts()]}

    def rules_data(
        self,
        *,
        rule_type: str | None = None,
        rule_names: Sequence[str] = (),
        group_names: Sequence[str] = (),
        files: Sequence[str] = (),
        exclude_alerts: bool = False,
    ) -> dict[str, Any]:
        """The ``data`` of ``GET /api/v1/rules`` (``type=alert|record``, ``rule_name[]``, ...)."""
        if rule_type not in (None, "", "alert", "record"):
            raise ValueError(f"unsupported type {rule_type!r}: expected alert or record")
        groups = []
        with self._lock:
            for group in self.groups:
                if group_names and group.name not in group_names:
                    continue
                if files and group.file not in files:
                    continue
                rules = [
                    _rule_json(rule, exclude_alerts)
                    for rule in group.rules
                    if (not rule_names or rule.name in rule_names)
                    and _type_matches(rule, rule_type)
                ]
                if (rule_type or rule_names) and not rules:
                    continue
                groups.append(
                    {
                        "name": group.name,
                        "file": group.file,
                        "rules": rules,
                        "interval": group.interval_ms / 1000,
                        "limit": group.limit,
                        "evaluationTime": group.evaluation_seconds,
                        "lastEvaluation": go_time_json(group.last_evaluation),
                    }
                )
        return {"groups": groups}


def _type_matches(rule: Rule, rule_type: str | None) -> bool:
    if not rule_type:
        return True
    return (rule_type == "alert") == isinstance(rule, AlertingRule)


def _rule_json(rule: Rule, exclude_alerts: bool) -> dict[str, Any]:
    common = {
        "health": rule.health.value,
        "evaluationTime": rule.evaluation_seconds,
        "lastEvaluation": go_time_json(rule.last_evaluation),
    }
    if rule.last_error:
        common["lastError"] = rule.last_error
    if isinstance(rule, AlertingRule):
        data: dict[str, Any] = {
            "state": rule.state.value,
            "name": rule.name,
            "query": rule.expr,
            "duration": rule.hold_ms / 1000,
            "keepFiringFor": rule.keep_firing_for_ms / 1000,
            "labels": dict(rule.labels),
            "annotations": dict(rule.annotations),
        }
        if not exclude_alerts:
            data["alerts"] = [
                alert_json(alert)
                for alert in rule.active.values()
                if alert.state != AlertState.INACTIVE
            ]
        return {**data, **common, "type": "alerting"}
    data = {"name": rule.name, "query": rule.expr}
    if rule.labels:
        data["labels"] = dict(rule.labels)
    return {**data, **common, "type": "recording"}
