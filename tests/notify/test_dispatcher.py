"""Grouping, timing and muting of notifications under simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.notify.alert import Alert
from vigie.notify.config import parse_routing_config
from vigie.notify.dispatcher import Dispatcher, Notification

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


def _config(extra: str = "", webhook: str = "") -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
{extra}
receivers:
  - name: hook
    webhook_configs: [{{url: "http://127.0.0.1:1/hook"{webhook}}}]
"""


def _alert(name: str, at: datetime, *, ends: datetime | None = None, **labels: str) -> Alert:
    return Alert(
        labels={"alertname": name, **labels},
        annotations={"summary": "s", "runbook_url": "http://runbooks/x"},
        starts_at=at,
        ends_at=ends or at + timedelta(minutes=5),
        updated_at=at,
        timeout=ends is None,
    )


def _dispatcher(text: str) -> tuple[Dispatcher, list[Notification]]:
    sent: list[Notification] = []
    return Dispatcher(parse_routing_config(text), emit=sent.append, ui_url="http://ui"), sent


def test_old_alert_skips_group_wait() -> None:
    """An alert that started more than group_wait ago is sent at once (Alertmanager's rule)."""
    dispatcher, sent = _dispatcher(_config())
    dispatcher.receive([_alert("Down", T0 - timedelta(minutes=3))], T0)
    dispatcher.flush_due(T0)
    assert len(sent) == 1


def test_repeat_and_resolution_timeline() -> None:
    """Sent after group_wait, repeated after repeat_interval, resolved alert sent then dropped."""
    dispatcher, sent = _dispatcher(_config())
    dispatcher.receive([_alert("Down", T0, job="api")], T0)
    dispatcher.flush_due(T0 + timedelta(seconds=10))
    assert [n.payload["status"] for n in sent] == ["firing"]
    # Keep the alert alive (as Prometheus re-sends it) and tick every group_interval.
    t = T0 + timedelta(seconds=10)
    for _ in range(61):
        t += timedelta(minutes=1)
        alive = _alert("Down", T0, ends=t + timedelta(minutes=5), job="api")
        dispatcher.receive([alive], t)
        dispatcher.flush_due(t)
    # The repeat goes at the first group_interval tick strictly after repeat_interval.
    assert len(sent) == 2
    assert sent[1].created_at - sent[0].created_at == timedelta(minutes=61)
    t += timedelta(seconds=5)
    dispatcher.receive([_alert("Down", T0, ends=t, job="api")], t)
    dispatcher.flush_due(t + timedelta(minutes=1))
    assert sent[-1].payload["status"] == "resolved"
    assert sent[-1].payload["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    dispatcher.maintenance(t + timedelta(minutes=2))
    assert dispatcher.groups() == []


def test_notification_content() -> None:
    """Title, body and payload carry what a person on call needs."""
    dispatcher, sent = _dispatcher(_config())
    dispatcher.receive([_alert("LLMLatency", T0, severity="critical", model="gpt")], T0)
    dispatcher.flush_due(T0 + timedelta(seconds=10))
    notification = sent[0]
    assert notification.title == "[FIRING:1] LLMLatency (gpt critical)"
    assert "severity: critical" in notification.body
    assert "runbook: http://runbooks/x" in notification.body
    assert "view: http://ui/alerts?alert=" in notification.body
    assert notification.payload["groupKey"] == '{}:{alertname="LLMLatency"}'
    assert notification.payload["version"] == "4"


def test_max_alerts_truncates() -> None:
    """max_alerts caps the alerts in a webhook payload and reports how many were cut."""
    dispatcher, sent = _dispatcher(_config(webhook=", max_alerts: 2"))
    dispatcher.receive([_alert("Down", T0, instance=str(i)) for i in range(5)], T0)
    dispatcher.flush_due(T0 + timedelta(seconds=10))
    assert len(sent[0].payload["alerts"]) == 2
    assert sent[0].payload["truncatedAlerts"] == 3


def test_mute_time_interval() -> None:
    """Inside a mute time interval nothing is sent; afterwards the group notifies."""
    extra = """  mute_time_intervals: [mornings]
time_intervals:
  - name: mornings
    time_intervals: [{times: [{start_time: "09:00", end_time: "10:30"}]}]"""
    dispatcher, sent = _dispatcher(_config(extra))
    dispatcher.receive([_alert("Down", T0, ends=T0 + timedelta(hours=2))], T0)
    dispatcher.flush_due(T0 + timedelta(seconds=10))
    assert sent == []
    dispatcher.flush_due(T0 + timedelta(minutes=31))
    assert len(sent) == 1


def test_silenced_alert_is_left_out() -> None:
    """A silenced alert does not appear in its group's notification."""
    dispatcher, sent = _dispatcher(_config())
    dispatcher.silences.create(
        "instance=b",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        created_by="t",
        comment="",
        now=T0,
    )
    dispatcher.receive([_alert("Down", T0, instance="a"), _alert("Down", T0, instance="b")], T0)
    dispatcher.flush_due(T0 + timedelta(seconds=10))
    assert [a["labels"]["instance"] for a in sent[0].payload["alerts"]] == ["a"]
    assert dispatcher.mute_reasons(_alert("Down", T0, instance="b"), T0)[0]
