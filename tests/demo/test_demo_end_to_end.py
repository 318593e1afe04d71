"""Every incident drill, end to end, against a real `vigie demo` (server, app, webhook sink).

One demo runs for the whole module (time compressed 30x, scraped and evaluated every second);
each drill must bring its alert to firing, deliver the firing notification with its runbook
link to the demo's webhook sink, then the resolved one. The module ends by stopping the demo
with SIGTERM and checking that every process it started is gone.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import free_port
from vigie.cli.drill import diagnose_schema
from vigie.demo.drill_runner import DRILLS, run_drill
from vigie.demo.supervisor import STATE_FILE, DemoState

pytestmark = pytest.mark.slow

STARTUP_LIMIT = 120.0  # the "within two minutes"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoState]:
    data_dir = tmp_path_factory.mktemp("vigie-demo")
    log = (data_dir.parent / "demo.out").open("w+")
    command = [
        sys.executable, "-m", "vigie.cli.main", "demo", "--data-dir", str(data_dir),
        "--listen", f"127.0.0.1:{free_port()}", "--port", str(free_port()),
        "--time-scale", "30", "--interval", "1s", "--rate", "10", "--day-seconds", "0",
        "--seed", "7",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
    state_path = data_dir / STATE_FILE
    started = time.monotonic()
    try:
        while not state_path.exists():
            if process.poll() is not None or time.monotonic() - started > STARTUP_LIMIT:
                log.seek(0)
                raise AssertionError(f"vigie demo did not start:\n{log.read()}")
            time.sleep(0.2)
        state = DemoState.read(state_path)
        yield state
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        log.seek(0)
        output = log.read()
        log.close()
    assert code == 0, output
    assert "vigie demo: stopped after" in output
    assert "Traceback" not in output
    assert not state_path.exists()
    for name, pid in state.children.items():
        assert not _alive(pid), f"the demo's {name} (pid {pid}) outlived it"


def test_the_demo_serves_the_server_the_app_and_the_sink(demo: DemoState) -> None:
    """The server scrapes the app (up 1), the app is healthy, the sink answers."""
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.get(demo.server_url + "/api/v1/query", params={"query": "up"}, timeout=5)
        results = answer.json()["data"]["result"]
        if any(item["metric"].get("job") == "faq" and item["value"][1] == "1" for item in results):
            break
        assert time.monotonic() < deadline, results
        time.sleep(0.5)
    assert httpx.get(demo.app_url + "/health", timeout=5).json()["status"] == "ok"
    assert httpx.get(demo.sink_url + "/-/healthy", timeout=5).status_code == 200


@pytest.mark.parametrize("name", [name for name in DRILLS if name != "schema"])
def test_drill_fires_notifies_and_resolves(demo: DemoState, name: str) -> None:
    """The drill's alert goes pending then firing, then both notifications reach the sink."""
    out = io.StringIO()
    result = run_drill(name, demo, out=out)
    spec = DRILLS[name]
    assert result.ok, out.getvalue()
    assert result.alert in spec.alerts
    assert f"{result.alert}:firing" in result.states, out.getvalue()
    if name != "down":  # TargetDown's `for` is 2 s here: pending may fall between two polls
        assert result.states.index(f"{result.alert}:pending") < result.states.index(
            f"{result.alert}:firing"
        )
    assert result.runbook_url == f"{demo.server_url}/runbooks/{result.alert}"
    assert httpx.get(result.runbook_url, timeout=5).status_code == 200
    assert result.resolved_notification is not None
    assert result.resolved_notification["status"] == "resolved"
    assert result.resolved_notification["labels"]["alertname"] == result.alert
    assert f"drill {name}: passed in" in out.getvalue()


def test_schema_drill_through_the_command(demo: DemoState) -> None:
    """`vigie drill schema` fires HealthCheckFailing and prints doctor's Alembic finding."""
    data_dir = Path(demo.database_url.removeprefix("sqlite:///")).parent
    result = subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "drill", "schema", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "alert HealthCheckFailing firing" in text
    assert f"runbook {demo.server_url}/runbooks/HealthCheckFailing" in text
    assert "diagnosis: doctor error health.check.schema: required check failing: database is " \
           "at revision 0001_questions, head is 0002_feedback" in text  # fmt: skip
    assert "diagnosis: doctor error schema:" in text
    assert "notification resolved HealthCheckFailing delivered" in text
    assert diagnose_schema(demo) == []  # healed: doctor finds nothing left to fix


def test_the_app_ships_its_traces_and_logs_to_the_server(demo: DemoState) -> None:
    """The demo app's spans and log records reach the server (Traces and Logs pages have data)."""
    deadline = time.monotonic() + 60
    while True:
        traces = httpx.get(
            demo.server_url + "/api/v1/traces/search",
            params={"service": "vigie-demo-faq"},
            timeout=5,
        ).json()["data"]
        logs = httpx.get(
            demo.server_url + "/api/v1/logs/search",
            params={"service": "vigie-demo-faq"},
            timeout=5,
        ).json()["data"]
        if traces and logs:
            break
        assert time.monotonic() < deadline, (traces, logs)
        time.sleep(1)
