"""Random query parameters and bodies sent to a real `vigie server`: answers are never 5xx.

The server runs as a subprocess on loopback; each input is one HTTP request with a 10 s bound.
A 5xx (other than 503 for a query that timed out, as in Prometheus) is a failure, so is a
non-JSON answer from an ``/api/v1`` endpoint.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import free_port
from vigie.environment_variables import VIGIE_FUZZ_EXAMPLES

pytestmark = pytest.mark.slow

EXAMPLES = int(VIGIE_FUZZ_EXAMPLES.read() or "300")
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

GET_PATHS = [
    "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
    "/api/v1/label/job/values", "/api/v1/label/%00/values", "/api/v1/metadata",
    "/api/v1/query_exemplars", "/api/v1/targets", "/api/v1/rules", "/api/v1/alerts",
    "/api/v1/status/config", "/api/v1/format_query", "/federate", "/api/v2/alerts",
    "/api/v2/silences", "/api/v2/silence/x", "/api/v1/traces/search", "/api/v1/traces/red",
    "/api/v1/traces/0123", "/api/v1/logs/search", "/api/v1/alerts/telemetry",
    "/api/v1/quality/report", "/api/v1/quality/distributions", "/ui/api/dashboard",
    "/api/v1/notifications", "/ui/", "/ui/explore", "/login", "/runbooks/x",
]  # fmt: skip
POST_PATHS = [
    "/api/v1/write", "/v1/traces", "/v1/logs", "/api/v2/alerts", "/api/v2/silences",
    "/api/v1/quality/samples", "/api/v1/quality/reference", "/api/v1/query",
]  # fmt: skip
PARAMS = [
    "query",
    "time",
    "start",
    "end",
    "step",
    "timeout",
    "match[]",
    "limit",
    "service",
    "q",
    "trace_id",
    "min_duration",
    "since",
    "until",
    "level",
    "model",
    "feature",
    "lookback_delta",
    "stats",
    "filter",
    "active",
    "silenced",
    "inhibited",
    "receiver",
]
values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["up", "rate(up[5m])", "-1", "1e309", "NaN", "0", "99999999999999999999",
                     "2026-01-01T00:00:00Z", "1h", "1ms", "0.0001", "{", '{job=~".*"}',
                     "sum(up) by (job)", "label_replace(up,'a','b','c','d')", "-9e18"]),
)  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real vigie server with telemetry and quality on, fed one remote-write-free config."""
    data = tmp_path_factory.mktemp("fuzz-server")
    config = data / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring: {enabled: false}\n")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
         "--data-dir", str(data / "data"), "--listen", f"127.0.0.1:{port}",
         "--log-level", "error"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        raise AssertionError(process.communicate()[0])
    yield url
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output


def _check(response: httpx.Response, where: str) -> None:
    status = response.status_code
    body = response.text[:500]
    timed_out = status == 503 and '"timeout"' in body
    assert status < 500 or timed_out, f"{where}: {status} {body}"
    if where.split()[1].startswith("/api/v1/") and "/write" not in where and status != 404:
        envelope = json.loads(response.text)
        assert envelope["status"] in ("success", "error"), where


@FUZZ
@given(path=st.sampled_from(GET_PATHS),
       params=st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=6))  # fmt: skip
def test_get_endpoints(fuzz: Any, server: str, path: str, params: list[tuple[str, str]]) -> None:
    """Random query parameters on every read endpoint: 2xx or 4xx, never a crash."""
    response = fuzz.check(f"HTTP GET {path}", httpx.get, server + path,
                          params=params, timeout=10, allowed=())  # fmt: skip
    _check(response, f"GET {path} {params}")


@FUZZ
@given(path=st.sampled_from(POST_PATHS), data=st.data())
def test_post_endpoints(fuzz: Any, server: str, path: str, data: st.DataObject) -> None:
    """Random JSON or bytes on every write endpoint: a 4xx naming the problem, never a 5xx."""
    if data.draw(st.booleans()):
        body = json.dumps(data.draw(json_values)).encode()
        content_type = "application/json"
    else:
        body = data.draw(st.binary(max_size=200))
        content_type = data.draw(st.sampled_from(
            ["application/x-protobuf", "application/json", "text/plain", ""]))  # fmt: skip
    response = fuzz.check(f"HTTP POST {path}", httpx.post, server + path, content=body,
                          headers={"Content-Type": content_type}, timeout=10,
                          allowed=())  # fmt: skip
    _check(response, f"POST {path} {body[:100]!r}")


def test_dns_rebinding_is_refused(server: str) -> None:
    """Auth off on loopback: a foreign Host (a rebound domain) gets 403, loopback names pass."""
    port = server.rsplit(":", 1)[1]
    rebound = httpx.get(server + "/api/v1/labels", headers={"Host": f"attacker.example:{port}"})
    assert rebound.status_code == 403
    assert "DNS rebinding" in rebound.json()["error"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"grafana.localhost:{port}"):
        assert httpx.get(server + "/api/v1/labels", headers={"Host": host}).status_code == 200
