"""The rule manager: schedule, restore after restart, and the /api/v1 rules and alerts data."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.exceptions import RuleFileError
from vigie.query.engine import Engine
from vigie.rules.alerting import Alert
from vigie.rules.manager import RuleManager, go_time_json, go_value_json
from vigie.rules.unit_test import vector_query
from vigie.store.memory import MemoryStorage

MINUTE = 60_000
RULES = """\
groups:
  - name: availability
    interval: 1m
    rules:
      - record: job:up:min
        expr: min by (job) (up)
      - alert: JobDown
        expr: job:up:min == 0
        for: 2m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} is down"
"""


def _setup(tmp_path: Path, *, restore: bool = False) -> tuple[RuleManager, MemoryStorage, Path]:
    storage = MemoryStorage()
    appender = storage.appender()
    for minute in range(0, 30):
        appender.append({"__name__": "up", "job": "api"}, minute * MINUTE, 0.0)
    appender.commit()
    path = tmp_path / "rules.yml"
    path.write_text(RULES)
    manager = RuleManager(storage, vector_query(Engine(storage).instant), restore=restore)
    manager.load([path])
    return manager, storage, path


def test_schedule_first_tick_after_start_and_skips_missed(tmp_path: Path) -> None:
    """The first evaluation is at the next aligned tick; missed ticks are skipped, not replayed."""
    manager, _, _ = _setup(tmp_path)
    (group,) = manager.groups
    start = 10 * MINUTE
    assert manager.run_pending(start) == 0
    first = group.eval_timestamp(start) + MINUTE
    assert manager.run_pending(first - 1) == 0
    assert manager.run_pending(first) == 1
    assert group.last_evaluation == first
    assert manager.run_pending(first + 5 * MINUTE + 10) == 1  # 5 ticks late: one evaluation
    assert group.last_evaluation == first + 5 * MINUTE


def test_alerts_and_rules_data(tmp_path: Path) -> None:
    """/api/v1/alerts and /api/v1/rules data have Prometheus's shape and values."""
    manager, _, path = _setup(tmp_path)
    (group,) = manager.groups
    tick = group.eval_timestamp(10 * MINUTE)
    for step in range(4):
        group.evaluate(tick + step * MINUTE, manager.query, manager.storage)
    alerts = manager.alerts_data()
    assert alerts == {
        "alerts": [
            {
                "labels": {"alertname": "JobDown", "job": "api", "severity": "page"},
                "annotations": {"summary": "api is down"},
                "state": "firing",
                "activeAt": go_time_json(tick),
                "value": "0e+00",
            }
        ]
    }
    data = manager.rules_data()
    (group_data,) = data["groups"]
    assert group_data["name"] == "availability"
    assert group_data["file"] == str(path)
    assert group_data["interval"] == 60
    assert group_data["limit"] == 0
    assert group_data["lastEvaluation"] == go_time_json(tick + 3 * MINUTE)
    recording, alerting = group_data["rules"]
    assert recording == {
        "name": "job:up:min",
        "query": "min by (job) (up)",
        "health": "ok",
        "evaluationTime": recording["evaluationTime"],
        "lastEvaluation": go_time_json(tick + 3 * MINUTE),
        "type": "recording",
    }
    assert alerting["state"] == "firing"
    assert alerting["type"] == "alerting"
    assert alerting["duration"] == 120
    assert alerting["keepFiringFor"] == 0
    assert alerting["labels"] == {"severity": "page"}
    assert alerting["annotations"] == {"summary": "{{ $labels.job }} is down"}
    assert alerting["alerts"] == alerts["alerts"]
    assert alerting["health"] == "ok"
    assert "lastError" not in alerting
    only_alerts = manager.rules_data(rule_type="alert", exclude_alerts=True)
    (only,) = only_alerts["groups"][0]["rules"]
    assert only["name"] == "JobDown"
    assert "alerts" not in only
    assert manager.rules_data(rule_names=["nope"]) == {"groups": []}
    assert manager.rules_data(group_names=["other"]) == {"groups": []}
    with pytest.raises(ValueError, match="unsupported type"):
        manager.rules_data(rule_type="bogus")


def test_json_formats() -> None:
    """Times and values are formatted as Go's JSON and strconv do."""
    assert go_time_json(None) == "0001-01-01T00:00:00Z"
    assert go_time_json(0) == "1970-01-01T00:00:00Z"
    assert go_time_json(1_700_000_000_120) == "2023-11-14T22:13:20.12Z"
    assert [go_value_json(v) for v in (1.0, 0.0, 1.5, 1234567.0, 1e-7, float("inf"))] == [
        "1e+00", "0e+00", "1.5e+00", "1.234567e+06", "1e-07", "+Inf",
    ]  # fmt: skip


def test_restore_after_restart(tmp_path: Path) -> None:
    """A restarted manager restores `for` state from ALERTS_FOR_STATE after two evaluations."""
    storage = MemoryStorage()
    appender = storage.appender()
    for minute in range(0, 60):
        appender.append({"__name__": "up", "job": "api"}, minute * MINUTE, 0.0)
    labels = {"__name__": "ALERTS_FOR_STATE", "alertname": "Slow", "job": "api"}
    for minute in range(0, 11):  # pending since 0, down at minute 10
        appender.append(labels, minute * MINUTE, 0.0)
    appender.commit()
    path = tmp_path / "slow.yml"
    path.write_text(
        "groups:\n- name: g\n  rules:\n  - alert: Slow\n"
        "    expr: up{job='api'} == 0\n    for: 30m\n"
    )
    manager = RuleManager(storage, vector_query(Engine(storage).instant))
    manager.load([path])
    (group,) = manager.groups
    first = group.eval_timestamp(20 * MINUTE) + MINUTE
    manager.run_pending(20 * MINUTE)
    manager.run_pending(first)
    assert group.should_restore
    manager.run_pending(first + MINUTE)
    assert not group.should_restore
    (alert,) = manager.alerts()
    now = first + MINUTE
    assert alert.active_at == now - 10 * MINUTE  # 0 + (now - downAt at minute 10)


def test_notify_and_reload(tmp_path: Path) -> None:
    """Due alerts go to the notify function; a bad reload keeps the old rules."""
    sent: list[list[Alert]] = []
    manager, _, path = _setup(tmp_path)
    manager.notify = lambda expr, alerts: sent.append(alerts)
    (group,) = manager.groups
    tick = group.eval_timestamp(10 * MINUTE) + MINUTE
    for step in range(6):  # evaluations at +1m..+5m: fires at +3m, re-sent at +5m
        manager.run_pending(tick + step * MINUTE)
    assert [alert.state.value for batch in sent for alert in batch] == ["firing", "firing"]
    assert [alert.last_sent_at for batch in sent for alert in batch] == [
        tick + 3 * MINUTE,
        tick + 5 * MINUTE,
    ]
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - record: x\n    expr: 'up +'\n")
    with pytest.raises(RuleFileError):
        manager.load([bad])
    assert manager.groups == [group]
    manager.load([path])  # same group: state kept
    assert manager.alerts()[0].state.value == "firing"
    manager.load([], now_ms=tick + 10 * MINUTE)
    assert manager.groups == []
    assert manager.alerts() == []


def test_background_thread_starts_and_stops(tmp_path: Path) -> None:
    """start() runs the scheduler in a thread; stop() joins it."""
    manager, _, _ = _setup(tmp_path)
    manager.start(tick_seconds=0.01)
    manager.stop()
    assert manager._thread is None
