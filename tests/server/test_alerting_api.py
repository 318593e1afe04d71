"""The Alertmanager v2 API, notification history and runbooks, over real HTTP and real amtool."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import require_binary
from support.vigie_server import serving_vigie
from support.webhook_sink import WebhookSink
from vigie.rules.packs.ai import runbook
from vigie.server.runtime import Server
from vigie.store.memory import MemoryStorage

ROUTING = """\
vigie:
  self_monitoring: {{enabled: false}}
  telemetry: {{enabled: false}}
  alerting:
    external_url: http://vigie.example:9800
    routing:
      route:
        receiver: team
        group_by: [alertname]
        group_wait: 200ms
        group_interval: 1s
        routes:
          - receiver: pager
            matchers: ['severity="critical"']
            continue: true
      receivers:
        - name: team
          webhook_configs: [{{url: "{sink}/team"}}]
        - name: pager
          webhook_configs: [{{url: "{sink}/pager"}}]
"""


class Live:
    """vigie's app served in a thread, routing to a webhook sink."""

    def __init__(self, url: str, server: Server) -> None:
        self.url, self.server = url, server

    def get(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=5)  # type: ignore[arg-type]

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=5)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Live, WebhookSink]]:
    """A ready in-process server and the sink its receivers post to."""
    with (
        WebhookSink() as sink,
        serving_vigie(ROUTING.format(sink=sink.url), tmp_path, MemoryStorage()) as (
            url,
            _port,
            server,
        ),
    ):
        yield Live(url, server), sink


def _alert(name: str, **labels: str) -> dict[str, object]:
    return {"labels": {"alertname": name, **labels}, "annotations": {"summary": f"{name} fired"}}


def test_post_alerts_then_list_with_receivers(live: tuple[Live, WebhookSink]) -> None:
    """Posted alerts are listed with their receivers, status and Alertmanager's fingerprint."""
    server, _ = live
    response = server.post(
        "/api/v2/alerts", [_alert("Down", severity="critical"), _alert("Slow", severity="warning")]
    )
    assert response.status_code == 200
    alerts = server.get("/api/v2/alerts").json()
    by_name = {alert["labels"]["alertname"]: alert for alert in alerts}
    assert [r["name"] for r in by_name["Down"]["receivers"]] == ["pager"]  # no sibling matched
    assert [r["name"] for r in by_name["Slow"]["receivers"]] == ["team"]
    assert by_name["Down"]["status"] == {"state": "active", "silencedBy": [], "inhibitedBy": []}
    assert by_name["Down"]["annotations"] == {"summary": "Down fired"}
    assert [a["fingerprint"] for a in alerts] == sorted(a["fingerprint"] for a in alerts)
    filtered = server.get("/api/v2/alerts", filter='severity="warning"').json()
    assert [a["labels"]["alertname"] for a in filtered] == ["Slow"]
    assert [a["labels"]["alertname"] for a in server.get("/api/v2/alerts", receiver="pag.*").json()]


def test_bad_alert_is_refused_naming_index_and_field(live: tuple[Live, WebhookSink]) -> None:
    """A bad alert answers 400 naming its index and field; nothing of the batch is kept."""
    server, _ = live
    response = server.post("/api/v2/alerts", [_alert("Good"), {"labels": {"bad-name": "x"}}])
    assert response.status_code == 400
    assert response.json() == "alert 1: labels: invalid label name 'bad-name'"
    assert server.get("/api/v2/alerts").json() == []
    bad_time = server.post("/api/v2/alerts", [{**_alert("A"), "startsAt": "yesterday"}])
    assert bad_time.json() == "alert 0: startsAt: invalid timestamp 'yesterday'"
    assert server.get("/api/v2/alerts", filter="=broken").status_code == 400


def test_silence_lifecycle_and_suppression(live: tuple[Live, WebhookSink]) -> None:
    """A silence mutes matching alerts, is listed, fetched, expired; unknown ids are 404."""
    server, _ = live
    server.post("/api/v2/alerts", [_alert("Down", job="app"), _alert("Slow", job="app")])
    created = server.post(
        "/api/v2/silences",
        {
            "matchers": [{"name": "alertname", "value": "Down", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": "2999-01-01T00:00:00Z",
            "createdBy": "ops",
            "comment": "deploy",
        },
    )
    assert created.status_code == 200
    silence_id = created.json()["silenceID"]
    silence = server.get(f"/api/v2/silence/{silence_id}").json()
    assert (silence["createdBy"], silence["status"]["state"]) == ("ops", "active")
    assert silence["matchers"] == [
        {"name": "alertname", "value": "Down", "isRegex": False, "isEqual": True}
    ]
    assert [s["id"] for s in server.get("/api/v2/silences", filter="alertname=Down").json()] == [
        silence_id
    ]
    assert server.get("/api/v2/silences", filter="alertname=Other").json() == []
    states = {a["labels"]["alertname"]: a["status"] for a in server.get("/api/v2/alerts").json()}
    assert states["Down"] == {"state": "suppressed", "silencedBy": [silence_id], "inhibitedBy": []}
    visible = server.get("/api/v2/alerts", silenced="false").json()
    assert [a["labels"]["alertname"] for a in visible] == ["Slow"]

    assert httpx.delete(f"{server.url}/api/v2/silence/{silence_id}", timeout=5).status_code == 200
    assert server.get(f"/api/v2/silence/{silence_id}").json()["status"]["state"] == "expired"
    assert httpx.delete(f"{server.url}/api/v2/silence/nope", timeout=5).status_code == 404
    assert server.get("/api/v2/silence/nope").status_code == 404
    refused = server.post("/api/v2/silences", {"matchers": [], "endsAt": "2999-01-01T00:00:00Z"})
    assert refused.status_code == 400
    assert refused.json() == "silence: at least one matcher is required"


def test_notifications_are_delivered_and_listed(live: tuple[Live, WebhookSink]) -> None:
    """Alerts reach their receivers; the history shows each notification delivered."""
    server, sink = live
    server.post("/api/v2/alerts", [_alert("Down", severity="critical"), _alert("Slow")])
    sink.wait_for(2)
    assert sorted(item.path for item in sink.received) == ["/pager", "/team"]
    body = sink.bodies("/pager")[0]
    assert (body["status"], body["receiver"], body["externalURL"]) == (
        "firing",
        "pager",
        "http://vigie.example:9800",
    )
    deadline = time.monotonic() + 5
    history: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        history = server.get("/api/v1/notifications").json()["data"]
        if len(history) == 2 and all(item["state"] == "delivered" for item in history):
            break
        time.sleep(0.05)
    assert sorted(item["receiver"] for item in history) == ["pager", "team"]  # type: ignore[type-var]
    assert {item["state"] for item in history} == {"delivered"}
    assert server.get("/api/v1/notifications", limit="0").status_code == 400


def test_runbooks_served_as_html_and_markdown(live: tuple[Live, WebhookSink]) -> None:
    """/runbooks/<alertname> renders the pack's runbook; ?format=md is the raw text; else 404."""
    server, _ = live
    page = server.get("/runbooks/TargetDown")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>" in page.text
    assert "<title>Runbook: TargetDown</title>" in page.text
    raw = server.get("/runbooks/TargetDown", format="md")
    assert raw.text == runbook("TargetDown")
    assert server.get("/runbooks/NoSuchAlert").status_code == 404


def test_status_and_receivers(live: tuple[Live, WebhookSink]) -> None:
    """/api/v2/status answers the fields amtool reads; /api/v2/receivers lists the receivers."""
    server, _ = live
    status = server.get("/api/v2/status").json()
    assert status["cluster"]["status"] == "disabled"
    assert status["versionInfo"]["version"] == "0.25.0"
    assert [r["name"] for r in server.get("/api/v2/receivers").json()] == ["pager", "team"]


def test_amtool_silences_and_alerts(live: tuple[Live, WebhookSink]) -> None:
    """The real amtool adds, queries and expires silences and adds and queries alerts."""
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    server, _ = live

    def run(*arguments: str) -> str:
        result = subprocess.run(
            [amtool, f"--alertmanager.url={server.url}", *arguments],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Warning" not in result.stderr
        return result.stdout

    run("alert", "add", "alertname=DiskFull", "severity=warning", "--annotation=summary=disk")
    assert "DiskFull" in run("alert", "query")
    assert server.get("/api/v2/alerts").json()[0]["startsAt"] != "0001-01-01T00:00:00Z"
    silence_id = run("silence", "add", "alertname=DiskFull", "-c", "cleaning", "-a", "ops").strip()
    assert len(silence_id) == 36
    assert silence_id in run("silence", "query", "-q")
    assert "DiskFull" not in run("alert", "query")
    assert "DiskFull" in run("alert", "query", "--silenced")
    run("silence", "expire", silence_id)
    assert silence_id not in run("silence", "query", "-q")
    assert silence_id in run("silence", "query", "--expired", "-q")
    assert "DiskFull" in run("alert", "query")
