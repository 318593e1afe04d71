"""POST /api/v2/alerts bodies are validated like Alertmanager validates them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigie.exceptions import PayloadError
from vigie.notify.alert import Alert, fingerprint
from vigie.notify.api_models import gettable_alert, parse_postable_alerts

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_time_defaults() -> None:
    """No startsAt means now; no endsAt means now + resolve_timeout, marked as a timeout."""
    (alert,) = parse_postable_alerts(
        [{"labels": {"alertname": "A"}}], now=NOW, resolve_timeout=timedelta(minutes=5)
    )
    assert alert.starts_at == NOW
    assert alert.ends_at == NOW + timedelta(minutes=5)
    assert alert.timeout


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"labels": {}}, "expected a JSON array"),
        ([{"labels": {}}], "alert 0: labels"),
        ([{"labels": {"a": "1"}}, {"labels": {"1bad": "x"}}], "alert 1: labels: invalid label"),
        ([{"labels": {"a": "1"}, "startsAt": "yesterday"}], "startsAt"),
        (
            [
                {
                    "labels": {"a": "1"},
                    "startsAt": "2026-01-02T00:00:00Z",
                    "endsAt": "2026-01-01T00:00:00Z",
                }
            ],
            "endsAt is before startsAt",
        ),
    ],
)
def test_invalid_bodies(body: object, message: str) -> None:
    """Each problem names the alert index and the field."""
    with pytest.raises(PayloadError, match=message):
        parse_postable_alerts(body, now=NOW, resolve_timeout=timedelta(minutes=5))


def test_fingerprint_is_prometheus_fnv() -> None:
    """The fingerprint is Prometheus's FNV-1a over sorted label pairs (known value)."""
    # Value computed by Prometheus's model.LabelSet.Fingerprint for {alertname="Down"}.
    assert fingerprint({"alertname": "Down"}) == "6accfd3d0992a914"
    assert fingerprint({"b": "1", "a": "2"}) == fingerprint({"a": "2", "b": "1"})


def test_gettable_alert_shape() -> None:
    """The alerts API reports suppression like Alertmanager."""
    alert = Alert({"alertname": "A"}, starts_at=NOW, ends_at=NOW + timedelta(hours=1))
    shape = gettable_alert(alert, now=NOW, receivers=["hook"], silenced_by=["s1"], inhibited=False)
    assert shape["status"] == {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []}
    assert shape["receivers"] == [{"name": "hook"}]


def test_inhibited_alert_names_its_inhibitor() -> None:
    """inhibitedBy lists the fingerprints of the firing alerts that inhibit, as Alertmanager."""
    from vigie.notify.config import parse_routing_config
    from vigie.notify.dispatcher import Dispatcher

    config = parse_routing_config(
        "route: {receiver: r}\nreceivers: [{name: r}]\n"
        "inhibit_rules: [{source_matchers: [severity=critical],"
        " target_matchers: [severity=warning], equal: [service]}]\n"
    )
    dispatcher = Dispatcher(config, emit=lambda notification: None)
    ends = NOW + timedelta(hours=1)
    times = {"starts_at": NOW, "ends_at": ends, "updated_at": NOW}
    critical = Alert({"alertname": "A", "severity": "critical", "service": "faq"}, **times)
    warning = Alert({"alertname": "A", "severity": "warning", "service": "faq"}, **times)
    other = Alert({"alertname": "A", "severity": "warning", "service": "cv"}, **times)
    dispatcher.receive([critical, warning, other], NOW)
    assert dispatcher.suppression(warning, NOW) == ([], [critical.fingerprint])
    assert dispatcher.suppression(other, NOW) == ([], [])
    shape = gettable_alert(
        warning,
        now=NOW,
        receivers=["r"],
        silenced_by=[],
        inhibited=True,
        inhibited_by=[critical.fingerprint],
    )
    assert shape["status"]["inhibitedBy"] == [critical.fingerprint]
