"""`vigie query` against a real server over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from support import free_port
from vigie.cli.query import parse_when, render
from vigie.server.app import create_app
from vigie.server.runtime import Server, ServerOptions
from vigie.store.memory import MemoryStorage

BASE = 1_700_000_000


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """A vigie server in a thread holding two series."""
    storage = MemoryStorage()
    appender = storage.appender()
    for step in range(5):
        t = (BASE + step * 60) * 1000
        appender.append({"__name__": "up", "job": "api", "instance": "a:1"}, t, 1.0)
        appender.append({"__name__": "up", "job": "db", "instance": "b:2"}, t, 0.0)
    appender.commit()
    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring:\n    enabled: false\n")
    port = free_port()
    server = Server(ServerOptions(tmp_path, config, port=port), storage=storage)
    web = uvicorn.Server(
        uvicorn.Config(create_app(server), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url
    web.should_exit = True
    thread.join(timeout=10)


def _vigie(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "query", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_instant_query_table(server_url: str) -> None:
    """The default output is a table of series, value and time."""
    result = _vigie("up", "--time", str(BASE + 240), "--server", server_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "SERIES                         VALUE  TIME",
        'up{instance="a:1", job="api"}  1      2023-11-14T22:17:20.000Z',
        'up{instance="b:2", job="db"}   0      2023-11-14T22:17:20.000Z',
    ]


def test_range_query_csv_and_json(server_url: str) -> None:
    """--range with --format csv prints one row per point; json prints the API data."""
    args = ("sum(up)", "--range", "--start", str(BASE), "--end", str(BASE + 120),
            "--step", "1m", "--server", server_url)  # fmt: skip
    csv_output = _vigie(*args, "--format", "csv")
    assert csv_output.returncode == 0, csv_output.stderr
    assert csv_output.stdout.splitlines() == [
        "timestamp,value", f"{BASE},1", f"{BASE + 60},1", f"{BASE + 120},1",
    ]  # fmt: skip
    data = json.loads(_vigie(*args, "--format", "json").stdout)
    assert data["resultType"] == "matrix"
    assert data["result"][0]["values"][0] == [BASE, "1"]


def test_errors_exit_non_zero(server_url: str) -> None:
    """A bad query prints Prometheus's error and exits 1; an unreachable server too."""
    bad = _vigie("sum(up))", "--server", server_url)
    assert bad.returncode == 1
    assert "bad_data: 1:8: parse error: unexpected right parenthesis ')'" in bad.stderr
    down = _vigie("up", "--server", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1
    assert "cannot reach" in down.stderr


def test_parse_when_and_render() -> None:
    """Relative and absolute times; scalars render as one row."""
    assert parse_when("-1h30m", 10_000.0) == 10_000.0 - 5400
    assert parse_when("now", 5.0) == 5.0
    assert parse_when("2023-11-14T22:13:20Z", 0) == BASE
    assert render({"resultType": "scalar", "result": [BASE, "2"]}, "csv") == (
        f"timestamp,value\n{BASE},2\n"
    )
