"""The Prometheus HTTP API, checked with clients vigie did not write (promtool, Prometheus)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any
from typing import Any as LiveServer

import httpx
import pytest

from support import free_port, require_binary
from support.prometheus import running_prometheus
from vigie.server.api import format_value
from vigie.store.interface import STALE_NAN

BASE = 1_700_000_000  # seconds


def _load(live: LiveServer) -> None:
    appender = live.storage.appender()
    for step in range(41):  # 10 minutes every 15 s
        t = (BASE + step * 15) * 1000
        appender.append({"__name__": "requests_total", "job": "api", "route": "/a"}, t, step * 15.0)
        appender.append({"__name__": "requests_total", "job": "api", "route": "/b"}, t, step * 30.0)
        appender.append({"__name__": "temperature", "job": "lab"}, t, 20.5)
    appender.commit()


def _promtool(*args: str) -> str:
    binary = require_binary("promtool", package="prometheus")
    result = subprocess.run([binary, "query", *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_promtool_instant_query(live_server: LiveServer) -> None:
    """promtool query instant gets the aggregated values."""
    _load(live_server)
    output = _promtool(
        "instant", "-o", "json", f"--time={BASE + 600}", live_server.url,
        "sum by (route) (requests_total) * 2",
    )  # fmt: skip
    rows = {row["metric"]["route"]: row["value"] for row in json.loads(output)}
    assert rows == {"/a": [BASE + 600, "1200"], "/b": [BASE + 600, "2400"]}


def test_promtool_range_query(live_server: LiveServer) -> None:
    """promtool query range returns one point per step."""
    _load(live_server)
    output = _promtool(
        "range", "-o", "json", f"--start={BASE}", f"--end={BASE + 60}", "--step=30s",
        live_server.url, "temperature",
    )  # fmt: skip
    (series,) = json.loads(output)
    assert series["metric"] == {"__name__": "temperature", "job": "lab"}
    assert series["values"] == [[BASE, "20.5"], [BASE + 30, "20.5"], [BASE + 60, "20.5"]]


def test_promtool_series_and_labels(live_server: LiveServer) -> None:
    """promtool query series and labels list what is stored."""
    _load(live_server)
    window = (f"--start={BASE}", f"--end={BASE + 600}")
    series = _promtool("series", "--match=requests_total", *window, live_server.url)
    assert series.splitlines() == [
        '{__name__="requests_total", job="api", route="/a"}',
        '{__name__="requests_total", job="api", route="/b"}',
    ]
    assert _promtool("labels", *window, live_server.url, "job").splitlines() == ["api", "lab"]
    assert _promtool("labels", *window, live_server.url, "__name__").splitlines() == [
        "requests_total", "temperature",
    ]  # fmt: skip


def test_promtool_reports_parse_errors(live_server: LiveServer) -> None:
    """A bad query comes back as Prometheus's bad_data error."""
    binary = require_binary("promtool", package="prometheus")
    result = subprocess.run(
        [binary, "query", "instant", live_server.url, "sum(x))"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "bad_data: 1:7: parse error: unexpected right parenthesis ')'" in result.stderr


def test_envelopes_and_errors(live_server: LiveServer) -> None:
    """Every endpoint answers Prometheus's envelope, errors with errorType and status."""
    _load(live_server)
    url = live_server.url + "/api/v1"
    response = httpx.post(url + "/query", data={"query": "temperature", "time": str(BASE + 10)})
    assert response.json() == {
        "status": "success",
        "data": {"resultType": "vector", "result": [
            {"metric": {"__name__": "temperature", "job": "lab"}, "value": [BASE + 10, "20.5"]}
        ]},
    }  # fmt: skip
    scalar = httpx.get(url + "/query", params={"query": "1/4", "time": "1.5"}).json()
    assert scalar["data"] == {"resultType": "scalar", "result": [1.5, "0.25"]}
    bad = httpx.get(url + "/query", params={"query": "rate(x)"})
    assert bad.status_code == 400
    assert bad.json()["errorType"] == "bad_data"
    missing = httpx.get(url + "/query_range", params={"query": "x", "start": "1", "end": "0",
                                                       "step": "1"})  # fmt: skip
    assert missing.json()["error"] == (
        'invalid parameter "end": end timestamp must not be before start time'
    )
    step = httpx.get(url + "/query_range", params={"query": "x", "start": "0", "end": "1",
                                                    "step": "0"})  # fmt: skip
    assert "zero or negative query resolution step" in step.json()["error"]
    assert httpx.get(url + "/series").json() == {
        "status": "error", "errorType": "bad_data", "error": "no match[] parameter provided",
    }  # fmt: skip
    values = httpx.get(url + "/label/route/values", params={"match[]": 'requests_total{job="api"}'})
    assert values.json() == {"status": "success", "data": ["/a", "/b"]}
    limited = httpx.get(url + "/labels", params={"limit": "2"}).json()
    assert limited == {
        "status": "success", "data": ["__name__", "job"],
        "warnings": ["results truncated due to limit"],
    }  # fmt: skip
    assert httpx.get(url + "/label/1bad/values").json()["error"] == 'invalid label name: "1bad"'
    formatted = httpx.post(url + "/format_query", data={"query": "sum(x)by(a)"}).json()
    assert formatted == {"status": "success", "data": "sum by (a) (x)"}
    build = httpx.get(url + "/status/buildinfo").json()["data"]
    assert build["version"]
    assert httpx.get(url + "/targets").json()["data"]["activeTargets"] == []


def test_stale_markers_never_reach_clients(live_server: LiveServer) -> None:
    """A staleness marker ends a series in range queries instead of showing as NaN."""
    appender = live_server.storage.appender()
    appender.append({"__name__": "gone"}, BASE * 1000, 1.0)
    appender.append({"__name__": "gone"}, (BASE + 30) * 1000, STALE_NAN)
    appender.commit()
    response = httpx.get(
        live_server.url + "/api/v1/query_range",
        params={"query": "gone", "start": str(BASE), "end": str(BASE + 60), "step": "15"},
    ).json()
    assert response["data"]["result"][0]["values"] == [[BASE, "1"], [BASE + 15, "1"]]


def test_format_value_matches_go() -> None:
    """Values print as Go's FormatFloat(v, 'f', -1, 64)."""
    assert [format_value(v) for v in (1.0, 0.25, 1e21, 1e-7, float("inf"), -float("inf"))] == [
        "1", "0.25", "1000000000000000000000", "0.0000001", "+Inf", "-Inf",
    ]  # fmt: skip
    assert format_value(float("nan")) == "NaN"


@pytest.mark.slow
def test_real_prometheus_federates_from_vigie(live_server: LiveServer, tmp_path: Path) -> None:
    """The Debian prometheus scrapes vigie's /federate and stores what vigie holds."""
    binary = require_binary("prometheus")
    now = int(time.time() * 1000)
    appender = live_server.storage.appender()
    appender.append({"__name__": "vigie_side", "job": "api", "zone": "eu"}, now - 1000, 42.0)
    appender.commit()
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: federate\n    honor_labels: true\n"
        "    metrics_path: /federate\n    params: {'match[]': ['{job=\"api\"}']}\n"
        f"    static_configs: [{{targets: ['{live_server.address}']}}]\n"
    )
    with running_prometheus(binary, config, tmp_path / "tsdb", port) as prometheus:
        deadline = time.monotonic() + 30
        result: list[Any] = []
        while time.monotonic() < deadline and not result:
            time.sleep(0.5)
            try:
                result = httpx.get(
                    f"{prometheus.url}/api/v1/query", params={"query": "vigie_side"}
                ).json()["data"]["result"]
            except httpx.HTTPError:
                continue
        assert result, prometheus.log_tail()
        assert result[0]["metric"] == {"__name__": "vigie_side", "job": "api", "zone": "eu",
                                       "instance": live_server.address}  # fmt: skip
        assert result[0]["value"][1] == "42"


def test_status_config_hides_secrets(live_server: LiveServer) -> None:
    """/api/v1/status/config shows the file with tokens and URL passwords masked."""
    path = live_server.server.options.config_path
    path.write_text(
        "scrape_configs:\n  - job_name: a\n    bearer_token: s3cr3t\n"
        "vigie:\n  collectors:\n    postgres:\n      - url: postgresql://mon:pw@db/postgres\n"
    )
    text = httpx.get(live_server.url + "/api/v1/status/config").json()["data"]["yaml"]
    assert "s3cr3t" not in text
    assert ":pw@" not in text
    assert "bearer_token: <secret>" in text
    assert "postgresql://mon:<secret>@db/postgres" in text
