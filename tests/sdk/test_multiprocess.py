"""Multi-process metrics: exact totals across workers, dead workers folded, real gunicorn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from support import free_port
from vigie.exceptions import ConfigurationError
from vigie.sdk.exposition import render_metrics
from vigie.sdk.multiprocess import compact, mark_process_dead, on_starting

SRC = Path(__file__).resolve().parents[2] / "src"

WORKER = """
from vigie.sdk.http_metrics import HttpServerMetrics
metrics = HttpServerMetrics()
for index in range({requests}):
    metrics.record("GET", "http", "/items/{{item_id}}", 200, 0.02 * (index % 7), 10, 100)
metrics.active_child("GET", "http").inc()  # a request "in flight" when the worker dies
"""


def env_for(directory: Path) -> dict[str, str]:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return env


def run_worker(directory: Path, requests: int) -> int:
    """Run one real worker process recording ``requests`` requests; return its pid."""
    process = subprocess.run(
        [sys.executable, "-c", WORKER.format(requests=requests)],
        env=env_for(directory),
        timeout=60,
        check=True,
    )
    assert process.returncode == 0
    return _last_pid(directory)


def _last_pid(directory: Path) -> int:
    newest = max(directory.glob("counter_*.db"), key=lambda p: p.stat().st_mtime_ns)
    return int(newest.stem.rsplit("_", 1)[1])


def scrape(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = render_metrics(CollectorRegistry(), multiprocess_dir=str(directory)).body.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name.startswith("http_server")
    }


def total_requests(values: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(v for (name, _), v in values.items() if name == "http_server_requests_total")


def test_dead_workers_folded_totals_exact(tmp_path: Path) -> None:
    """Folding dead workers keeps every counter and bucket exact and leaves one archive per type."""
    pids = [run_worker(tmp_path, requests) for requests in (5, 7, 11)]
    before = scrape(tmp_path)
    assert total_requests(before) == 23
    active = [v for (name, _), v in before.items() if name == "http_server_active_requests"]
    assert sum(active) == 3

    for pid in pids[:2]:
        mark_process_dead(pid, tmp_path)
    after = scrape(tmp_path)
    without_gauges = {k: v for k, v in after.items() if k[0] != "http_server_active_requests"}
    assert without_gauges == {
        k: v for k, v in before.items() if k[0] != "http_server_active_requests"
    }
    assert sum(v for (name, _), v in after.items() if name == "http_server_active_requests") == 1
    names = sorted(p.name for p in tmp_path.glob("*.db"))
    assert names == sorted(
        [
            "counter_archive.db",
            "histogram_archive.db",
            f"counter_{pids[2]}.db",
            f"histogram_{pids[2]}.db",
            f"gauge_livesum_{pids[2]}.db",
        ]
    )


def test_compact_folds_processes_that_are_gone(tmp_path: Path) -> None:
    """compact() folds the files of exited processes and keeps those of live ones."""
    pids = [run_worker(tmp_path, 3) for _ in range(4)]
    assert sorted(compact(tmp_path, live_pids=[pids[0]])) == sorted(pids[1:])
    assert total_requests(scrape(tmp_path)) == 12
    assert sorted(compact(tmp_path)) == [pids[0]]  # the process has exited: not alive
    assert total_requests(scrape(tmp_path)) == 12
    assert len(list(tmp_path.glob("*.db"))) == 2


def test_on_starting_clears_a_previous_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gunicorn on_starting hook empties the directory of a previous run."""
    run_worker(tmp_path, 2)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    on_starting(object())
    assert list(tmp_path.glob("*.db")) == []


def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    """Folding into a directory that does not exist names the variable to fix."""
    with pytest.raises(ConfigurationError, match="PROMETHEUS_MULTIPROC_DIR"):
        mark_process_dead(1, tmp_path / "absent")


APP = """
from fastapi import FastAPI
import vigie

app = FastAPI()

@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict:
    return {"item_id": item_id}

vigie.instrument_fastapi(app)
"""

CONF = """
from vigie.sdk.multiprocess import child_exit, on_starting  # noqa: F401 - gunicorn hooks

bind = "127.0.0.1:{port}"
workers = {workers}
worker_class = "uvicorn.workers.UvicornWorker"
graceful_timeout = 5
"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _wait_for_workers(master: int, workers: int, port: int, deadline: float) -> list[int]:
    while time.monotonic() < deadline:
        children = _children(master)
        if len(children) == workers:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=2).status_code == 200:
                    return children
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not get back to {workers} workers")


def _send(port: int, count: int) -> None:
    # A new connection per request spreads the requests over the workers.
    for index in range(count):
        response = httpx.get(
            f"http://127.0.0.1:{port}/items/{index}", headers={"Connection": "close"}, timeout=10
        )
        assert response.status_code == 200


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_gunicorn_workers_killed_and_restarted_totals_exact(tmp_path: Path) -> None:
    """Real gunicorn, uvicorn workers SIGKILLed/SIGTERMed: totals stay exact, files bounded."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"")  # stale: on_starting must clear it
    (tmp_path / "app.py").write_text(APP)
    port = free_port()
    workers = 3
    (tmp_path / "gunicorn.conf.py").write_text(CONF.format(port=port, workers=workers))
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
        cwd=tmp_path,
        env=env_for(directory),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        _wait_for_workers(master.pid, workers, port, deadline)
        sent = 30
        _send(port, sent)
        file_count = len(list(directory.glob("*.db")))
        for cycle in range(6):
            time.sleep(0.3)  # let the last response be recorded (after its last byte)
            victim = _children(master.pid)[0]
            os.kill(victim, signal.SIGKILL if cycle % 2 == 0 else signal.SIGTERM)
            deadline_cycle = time.monotonic() + 30
            while victim in _children(master.pid) and time.monotonic() < deadline_cycle:
                time.sleep(0.05)
            _wait_for_workers(master.pid, workers, port, deadline)
            _send(port, 10)
            sent += 10
            # One file set per live worker plus the archives, however many restarts happened.
            assert len(list(directory.glob("*.db"))) <= file_count + 3
        time.sleep(0.3)
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        totals = [
            sample.value
            for family in text_string_to_metric_families(body)
            for sample in family.samples
            if sample.name == "http_server_requests_total"
            and sample.labels["http_route"] == "/items/{item_id}"
        ]
        assert sum(totals) == sent
        assert (directory / "counter_archive.db").exists()
        assert not (directory / "counter_999999.db").exists()
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(timeout=30)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
        if master.stderr is not None:
            errors = master.stderr.read().decode()
            master.stderr.close()
            assert "Traceback" not in errors, errors
