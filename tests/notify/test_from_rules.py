"""Rule alerts converted for the notifier as Prometheus's SendAlerts does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vigie.notify.alert import ZERO_TIME
from vigie.notify.api_models import parse_postable_alerts
from vigie.notify.forwarder import postable_alerts
from vigie.notify.from_rules import generator_url, notifier_alert, notifier_alerts
from vigie.rules.alerting import Alert as RuleAlert
from vigie.rules.alerting import AlertState

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def _rule_alert(**times: int | None) -> RuleAlert:
    return RuleAlert(
        {"alertname": "TargetDown", "job": "app", "severity": "critical"},
        {"summary": "app is down", "runbook_url": "http://vigie:9800/runbooks/TargetDown"},
        AlertState.FIRING,
        0.0,
        active_at=times.pop("active_at", 1_000) or 0,
        **times,
    )


def test_firing_alert_ends_at_valid_until() -> None:
    """A firing alert starts at fired_at and ends at valid_until."""
    alert = notifier_alert(_rule_alert(fired_at=61_000, valid_until=301_000), "g", now=NOW)
    assert alert.starts_at == datetime(1970, 1, 1, 0, 1, 1, tzinfo=UTC)
    assert alert.ends_at == datetime(1970, 1, 1, 0, 5, 1, tzinfo=UTC)
    assert alert.updated_at == NOW
    assert not alert.timeout
    assert alert.annotations["runbook_url"] == "http://vigie:9800/runbooks/TargetDown"


def test_resolved_alert_ends_at_resolved_at() -> None:
    """A resolved alert ends when it resolved, not at valid_until."""
    rule_alert = _rule_alert(fired_at=61_000, resolved_at=120_000, valid_until=301_000)
    alert = notifier_alert(rule_alert, "g", now=NOW)
    assert alert.ends_at == datetime(1970, 1, 1, 0, 2, tzinfo=UTC)
    assert alert.resolved_at(NOW)


def test_never_sent_times_fall_back() -> None:
    """Without fired_at the start is active_at; without valid_until the end is Go's zero time."""
    alert = notifier_alert(_rule_alert(active_at=5_000), "g", now=NOW)
    assert alert.starts_at == datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)
    assert alert.ends_at == ZERO_TIME


def test_generator_url_is_prometheus_table_link() -> None:
    """generatorURL is externalURL + /graph?g0.expr=<escaped>&g0.tab=1."""
    url = generator_url("http://vigie:9800/", 'up{job="app"} == 0')
    assert url == "http://vigie:9800/graph?g0.expr=up%7Bjob%3D%22app%22%7D%20%3D%3D%200&g0.tab=1"


def test_external_labels_added_without_overriding() -> None:
    """External labels are added, but an alert's own label of the same name wins."""
    [alert] = notifier_alerts(
        "up == 0",
        [_rule_alert(fired_at=1_000, valid_until=2_000)],
        "http://vigie:9800",
        external_labels={"cluster": "eu", "job": "other"},
        now=NOW,
    )
    assert alert.labels == {
        "alertname": "TargetDown", "job": "app", "severity": "critical", "cluster": "eu",
    }  # fmt: skip
    assert alert.generator_url.startswith("http://vigie:9800/graph?g0.expr=up%20%3D%3D%200")


def test_same_alert_as_alertmanager_builds_from_the_wire() -> None:
    """Converting directly equals posting the alert to the v2 API and parsing it there."""
    direct = notifier_alert(_rule_alert(fired_at=61_000, valid_until=301_000), "g", now=NOW)
    [wire] = parse_postable_alerts(postable_alerts([direct]), now=NOW, resolve_timeout=timedelta(0))
    assert (wire.labels, wire.annotations, wire.starts_at, wire.ends_at, wire.generator_url) == (
        direct.labels, direct.annotations, direct.starts_at, direct.ends_at, direct.generator_url,
    )  # fmt: skip
    assert wire.timeout == direct.timeout


def test_value_reaches_the_message_text() -> None:
    """The rule's current value is shown in the chat and e-mail text, not in the webhook JSON."""
    from datetime import UTC, datetime

    from vigie.notify.payload import default_body, webhook_payload
    from vigie.rules.alerting import Alert as RuleAlert
    from vigie.rules.alerting import AlertState

    rule_alert = RuleAlert(
        {"alertname": "LLMErrorRatioHigh", "severity": "warning"},
        {"summary": "errors"},
        AlertState.FIRING,
        0.23456,
        active_at=0,
        fired_at=60_000,
        valid_until=300_000,
    )
    (alert,) = notifier_alerts("x > 0.1", [rule_alert], "http://vigie")
    now = datetime(1970, 1, 1, 0, 2, tzinfo=UTC)
    assert "  value: 0.2346" in default_body([alert], now=now)
    payload = webhook_payload(
        receiver="r",
        group_key_text="k",
        group_labels={},
        alerts=[alert],
        now=now,
        external_url="http://vigie",
    )
    assert "value" not in payload["alerts"][0]
