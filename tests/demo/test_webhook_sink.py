"""The demo's webhook sink: keeps and prints Alertmanager payloads, guards its controls."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest

from vigie.demo.webhook_sink import WebhookSink, describe

PAYLOAD = {
    "version": "4",
    "status": "firing",
    "receiver": "vigie-demo-sink",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "HTTPErrorRatioHigh", "severity": "warning", "job": "faq"},
            "annotations": {
                "summary": "faq: 28% of requests fail with 5xx",
                "runbook_url": "http://127.0.0.1:9800/runbooks/HTTPErrorRatioHigh",
            },
        },
        {"status": "firing", "labels": {"alertname": "Watchdog"}, "annotations": {}},
    ],
}


@pytest.fixture
def sink() -> Iterator[tuple[WebhookSink, io.StringIO]]:
    out = io.StringIO()
    running = WebhookSink(out=out, token="secret", controls={"app/stop": lambda: "stopped"})
    running.start()
    yield running, out
    running.stop()


def test_a_posted_payload_is_kept_and_printed(sink: tuple[WebhookSink, io.StringIO]) -> None:
    """POST /webhook keeps the payload (GET /notifications) and prints one line per alert."""
    running, out = sink
    answer = httpx.post(running.webhook_url, json=PAYLOAD, timeout=5)
    assert answer.status_code == 200
    kept = httpx.get(running.url + "/notifications", timeout=5).json()["notifications"]
    assert [item["index"] for item in kept] == [0]
    assert kept[0]["alerts"] == PAYLOAD["alerts"]
    assert out.getvalue() == (
        "notification: FIRING   HTTPErrorRatioHigh [warning] faq: 28% of requests fail with 5xx"
        "  runbook http://127.0.0.1:9800/runbooks/HTTPErrorRatioHigh\n"
    )
    httpx.post(running.webhook_url, json={**PAYLOAD, "status": "resolved"}, timeout=5)
    later = httpx.get(running.url + "/notifications?since=1", timeout=5).json()["notifications"]
    assert [item["index"] for item in later] == [1]


def test_bad_bodies_are_refused(sink: tuple[WebhookSink, io.StringIO]) -> None:
    """A body that is not a JSON object is a 400 and is not kept."""
    running, _ = sink
    assert httpx.post(running.webhook_url, content=b"{nope", timeout=5).status_code == 400
    assert httpx.post(running.webhook_url, json=[1], timeout=5).status_code == 400
    assert running.notifications() == []


def test_controls_need_the_token(sink: tuple[WebhookSink, io.StringIO]) -> None:
    """POST /control/NAME runs the control only with the bearer token; unknown names are 404."""
    running, _ = sink
    url = running.url + "/control/app/stop"
    assert httpx.post(url, timeout=5).status_code == 401
    assert httpx.post(url, headers={"Authorization": "Bearer nope"}, timeout=5).status_code == 401
    good = {"Authorization": "Bearer secret"}
    answer = httpx.post(url, headers=good, timeout=5)
    assert answer.json() == {"detail": "stopped"}
    assert httpx.post(running.url + "/control/x", headers=good, timeout=5).status_code == 404


def test_describe_marks_resolved_without_runbook() -> None:
    """A resolved alert's line says RESOLVED and omits the runbook link."""
    alert = {**PAYLOAD["alerts"][0], "status": "resolved"}  # type: ignore[dict-item]
    assert describe({"alerts": [alert]}) == [
        "notification: RESOLVED HTTPErrorRatioHigh [warning] faq: 28% of requests fail with 5xx"
    ]
