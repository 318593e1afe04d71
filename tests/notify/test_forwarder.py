"""vigie can hand its alerts to an external, real Alertmanager."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from support.alertmanager import running_alertmanager
from support.webhook_sink import WebhookSink
from vigie.notify.alert import Alert
from vigie.notify.forwarder import AlertmanagerForwarder


def test_alerts_reach_alertmanager_and_its_receiver(tmp_path: Path) -> None:
    """Posted alerts are accepted by Alertmanager, routed, and delivered to its webhook."""
    now = datetime.now(UTC)
    alert = Alert(
        {"alertname": "HighErrorRate", "service": "faq", "severity": "critical"},
        annotations={"summary": "5xx above 10%", "runbook_url": "http://vigie/runbooks/x"},
        starts_at=now,
        ends_at=now + timedelta(minutes=4),
        generator_url="http://vigie/graph?g0.expr=x",
    )
    with WebhookSink() as sink:
        config = (
            "route: {receiver: hook, group_wait: 100ms, group_by: [alertname]}\n"
            f"receivers: [{{name: hook, webhook_configs: [{{url: '{sink.url}/am'}}]}}]\n"
        )
        with running_alertmanager(config, tmp_path) as url:
            forwarder = AlertmanagerForwarder([url, "http://127.0.0.1:9"])
            failures = forwarder.send([alert])
            forwarder.close()
            assert list(failures) == ["http://127.0.0.1:9"]
            listed = httpx.get(f"{url}/api/v2/alerts").json()
            assert listed[0]["labels"] == alert.labels
            assert listed[0]["fingerprint"] == alert.fingerprint
            (body,) = sink.wait_for(1, prefix="/am")
    delivered = body["alerts"][0]
    assert delivered["annotations"]["runbook_url"] == "http://vigie/runbooks/x"
    assert delivered["generatorURL"] == "http://vigie/graph?g0.expr=x"
    assert body["status"] == "firing"
