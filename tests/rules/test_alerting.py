"""The alert state machine behaves exactly as Prometheus's rules/alerting.go."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vigie.exceptions import QueryError
from vigie.query.result import InstantVector, Sample
from vigie.rules.alerting import (
    RESOLVED_RETENTION_MS,
    AlertingRule,
    AlertState,
    RuleHealth,
)
from vigie.rules.rule_file import AlertingRuleSpec
from vigie.store.interface import STALE_NAN
from vigie.store.memory import MemoryStorage

MINUTE = 60_000
SERIES = {"__name__": "up", "job": "api", "instance": "a:1"}


class FakeQuery:
    """A query function whose result is set by the test; records the times it was asked."""

    def __init__(self) -> None:
        self.samples: list[tuple[dict[str, str], float]] = []
        self.calls: list[tuple[str, int]] = []

    def __call__(self, expr: str, ts_ms: int) -> InstantVector:
        self.calls.append((expr, ts_ms))
        return InstantVector([Sample(dict(labels), ts_ms, value) for labels, value in self.samples])


def rule_with(**fields: object) -> AlertingRule:
    spec = AlertingRuleSpec(**{"alert": "Down", "expr": "up == 0", **fields})  # type: ignore[arg-type]
    return AlertingRule(spec)


def states(rule: AlertingRule) -> list[str]:
    return [alert.state.value for alert in rule.active.values()]


def run(
    rule: AlertingRule, query: FakeQuery, minutes: list[int], present: Callable[[int], bool]
) -> None:
    for minute in minutes:
        query.samples = [(SERIES, 0.0)] if present(minute) else []
        rule.evaluate(minute * MINUTE, query)


def test_pending_then_firing_after_for() -> None:
    """An alert is pending from its first evaluation and fires once active for `for`."""
    rule, query = rule_with(for_ms=5 * MINUTE), FakeQuery()
    query.samples = [(SERIES, 0.0)]
    for minute in range(5):
        rule.evaluate(minute * MINUTE, query)
        assert states(rule) == ["pending"], minute
    rule.evaluate(5 * MINUTE, query)
    (alert,) = rule.active_alerts()
    assert alert.state == AlertState.FIRING
    assert (alert.active_at, alert.fired_at, alert.resolved_at) == (0, 5 * MINUTE, None)
    assert alert.labels == {"alertname": "Down", "job": "api", "instance": "a:1"}
    assert rule.state == AlertState.FIRING
    assert rule.health == RuleHealth.OK


def test_zero_for_fires_at_once() -> None:
    """Without `for`, an alert fires at its first evaluation."""
    rule, query = rule_with(), FakeQuery()
    query.samples = [(SERIES, 0.0)]
    rule.evaluate(0, query)
    assert states(rule) == ["firing"]


def test_pending_alert_that_vanishes_is_forgotten() -> None:
    """A pending alert whose series disappears is dropped, not resolved."""
    rule, query = rule_with(for_ms=5 * MINUTE), FakeQuery()
    run(rule, query, [0, 1, 2], lambda minute: minute < 2)
    assert rule.active == {}
    assert rule.state == AlertState.INACTIVE


def test_resolved_alert_is_kept_for_retention() -> None:
    """A resolved alert stays (inactive) for 15 minutes after resolution, then is deleted."""
    rule, query = rule_with(for_ms=MINUTE), FakeQuery()
    run(rule, query, [0, 1, 2], lambda minute: minute < 2)
    (alert,) = rule.active.values()
    assert alert.state == AlertState.INACTIVE
    assert (alert.fired_at, alert.resolved_at) == (MINUTE, 2 * MINUTE)
    assert rule.active_alerts() == []
    assert RESOLVED_RETENTION_MS == 15 * MINUTE
    run(rule, query, [17], lambda minute: False)  # 15 minutes after: not yet more than 15
    assert len(rule.active) == 1
    run(rule, query, [18], lambda minute: False)
    assert rule.active == {}


def test_resolved_alert_that_returns_starts_over() -> None:
    """An alert that comes back after resolution is a new pending alert."""
    rule, query = rule_with(for_ms=2 * MINUTE), FakeQuery()
    run(rule, query, [0, 1, 2, 3, 4], lambda minute: minute != 3)
    (alert,) = rule.active.values()
    assert alert.state == AlertState.PENDING
    assert alert.active_at == 4 * MINUTE
    assert alert.resolved_at is None


def test_keep_firing_for() -> None:
    """A firing alert whose series vanished keeps firing for keep_firing_for, then resolves."""
    rule, query = rule_with(keep_firing_for_ms=3 * MINUTE), FakeQuery()
    run(rule, query, [0], lambda minute: True)
    run(rule, query, [1, 2, 3], lambda minute: False)
    (alert,) = rule.active.values()
    assert alert.state == AlertState.FIRING
    assert alert.keep_firing_since == MINUTE
    run(rule, query, [4], lambda minute: False)  # 4 - 1 = 3 minutes: no longer < 3
    assert alert.state == AlertState.INACTIVE
    assert alert.resolved_at == 4 * MINUTE


def test_keep_firing_for_resets_when_series_returns() -> None:
    """The keep-firing clock restarts when the series comes back."""
    rule, query = rule_with(keep_firing_for_ms=2 * MINUTE), FakeQuery()
    run(rule, query, [0, 1, 2, 3, 4], lambda minute: minute in (0, 2))
    (alert,) = rule.active.values()
    assert alert.state == AlertState.FIRING
    assert alert.keep_firing_since == 3 * MINUTE
    run(rule, query, [5], lambda minute: False)
    assert alert.state == AlertState.INACTIVE


def test_keep_firing_for_does_not_apply_to_pending() -> None:
    """keep_firing_for only holds alerts that were firing."""
    rule, query = rule_with(for_ms=5 * MINUTE, keep_firing_for_ms=10 * MINUTE), FakeQuery()
    run(rule, query, [0, 1], lambda minute: minute == 0)
    assert rule.active == {}


def test_labels_and_annotations_are_templated() -> None:
    """Labels and annotations expand per alert; the value and annotations follow each eval."""
    rule = rule_with(
        labels={"severity": "{{ if gt $value 0.5 }}critical{{ else }}warning{{ end }}", "gone": ""},
        annotations={
            "summary": "{{ $labels.job }} at {{ $value | humanizePercentage }}",
            "where": "{{ $externalLabels.region }}",
        },
    )
    rule.external_labels = {"region": "eu"}
    query = FakeQuery()
    query.samples = [({**SERIES, "gone": "x"}, 0.3)]
    rule.evaluate(0, query)
    (alert,) = rule.active.values()
    assert alert.labels == {
        "alertname": "Down",
        "job": "api",
        "instance": "a:1",
        "severity": "warning",
    }
    assert alert.annotations == {"summary": "api at 30%", "where": "eu"}
    query.samples = [({**SERIES, "gone": "x"}, 0.4)]
    rule.evaluate(MINUTE, query)
    assert alert.value == 0.4
    assert alert.annotations["summary"] == "api at 40%"


def test_template_query_function_uses_the_rule_query() -> None:
    """`query` in a template runs through the rule's query function at the evaluation time."""
    rule = rule_with(annotations={"n": '{{ query "count(up)" | first | value }}'})
    query = FakeQuery()
    query.samples = [(SERIES, 7.0)]
    rule.evaluate(3 * MINUTE, query)
    assert next(iter(rule.active.values())).annotations == {"n": "7"}
    assert query.calls == [("up == 0", 3 * MINUTE), ("count(up)", 3 * MINUTE)]


def test_failing_template_query_is_reported_in_the_annotation() -> None:
    """A template query that fails becomes an inline error; the alert still fires."""
    rule = rule_with(annotations={"n": '{{ query "sum(" }}'})
    query = FakeQuery()
    query.samples = [(SERIES, 7.0)]

    def failing(expr: str, ts_ms: int) -> InstantVector:
        if expr == "sum(":
            raise QueryError("bad query")
        return query(expr, ts_ms)

    rule.evaluate(0, failing)
    (alert,) = rule.active.values()
    assert alert.state == AlertState.FIRING
    assert alert.annotations["n"] == (
        "<error expanding template: error executing template __alert_Down: template: "
        '__alert_Down:1:115: executing "__alert_Down" at <query "sum(">: '
        "error calling query: bad query>"
    )


def test_same_labelset_after_templating_is_an_error() -> None:
    """Two results with the same labels once __name__ is dropped fail the evaluation."""
    rule, query = rule_with(), FakeQuery()
    query.samples = [({"__name__": "a", "job": "x"}, 1.0), ({"__name__": "b", "job": "x"}, 1.0)]
    with pytest.raises(QueryError, match="same labelset after applying alert labels"):
        rule.evaluate(0, query)
    assert rule.health == RuleHealth.ERR
    assert "same labelset" in rule.last_error


def test_limit_drops_every_alert() -> None:
    """More active alerts than the group limit: error, and the rule's alerts are cleared."""
    rule, query = rule_with(), FakeQuery()
    query.samples = [({"job": str(i)}, 1.0) for i in range(3)]
    rule.evaluate(0, query, limit=3)
    assert len(rule.active) == 3
    with pytest.raises(QueryError, match="exceeded limit of 2 with 3 alerts"):
        rule.evaluate(MINUTE, query, limit=2)
    assert rule.active == {}


def test_alerts_series_for_the_store() -> None:
    """Each active alert yields ALERTS (value 1) and ALERTS_FOR_STATE (active_at seconds)."""
    spec = AlertingRuleSpec("Down", "up == 0", for_ms=MINUTE, labels={"severity": "page"})
    rule = AlertingRule(spec, group_labels={"team": "a"})
    query = FakeQuery()
    query.samples = [(SERIES, 0.0)]
    first = rule.evaluate(30_000, query, query_offset_ms=10_000)
    assert query.calls[0] == ("up == 0", 20_000)
    expected_labels = {
        "alertname": "Down",
        "job": "api",
        "instance": "a:1",
        "severity": "page",
        "team": "a",
    }
    assert [(s.labels, s.timestamp_ms, s.value) for s in first] == [
        ({**expected_labels, "__name__": "ALERTS", "alertstate": "pending"}, 20_000, 1.0),
        ({**expected_labels, "__name__": "ALERTS_FOR_STATE"}, 20_000, 30.0),
    ]
    second = rule.evaluate(90_000, query, query_offset_ms=10_000)
    assert second[0].labels["alertstate"] == "firing"
    assert second[1].value == 30.0


def test_not_restored_rule_writes_no_series() -> None:
    """Until its `for` state is restored, a rule writes no ALERTS series."""
    rule = AlertingRule(AlertingRuleSpec("Down", "up == 0"), restored=False)
    query = FakeQuery()
    query.samples = [(SERIES, 0.0)]
    assert rule.evaluate(0, query) == []
    assert states(rule) == ["firing"]


def test_alerts_to_send_resend_and_resolved() -> None:
    """Firing alerts are sent, re-sent after the resend delay; resolved ones sent at once."""
    rule, query = rule_with(for_ms=MINUTE), FakeQuery()
    query.samples = [(SERIES, 0.0)]
    rule.evaluate(0, query)
    assert rule.alerts_to_send(0, MINUTE, MINUTE) == []  # pending: never sent
    rule.evaluate(MINUTE, query)
    (sent,) = rule.alerts_to_send(MINUTE, MINUTE, MINUTE)
    assert sent.state == AlertState.FIRING
    assert sent.valid_until == MINUTE + 4 * MINUTE
    assert sent.starts_at == MINUTE
    assert sent.ends_at == 5 * MINUTE
    assert rule.alerts_to_send(2 * MINUTE, MINUTE, MINUTE) == []  # 1m + 1m is not before 2m
    assert len(rule.alerts_to_send(2 * MINUTE + 1, MINUTE, 30_000)) == 1
    query.samples = []
    rule.evaluate(3 * MINUTE, query)
    (resolved,) = rule.alerts_to_send(3 * MINUTE, MINUTE, MINUTE)
    assert resolved.state == AlertState.INACTIVE
    assert resolved.ends_at == 3 * MINUTE
    assert rule.alerts_to_send(3 * MINUTE + 30_000, MINUTE, MINUTE) == []
    assert len(rule.alerts_to_send(4 * MINUTE + 1, MINUTE, MINUTE)) == 1  # re-sent while kept


def _store_for_state(points: list[tuple[int, float]]) -> MemoryStorage:
    storage = MemoryStorage()
    appender = storage.appender()
    labels = {"__name__": "ALERTS_FOR_STATE", "alertname": "Down", "job": "api", "instance": "a:1"}
    for ts, value in points:
        appender.append(labels, ts, value)
    appender.commit()
    return storage


def _restored_rule(hold_minutes: int, storage: MemoryStorage, now_ms: int) -> AlertingRule:
    rule = AlertingRule(
        AlertingRuleSpec("Down", "up == 0", for_ms=hold_minutes * MINUTE), restored=False
    )
    query = FakeQuery()
    query.samples = [(SERIES, 0.0)]
    rule.evaluate(now_ms, query)
    rule.restore_for_state(
        now_ms, storage.querier(), outage_tolerance_ms=60 * MINUTE, grace_period_ms=10 * MINUTE
    )
    assert rule.restored
    return rule


def test_restore_pending_alert_extends_by_downtime() -> None:
    """A pending alert resumes: its active_at moves forward by the downtime."""
    # Active since minute 0, last written at minute 5 (down), restarted at minute 20.
    storage = _store_for_state([(m * MINUTE, 0.0) for m in range(6)])
    rule = _restored_rule(30, storage, 20 * MINUTE)
    (alert,) = rule.active.values()
    assert alert.active_at == 15 * MINUTE  # 0 + (20 - 5): still 25 minutes to go


def test_restore_firing_alert_keeps_active_at() -> None:
    """An alert that was already firing keeps its old active_at and fires at once."""
    storage = _store_for_state([(m * MINUTE, 0.0) for m in range(31)])
    rule = _restored_rule(20, storage, 40 * MINUTE)
    (alert,) = rule.active.values()
    assert alert.active_at == 0
    query = FakeQuery()
    query.samples = [(SERIES, 0.0)]
    rule.evaluate(41 * MINUTE, query)
    assert alert.state == AlertState.FIRING


def test_restore_within_grace_period() -> None:
    """Close to firing when it went down: it fires no sooner than the grace period."""
    storage = _store_for_state([(m * MINUTE, 0.0) for m in range(26)])  # 5 minutes left
    rule = _restored_rule(30, storage, 40 * MINUTE)
    (alert,) = rule.active.values()
    assert alert.active_at == 40 * MINUTE + 10 * MINUTE - 30 * MINUTE


def test_restore_skipped_cases() -> None:
    """Short `for`, a stale last sample, or data older than the outage tolerance: no restore."""
    storage = _store_for_state([(m * MINUTE, 0.0) for m in range(6)])
    short = _restored_rule(5, storage, 20 * MINUTE)
    assert next(iter(short.active.values())).active_at == 20 * MINUTE
    stale = _store_for_state([(0, 0.0), (MINUTE, STALE_NAN)])
    rule = _restored_rule(30, stale, 20 * MINUTE)
    assert next(iter(rule.active.values())).active_at == 20 * MINUTE
    old = _store_for_state([(0, 0.0)])
    rule = _restored_rule(30, old, 90 * MINUTE)
    assert next(iter(rule.active.values())).active_at == 90 * MINUTE
