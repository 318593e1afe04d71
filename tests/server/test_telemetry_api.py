"""The traces and logs search API over HTTP, against a real server fed by OTLP/HTTP JSON."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from support import free_port

if TYPE_CHECKING:
    from conftest import LiveServer

NOW_NS = time.time_ns() - 60 * 10**9
TRACE_A = "5b8efff798038103d269b633813fc60c"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"


def _attrs(values: dict[str, str]) -> list[dict[str, Any]]:
    return [{"key": k, "value": {"stringValue": v}} for k, v in values.items()]


def _span(trace: str, span: str, name: str, start_ms: int, ms: int, **extra: Any) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": str(NOW_NS + start_ms * 10**6),
        "endTimeUnixNano": str(NOW_NS + (start_ms + ms) * 10**6),
        **extra,
    }


def _feed(url: str, server: Any) -> None:
    spans = [
        _span(TRACE_A, "eee19b7ec3c1b174", "POST /ask", 0, 1200,
              attributes=_attrs({"http.route": "/ask"}), status={"code": 2, "message": "boom"}),
        _span(TRACE_A, "eee19b7ec3c1b175", "chat gpt-4o-mini", 100, 1000,
              parentSpanId="eee19b7ec3c1b174", attributes=_attrs({"gen_ai.request.model": "m"})),
        _span(TRACE_B, "aaa19b7ec3c1b174", "GET /faq", 2000, 20),
    ]  # fmt: skip
    traces = {"resourceSpans": [{"resource": {"attributes": _attrs({"service.name": "faq-bot"})},
                                 "scopeSpans": [{"spans": spans}]}]}  # fmt: skip
    records = [
        {"timeUnixNano": str(NOW_NS + 150 * 10**6), "severityNumber": 17, "severityText": "ERROR",
         "body": {"stringValue": "LLM timeout after 1s"}, "traceId": TRACE_A,
         "attributes": _attrs({"provider": "openai"})},
        {"timeUnixNano": str(NOW_NS + 2000 * 10**6), "severityNumber": 9, "severityText": "INFO",
         "body": {"stringValue": "faq listed"}, "traceId": TRACE_B},
    ]  # fmt: skip
    logs = {"resourceLogs": [{"resource": {"attributes": _attrs({"service.name": "faq-bot"})},
                              "scopeLogs": [{"logRecords": records}]}]}  # fmt: skip
    for path, body in (("/v1/traces", traces), ("/v1/logs", logs)):
        response = httpx.post(url + path, json=body, timeout=5)
        assert response.status_code == 200, response.text
    assert server.telemetry.flush(10)


@pytest.fixture
def fed(live_server: LiveServer) -> LiveServer:
    """The live server with two traces and two log lines stored."""
    _feed(live_server.url, live_server.server)
    return live_server


def _get(server: LiveServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.url + path, params=params, timeout=5)


def test_trace_search_filters_and_envelope(fed: LiveServer) -> None:
    """Traces by service/status/duration come newest first in the Prometheus envelope."""
    body = _get(fed, "/api/v1/traces/search", service="faq-bot").json()
    assert body["status"] == "success"
    assert [t["trace_id"] for t in body["data"]] == [TRACE_B, TRACE_A]
    errors = _get(fed, "/api/v1/traces/search", status="error").json()["data"]
    assert [(t["trace_id"], t["span_count"], t["error_count"]) for t in errors] == [(TRACE_A, 2, 1)]
    slow = _get(fed, "/api/v1/traces/search", min_duration="1s", view="spans").json()["data"]
    assert sorted(s["name"] for s in slow) == ["POST /ask", "chat gpt-4o-mini"]
    assert {s["duration_ns"] for s in slow} == {1_200_000_000, 1_000_000_000}
    by_attr = _get(fed, "/api/v1/traces/search", attr="http.route=/ask", view="spans").json()
    assert [s["span_id"] for s in by_attr["data"]] == ["eee19b7ec3c1b174"]


def test_trace_waterfall_and_404(fed: LiveServer) -> None:
    """A trace id answers the waterfall; an unknown one 404; a malformed one 400."""
    data = _get(fed, f"/api/v1/traces/{TRACE_A}").json()["data"]
    assert data["trace_id"] == TRACE_A
    assert [(s["name"], s["depth"]) for s in data["spans"]] == [
        ("POST /ask", 0),
        ("chat gpt-4o-mini", 1),
    ]
    missing = _get(fed, "/api/v1/traces/" + "1" * 32)
    assert missing.status_code == 404
    assert missing.json()["errorType"] == "not_found"
    bad = _get(fed, "/api/v1/traces/xyz")
    assert bad.status_code == 400
    assert (
        bad.json()["error"] == "invalid parameter \"trace id\": expected 32 hex digits, got 'xyz'"
    )


def test_red_summary(fed: LiveServer) -> None:
    """Per-operation calls and errors over the window."""
    start = (NOW_NS - 10**9) / 1e9
    data = _get(fed, "/api/v1/traces/red", service="faq-bot", start=str(start)).json()["data"]
    by_name = {row["name"]: (row["calls"], row["errors"], row["error_ratio"]) for row in data}
    assert by_name == {
        "POST /ask": (1, 1, 1.0),
        "chat gpt-4o-mini": (1, 0, 0.0),
        "GET /faq": (1, 0, 0.0),
    }


def test_log_search(fed: LiveServer) -> None:
    """Logs by text, level, trace id and attribute."""
    assert [line["body"] for line in _get(fed, "/api/v1/logs/search").json()["data"]] == [
        "faq listed",
        "LLM timeout after 1s",
    ]
    for params in ({"text": "timeout"}, {"min_level": "warn"}, {"trace_id": TRACE_A},
                   {"field": "provider=openai"}):  # fmt: skip
        data = _get(fed, "/api/v1/logs/search", **params).json()["data"]
        assert [line["body"] for line in data] == ["LLM timeout after 1s"], params
    bad = _get(fed, "/api/v1/logs/search", text='"unclosed')
    assert bad.json()["error"] == (
        'invalid parameter "text": unterminated string in full-text query \'"unclosed\''
    )
    assert bad.status_code == 400
    assert bad.json()["errorType"] == "bad_data"


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/v1/logs/search", {"limit": "0"},
         "invalid parameter \"limit\": expected an integer in 1..1000, got '0'"),
        ("/api/v1/logs/search", {"level": "loud"},
         "invalid parameter \"level\": 'loud' is not one of trace, debug, info, warn, warning, "
         "error, fatal"),
        ("/api/v1/logs/search", {"start": "yesterday"},
         'invalid parameter "start": cannot parse "yesterday" to a valid timestamp'),
        ("/api/v1/traces/search", {"min_duration": "fast"},
         "invalid parameter \"min_duration\": 'fast' is not a duration (e.g. 250ms, 2s)"),
        ("/api/v1/traces/search", {"attr": "novalue"},
         "invalid parameter \"attr\": expected key=value, got 'novalue'"),
        ("/api/v1/traces/search", {"start": "20", "end": "10"},
         'invalid parameter "end": end timestamp must not be before start'),
        ("/api/v1/alerts/telemetry", {"start": "10"},
         'missing parameter "label": give the alert labels as name=value'),
    ],
)  # fmt: skip
def test_bad_parameters_are_400_naming_the_parameter(
    live_server: LiveServer, path: str, params: dict[str, str], message: str
) -> None:
    """Each malformed parameter gets a 400 whose message names it."""
    response = _get(live_server, path, **params)
    assert response.status_code == 400
    assert response.json() == {"status": "error", "errorType": "bad_data", "error": message}


def test_alert_correlation(fed: LiveServer) -> None:
    """An alert's labels and window find the service's traces (errors first) and logs."""
    data = _get(
        fed,
        "/api/v1/alerts/telemetry",
        label=["alertname=HighErrorRatio", "job=faq-bot"],
        start=str(NOW_NS / 1e9),
    ).json()["data"]
    assert data["service"] == "faq-bot"
    assert [t["trace_id"] for t in data["traces"]] == [TRACE_A, TRACE_B]
    assert {line["body"] for line in data["logs"]} == {"LLM timeout after 1s", "faq listed"}


def test_live_tail_over_sse(fed: LiveServer) -> None:
    """The tail stream sends lines stored after it opened, as SSE events with ids."""
    received: list[dict[str, Any]] = []
    opened = threading.Event()

    def listen() -> None:
        params = {"service": "faq-bot"}
        with httpx.stream("GET", fed.url + "/api/v1/logs/tail", params=params, timeout=10) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                opened.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert opened.wait(5)
    records = [{"timeUnixNano": str(time.time_ns()), "severityNumber": 13,
                "body": {"stringValue": "tail me"}}]  # fmt: skip
    body = {"resourceLogs": [{"resource": {"attributes": _attrs({"service.name": "faq-bot"})},
                              "scopeLogs": [{"logRecords": records}]}]}  # fmt: skip
    assert httpx.post(fed.url + "/v1/logs", json=body, timeout=5).status_code == 200
    thread.join(10)
    assert [(line["body"], line["level"]) for line in received] == [("tail me", "WARN")]


def test_open_tail_does_not_block_shutdown(tmp_path: Path) -> None:
    """SIGTERM ends an open live tail, so `vigie server` still exits (and flushes) promptly."""
    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring:\n    enabled: false\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
         "--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.stream("GET", url + "/api/v1/logs/tail", timeout=30) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
