"""Alerting rules: the alert state machine of Prometheus's ``rules/alerting.go``, step for step.

Each evaluation runs the rule's expression through a *query function* (not the engine: tests pass
a fake), and every resulting series is an alert identified by its labels. An alert is
``pending`` from its first evaluation, ``firing`` once it has been active for ``for``, and
``inactive`` (resolved) when its series disappears — unless ``keep_firing_for`` keeps it firing
a while longer. Resolved alerts stay in memory and are re-sent for 15 minutes
(:data:`RESOLVED_RETENTION_MS`) so a lost "resolved" notification is retried. Labels and
annotations are templates (:mod:`.templating`) expanded per alert with ``$labels`` and ``$value``.
Each evaluation returns the synthetic ``ALERTS`` and ``ALERTS_FOR_STATE`` samples for the store.

All times are integer milliseconds since the epoch; ``None`` means "never" (Go's zero time).

Example::

    >>> from vigie.query.result import InstantVector, Sample
    >>> from vigie.rules.rule_file import AlertingRuleSpec
    >>> rule = AlertingRule(AlertingRuleSpec("Down", "up == 0", for_ms=60_000))
    >>> down = lambda expr, t: InstantVector([Sample({"job": "api"}, t, 0.0)])
    >>> _ = rule.evaluate(0, down)
    >>> rule.active_alerts()[0].state
    <AlertState.PENDING: 'pending'>
    >>> _ = rule.evaluate(60_000, down)
    >>> rule.active_alerts()[0].state
    <AlertState.FIRING: 'firing'>
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from vigie.exceptions import QueryError, VigieError
from vigie.query.result import InstantVector, Sample
from vigie.rules.rule_file import AlertingRuleSpec
from vigie.rules.template_functions import TemplateFunctionError, TemplateSample
from vigie.rules.templating import AlertData, expand_alert_template
from vigie.store.interface import LabelPairs, Matcher, Querier, is_stale, label_pairs

__all__ = [
    "ALERTS_FOR_STATE_METRIC",
    "ALERTS_METRIC",
    "RESOLVED_RETENTION_MS",
    "Alert",
    "AlertState",
    "AlertingRule",
    "QueryFunction",
    "RuleHealth",
]

#: ``(expr, timestamp_ms) -> InstantVector``; scalars come back as one sample without labels.
QueryFunction = Callable[[str, int], InstantVector]

ALERTS_METRIC = "ALERTS"
ALERTS_FOR_STATE_METRIC = "ALERTS_FOR_STATE"
#: How long a resolved alert is kept and re-sent (Prometheus's ``resolvedRetention``).
RESOLVED_RETENTION_MS = 15 * 60_000


class AlertState(enum.Enum):
    """Prometheus's alert states, ordered: ``inactive < pending < firing``."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"

    @property
    def rank(self) -> int:
        return ("inactive", "pending", "firing").index(self.value)


class RuleHealth(enum.Enum):
    """A rule's health in ``/api/v1/rules``: ``unknown`` until its first evaluation."""

    UNKNOWN = "unknown"
    OK = "ok"
    ERR = "err"


@dataclass
class Alert:
    """One alert of a rule: what the API shows and the notifier sends.

    ``starts_at`` / ``ends_at`` are what Alertmanager receives: the firing time, and the resolve
    time or (while firing) ``valid_until``, after which Alertmanager resolves it by itself.
    """

    labels: dict[str, str]
    annotations: dict[str, str]
    state: AlertState
    value: float
    active_at: int
    fired_at: int | None = None
    resolved_at: int | None = None
    last_sent_at: int | None = None
    valid_until: int | None = None
    keep_firing_since: int | None = None

    def needs_sending(self, now_ms: int, resend_delay_ms: int) -> bool:
        """Firing or resolved, and not sent for ``resend_delay_ms`` or resolved since last sent."""
        if self.state == AlertState.PENDING:
            return False
        if self.resolved_at is not None and (
            self.last_sent_at is None or self.resolved_at > self.last_sent_at
        ):
            return True
        return self.last_sent_at is None or self.last_sent_at + resend_delay_ms < now_ms

    @property
    def starts_at(self) -> int:
        return self.fired_at if self.fired_at is not None else self.active_at

    @property
    def ends_at(self) -> int | None:
        return self.resolved_at if self.resolved_at is not None else self.valid_until


def _set_label(labels: dict[str, str], name: str, value: str) -> None:
    # An empty value removes the label, as labels.Builder.Set does.
    if value == "":
        labels.pop(name, None)
    else:
        labels[name] = value


class AlertingRule:
    """An ``alert:`` rule and its alerts; :meth:`evaluate` advances the state machine."""

    kind = "alerting"

    def __init__(
        self,
        spec: AlertingRuleSpec,
        *,
        group_labels: Mapping[str, str] | None = None,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
        restored: bool = True,
    ) -> None:
        self.spec = spec
        self.name = spec.alert
        self.expr = spec.expr
        self.hold_ms = spec.for_ms
        self.keep_firing_for_ms = spec.keep_firing_for_ms
        # Group labels are the base; the rule's own labels override them.
        self.labels: dict[str, str] = {**(group_labels or {}), **spec.labels}
        self.annotations = dict(spec.annotations)
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        #: False until "for" state was restored after a restart: no ALERTS series meanwhile.
        self.restored = restored
        self.active: dict[LabelPairs, Alert] = {}
        self.health = RuleHealth.UNKNOWN
        self.last_error: str = ""
        self.last_evaluation: int | None = None
        self.evaluation_seconds = 0.0

    # ----------------------------------------------------------------------- evaluation

    def _expand(self, text: str, data: AlertData, ts_ms: int, query: QueryFunction) -> str:
        def template_query(expr: str) -> list[TemplateSample]:
            try:
                result = query(expr, ts_ms)
            except VigieError as error:
                raise TemplateFunctionError(str(error)) from None
            return [TemplateSample(dict(sample.labels), sample.value) for sample in result.samples]

        return expand_alert_template(
            text,
            alert_name=self.name,
            data=data,
            query=template_query,
            external_url=self.external_url,
        )

    def evaluate(
        self, ts_ms: int, query: QueryFunction, *, query_offset_ms: int = 0, limit: int = 0
    ) -> list[Sample]:
        """One evaluation at ``ts_ms``; returns the ALERTS / ALERTS_FOR_STATE samples to store.

        Raises :class:`~vigie.exceptions.QueryError` when the query fails, when two results get
        the same labels, or when more than ``limit`` alerts are active (then all are dropped).
        """
        started = time.perf_counter()
        self.last_evaluation = ts_ms
        try:
            return self._evaluate(ts_ms, query, query_offset_ms, limit)
        except VigieError as error:
            self.health = RuleHealth.ERR
            self.last_error = str(error)
            raise
        finally:
            self.evaluation_seconds = time.perf_counter() - started

    def _evaluate(
        self, ts_ms: int, query: QueryFunction, query_offset_ms: int, limit: int
    ) -> list[Sample]:
        result = query(self.expr, ts_ms - query_offset_ms)
        current: dict[LabelPairs, Alert] = {}
        for sample in result.samples:
            data = AlertData(
                labels=dict(sample.labels),
                value=sample.value,
                external_labels=self.external_labels,
                external_url=self.external_url,
            )
            labels = {k: v for k, v in sample.labels.items() if k != "__name__"}
            for name, text in self.labels.items():
                _set_label(labels, name, self._expand(text, data, ts_ms, query))
            labels["alertname"] = self.name
            annotations: dict[str, str] = {}
            for name, text in self.annotations.items():
                _set_label(annotations, name, self._expand(text, data, ts_ms, query))
            key = label_pairs(labels)
            if key in current:
                raise QueryError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            current[key] = Alert(labels, annotations, AlertState.PENDING, sample.value, ts_ms)

        for key, fresh in current.items():
            known = self.active.get(key)
            if known is not None and known.state != AlertState.INACTIVE:
                known.value = fresh.value
                known.annotations = fresh.annotations
                continue
            self.active[key] = fresh

        output: list[Sample] = []
        active_count = 0
        for key, alert in list(self.active.items()):
            if key not in current:
                keep_firing = False
                if alert.state == AlertState.FIRING and self.keep_firing_for_ms > 0:
                    if alert.keep_firing_since is None:
                        alert.keep_firing_since = ts_ms
                    keep_firing = ts_ms - alert.keep_firing_since < self.keep_firing_for_ms
                # Pending alerts vanish; resolved ones are kept for the retention period.
                if alert.state == AlertState.PENDING or (
                    alert.resolved_at is not None
                    and ts_ms - alert.resolved_at > RESOLVED_RETENTION_MS
                ):
                    del self.active[key]
                if alert.state != AlertState.INACTIVE and not keep_firing:
                    alert.state = AlertState.INACTIVE
                    alert.resolved_at = ts_ms
                if not keep_firing:
                    continue
            else:
                alert.keep_firing_since = None
            active_count += 1
            if alert.state == AlertState.PENDING and ts_ms - alert.active_at >= self.hold_ms:
                alert.state = AlertState.FIRING
                alert.fired_at = ts_ms
            if self.restored:
                output.append(self.alerts_sample(alert, ts_ms - query_offset_ms))
                output.append(
                    self.for_state_sample(
                        alert, ts_ms - query_offset_ms, float(alert.active_at // 1000)
                    )
                )
        if 0 < limit < active_count:
            self.active = {}
            raise QueryError(f"exceeded limit of {limit} with {active_count} alerts")
        self.health = RuleHealth.OK
        self.last_error = ""
        return output

    def alerts_sample(self, alert: Alert, ts_ms: int) -> Sample:
        """The ``ALERTS{alertname, alertstate, ...}`` sample of one alert (value 1)."""
        labels = {**self.labels, **alert.labels}
        labels.update(__name__=ALERTS_METRIC, alertname=self.name, alertstate=alert.state.value)
        return Sample(labels, ts_ms, 1.0)

    def for_state_sample(self, alert: Alert, ts_ms: int, value: float) -> Sample:
        """The ``ALERTS_FOR_STATE`` sample: its value is ``active_at`` in Unix seconds."""
        labels = {**self.labels, **alert.labels}
        labels.update(__name__=ALERTS_FOR_STATE_METRIC, alertname=self.name)
        return Sample(labels, ts_ms, value)

    # ----------------------------------------------------------------------- reading state

    def active_alerts(self) -> list[Alert]:
        """Pending and firing alerts (resolved ones kept for re-sending are left out)."""
        return [a for a in self.active.values() if a.state != AlertState.INACTIVE]

    @property
    def state(self) -> AlertState:
        """The highest state among the rule's alerts (``inactive`` when none)."""
        states = [alert.state for alert in self.active.values()]
        return max(states, key=lambda state: state.rank, default=AlertState.INACTIVE)

    def alerts_to_send(self, ts_ms: int, resend_delay_ms: int, interval_ms: int) -> list[Alert]:
        """Firing and recently resolved alerts due for (re-)sending; marks them sent.

        ``valid_until`` allows for two missed evaluations or sends before Alertmanager would
        resolve the alert by itself (4 × max(resend delay, interval)).
        """
        due: list[Alert] = []
        for alert in self.active.values():
            if alert.needs_sending(ts_ms, resend_delay_ms):
                alert.last_sent_at = ts_ms
                alert.valid_until = ts_ms + 4 * max(resend_delay_ms, interval_ms)
                due.append(replace(alert, labels=dict(alert.labels)))
        return due

    # ----------------------------------------------------------------------- restore

    def restore_for_state(
        self, ts_ms: int, querier: Querier, *, outage_tolerance_ms: int, grace_period_ms: int
    ) -> None:
        """Restore each active alert's ``active_at`` from ``ALERTS_FOR_STATE`` after a restart.

        As Prometheus's ``RestoreForState``: an alert that was firing when vigie stopped fires
        again at the next evaluation; one that was pending resumes, its pending time extended by
        the downtime, but never fires sooner than ``grace_period_ms`` from now.
        """
        if self.hold_ms < grace_period_ms:
            self.restored = True
            return
        for alert in self.active.values():
            wanted = self.for_state_sample(alert, ts_ms, 0.0).labels
            matchers = [Matcher(name, "=", value) for name, value in wanted.items()]
            found = [
                series
                for series in querier.select(matchers, ts_ms - outage_tolerance_ms, ts_ms)
                if len(series.labels) == len(wanted)
            ]
            if not found or len(found[0].timestamps) == 0:
                continue
            last_t = int(found[0].timestamps[-1])
            last_v = float(found[0].values[-1])
            if is_stale(last_v) or math.isnan(last_v):
                continue
            down_at = (last_t // 1000) * 1000
            restored_active_at = int(last_v) * 1000
            remaining = self.hold_ms - (down_at - restored_active_at)
            if remaining <= 0:
                pass  # it was firing: the next evaluation fires it again
            elif remaining < grace_period_ms:
                restored_active_at = ts_ms + grace_period_ms - self.hold_ms
            else:
                restored_active_at += ts_ms - down_at
            alert.active_at = restored_active_at
        self.restored = True
