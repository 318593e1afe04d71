"""`vigie demo` as a user runs it: the whole stack, or `--app-only` serving /metrics and /health."""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from support import free_port
from vigie.demo.launcher import DemoOptions, run_demo
from vigie.exceptions import ConfigurationError


def _vigie_command() -> list[str]:
    script = Path(sys.executable).with_name("vigie")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vigie.cli.main"]


def _wait_until_serving(url: str, process: subprocess.Popen[str], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "vigie demo exited before serving"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {within} s")


@pytest.mark.slow
def test_demo_serves_metrics_and_health_then_exits_0() -> None:
    """`vigie demo --app-only --duration 5` serves route-templated metrics and an ok /health."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            *_vigie_command(),
            "demo",
            "--app-only",
            "--duration",
            "5",
            "--port",
            str(port),
            "--rate",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_serving(f"{base}/health/live", process, within=20)
        health = httpx.get(f"{base}/health", timeout=5)
        time.sleep(1.5)  # let the traffic generator leave some requests behind
        assert httpx.get(f"{base}/faq/3", timeout=5).status_code == 200
        asked = httpx.post(
            f"{base}/ask", json={"question": "renew my passport", "strategy": "rag"}, timeout=10
        )
        metrics = httpx.get(f"{base}/metrics", timeout=5)
        stdout, stderr = process.communicate(timeout=25)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert health.status_code == 200
    document = health.json()
    assert document["status"] == "ok"
    assert set(document["checks"]) == {"database", "faq_index", "schema", "llm_backend"}
    assert all(check["status"] == "ok" for check in document["checks"].values())
    assert metrics.status_code == 200
    routes = set(
        re.findall(
            r'http_server_request_duration_seconds_count\{[^}]*http_route="([^"]*)"', metrics.text
        )
    )
    assert "/faq/{faq_id}" in routes
    assert not any(re.search(r"/\d", route) for route in routes), routes
    assert 'vigie_health_check_status{check="faq_index"} 1.0' in metrics.text
    assert asked.status_code == 200
    assert asked.json()["strategy"] == "rag"
    assert 'gen_ai_client_requests_total{error_type="",gen_ai_operation_name="chat"' in metrics.text
    assert 'retrieval_index_size{retriever="faq"} 60.0' in metrics.text
    assert f"metrics  {base}/metrics" in stdout
    assert f"health   {base}/health" in stdout
    assert f"docs     {base}/docs" in stdout
    assert "vigie demo: stopped after " in stdout
    assert re.search(r"traffic: \d+ requests", stdout)
    assert "Traceback" not in stderr


def test_busy_port_is_a_clear_error() -> None:
    """A port already in use is refused before anything starts, naming the port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"--port: cannot listen on 127.0.0.1:{port}"):
            run_demo(DemoOptions(port=port, duration=1))


def test_busy_port_exits_1_with_message(tmp_path: Path) -> None:
    """Through the command, a busy app port prints `vigie: error: ...` and exits 1."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                *_vigie_command(),
                "demo",
                "--port",
                str(port),
                "--duration",
                "1",
                "--listen",
                f"127.0.0.1:{free_port()}",
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"vigie: error: --port: cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(
    ("options", "field"),
    [({"port": 70000}, "--port"), ({"duration": 0}, "--duration"), ({"rate": -1}, "--rate")],
)
def test_bad_options_are_refused(options: dict[str, float], field: str) -> None:
    """Out-of-range options are configuration errors naming the flag."""
    with pytest.raises(ConfigurationError, match=f"^{field}: "):
        DemoOptions(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("app", ["faq", "example"])
def test_run_demo_stops_every_thread_it_started(app: str) -> None:
    """In-process, run_demo serves either app for its duration and leaves no thread behind."""
    import io
    import threading

    before = {thread.name for thread in threading.enumerate()}
    out = io.StringIO()
    code = run_demo(DemoOptions(port=free_port(), duration=2, rate=10, app=app, seed=1), out=out)
    assert code == 0
    text = out.getvalue()
    assert ("FAQ assistant at " if app == "faq" else "example FAQ app at ") in text
    assert ("drills   POST " in text) is (app == "faq")
    assert "vigie demo: stopped after " in text
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = {t.name for t in threading.enumerate()} - before
        if not any(name.startswith(("vigie-demo", "vigie-llm")) for name in left):
            break
        time.sleep(0.05)
    assert not any(name.startswith(("vigie-demo", "vigie-llm")) for name in left), left


@pytest.mark.slow
def test_full_demo_starts_everything_and_stops_everything(tmp_path: Path) -> None:
    """`vigie demo --duration`: server, app and sink come up, state is written, all stop."""
    server_port, app_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            *_vigie_command(),
            "demo",
            "--data-dir",
            str(tmp_path),
            "--duration",
            "10",
            "--listen",
            f"127.0.0.1:{server_port}",
            "--port",
            str(app_port),
            "--rate",
            "5",
            "--time-scale",
            "30",
            "--interval",
            "1s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_serving(f"http://127.0.0.1:{server_port}/-/ready", process, within=120)
        deadline = time.monotonic() + 10
        while not (tmp_path / "demo-state.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        state = json.loads((tmp_path / "demo-state.json").read_text())
        assert stat.S_IMODE((tmp_path / "demo-state.json").stat().st_mode) == 0o600
        assert httpx.get(f"http://127.0.0.1:{app_port}/health/live", timeout=5).status_code == 200
        assert httpx.get(state["sink_url"] + "/-/healthy", timeout=5).status_code == 200
        assert stat.S_IMODE((tmp_path / "drill-token").stat().st_mode) == 0o600
        app_command = Path(f"/proc/{state['children']['app']}/cmdline").read_bytes()
        assert state["drill_token"].encode() not in app_command  # not visible in `ps`
        assert b"--drill-token-file=" in app_command
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            # SIGTERM first: the demo then stops its children (SIGKILL would orphan them).
            process.terminate()
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    assert process.returncode == 0, stdout + stderr
    assert f"  UI       http://127.0.0.1:{server_port}/" in stdout
    assert "  webhook  http://127.0.0.1:" in stdout
    assert "time compressed 30x (5m windows are 10 s)" in stdout
    assert re.search(r"vigie demo: up in \d+\.\d s", stdout)
    assert "vigie demo: stopped after" in stdout
    assert "killed" not in stdout
    assert not (tmp_path / "demo-state.json").exists()
    assert not (tmp_path / "drill-token").exists()
    for pid in state["children"].values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    config = (tmp_path / "vigie.yml").read_text()
    assert f"127.0.0.1:{app_port}" in config


def test_full_demo_refuses_bad_options(tmp_path: Path) -> None:
    """A time scale below 1, a bad interval and the example app are refused, naming the flag."""
    from vigie.demo.supervisor import StackOptions

    with pytest.raises(ConfigurationError, match=r"^--time-scale: must be >= 1"):
        StackOptions(time_scale=0.5)
    with pytest.raises(ConfigurationError, match=r"^--interval: expected a duration"):
        StackOptions(scrape_interval="fast")
    result = subprocess.run(
        [*_vigie_command(), "demo", "--app", "example", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "vigie: error: --app: the full demo runs the faq app" in result.stderr
