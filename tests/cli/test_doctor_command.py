"""`vigie doctor` as a user runs it: on the example app, bad apps, a database and Prometheus."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import free_port, require_binary
from vigie.cli.main import main

_EXAMPLE_APP = (
    "import sys, uvicorn\n"
    "from vigie.demo.example_app import create_app\n"
    "uvicorn.run(create_app(seed=1), host='127.0.0.1', port=int(sys.argv[1]),\n"
    "            log_level='warning')\n"
)

HEALTHY = {"status": "ok", "version": "1.0", "checks": {}}
DOWN = {
    "status": "down",
    "checks": {"db": {"status": "failing", "required": True, "message": "connection refused"}},
}
LINT_ONLY = "# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n"


def _vigie_command() -> list[str]:
    script = Path(sys.executable).with_name("vigie")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vigie.cli.main"]


def _wait_for(url: str, process: subprocess.Popen[bytes] | None, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, "the process exited early"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {within} s")


@pytest.fixture(scope="module")
def example_app() -> Iterator[str]:
    """The demo's example app in its own process, on a free port, with some traffic served."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _EXAMPLE_APP, str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/health/live", process, within=30)
        for path in ("/faq/3", "/faq/999", "/ask?q=passport", "/categories/taxes/faq"):
            httpx.get(base + path, timeout=5)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def _serve(routes: dict[str, tuple[int, str, str]]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = routes.get(self.path, (404, "text/plain", "not found"))
            payload = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def plain_app() -> Iterator[Any]:
    """Start small apps from route tables; they stop at the end of the test."""
    servers: list[ThreadingHTTPServer] = []

    def start(health: dict[str, Any], metrics: str, status: int = 200) -> str:
        server, base = _serve(
            {
                "/health": (status, "application/json", json.dumps(health)),
                "/health/ready": (status, "application/json", json.dumps(health)),
                "/metrics": (200, "text/plain; version=0.0.4", metrics),
            }
        )
        servers.append(server)
        return base

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["doctor", *argv])
    return code, capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out = _run(capsys, *argv, "--format", "json")
    return code, json.loads(out)


def _serious(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (item["check"], item["severity"], item["message"])
        for item in document["findings"]
        if item["severity"] in ("warning", "error")
    )


def test_example_app_is_healthy_exit_0(
    example_app: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The example app passes every check: only ok and info findings, exit code 0."""
    code, document = _json(capsys, example_app)
    assert code == 0
    assert document["worst"] == "info"
    assert _serious(document) == []
    checks = {item["check"]: item for item in document["findings"]}
    assert checks["health"]["message"] == "status ok (version 0.1.0), 3 checks passing"
    assert {"health.check.faq_index", "health.check.disk", "health.check.answer_engine"} <= set(
        checks
    )
    assert checks["health.ready"]["severity"] == "ok"
    assert checks["metrics.lint"]["message"] == "lint-clean (the rules of `promtool check metrics`)"
    assert checks["metrics.scrape"]["details"]["scrapes"] == 3
    assert checks["metrics.scrape"]["details"]["body_bytes"] > 1000
    present = next(
        item["details"]["present"]
        for item in document["findings"]
        if item["check"] == "metrics.recommended" and item["severity"] == "ok"
    )
    assert present == ["http_server_request_duration_seconds", "process_resident_memory_bytes"]
    routes = [
        row
        for row in checks["cardinality.labels"]["details"]["labels"]
        if row["label"] == "http_route"
    ]
    assert routes
    assert all(row["values"] <= 5 for row in routes)


def test_example_app_text_report_through_the_command(example_app: str) -> None:
    """The installed `vigie doctor` prints a readable report and exits 0."""
    result = subprocess.run(
        [*_vigie_command(), "doctor", example_app], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"vigie doctor: {example_app}"
    assert any(line.startswith("ok       health.check.faq_index") for line in lines)
    assert "-> added by vigie.record_prediction(model, label, confidence)" in result.stdout
    assert lines[-1].startswith("0 error(s), 0 warning(s), ")
    assert lines[-1].endswith("; exit code 0")


def test_warnings_only_exit_1(plain_app: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A healthy app with a lint problem exits 1 and names the problem and its fix."""
    base = plain_app(HEALTHY, LINT_ONLY)
    code, out = _run(capsys, base)
    assert code == 1
    assert "warning  metrics.lint" in out
    assert 'requests: counter metrics should have "_total" suffix' in out
    assert "-> rename it requests_total (a counter)" in out


def test_failing_required_check_exit_2(plain_app: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """A required check failing is an error: exit 2, the check and its message reported."""
    base = plain_app(DOWN, LINT_ONLY, status=503)
    code, document = _json(capsys, base)
    assert code == 2
    assert document["worst"] == "error"
    assert document["exit_code"] == 2
    assert _serious(document) == [
        ("health", "error", "status down (HTTP 503): failing db"),
        ("health.check.db", "error", "required check failing: connection refused"),
        ("health.ready", "error", "/health/ready answers 503: the app is not ready for traffic"),
        ("metrics.lint", "warning", 'requests: counter metrics should have "_total" suffix'),
    ]


def test_schema_behind_through_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--database-url on a database one migration behind exits 2, naming both revisions."""
    from alembic import command
    from alembic.config import Config

    folder = tmp_path / "migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(
        "from alembic import context\n"
        "from sqlalchemy import create_engine\n"
        "engine = create_engine(context.config.get_main_option('sqlalchemy.url'))\n"
        "with engine.connect() as connection:\n"
        "    context.configure(connection=connection)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n"
    )
    for revision, down in (("a1", None), ("b2", "a1")):
        (folder / "versions" / f"{revision}.py").write_text(
            f'"""step {revision}"""\nrevision = "{revision}"\ndown_revision = {down!r}\n'
            "def upgrade():\n    pass\n"
        )
    url = f"sqlite:///{tmp_path / 'app.db'}"
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "a1")
    code, document = _json(capsys, "--database-url", url, "--alembic-config", str(folder))
    assert code == 2
    assert _serious(document) == [
        (
            "schema",
            "error",
            "database is at revision a1, head is b2: 1 migration not applied (b2 step b2)",
        )
    ]
    assert document["target"]["database_url"] == "given"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "vigie: error: give an app URL, --server URL or --database-url URL to check"),
        (["localhost:8000"], "vigie: error: URL: 'localhost:8000' is not an http(s) URL"),
        (["http://x", "--timeout", "0"], "vigie: error: --timeout: must be a positive number"),
    ],
)
def test_bad_invocations_exit_1(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing to check, a URL without a scheme or a bad timeout: a clear error, exit 1."""
    assert main(["doctor", *argv]) == 1
    assert capsys.readouterr().err.startswith(message)


_PROMETHEUS_CONFIG = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
  - job_name: faq
    static_configs:
      - targets: ["127.0.0.1:{dead}"]
"""

_RULES = """\
groups:
  - name: doctor
    rules:
      - record: job:broken:sum
        expr: >-
          vector(1) * on() (label_replace(vector(1), "a", "1", "", "")
          or label_replace(vector(2), "a", "2", "", ""))
      - alert: FaqDown
        expr: up{job="faq"} == 0
        labels:
          severity: critical
        annotations:
          summary: the FAQ app is down
          runbook_url: https://example.org/runbooks/FaqDown
"""


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A real Prometheus scraping a dead target, with a rule that fails and an alert that fires."""
    binary = require_binary("prometheus", package="prometheus")
    folder = tmp_path_factory.mktemp("prometheus")
    dead, port = free_port(), free_port()
    (folder / "prometheus.yml").write_text(_PROMETHEUS_CONFIG.format(dead=dead))
    (folder / "rules.yml").write_text(_RULES)
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/-/ready", process, within=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            alerts = httpx.get(base + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            groups = httpx.get(base + "/api/v1/rules", timeout=5).json()["data"]["groups"]
            failing = [
                rule for group in groups for rule in group["rules"] if rule["health"] == "err"
            ]
            if any(alert["state"] == "firing" for alert in alerts) and failing:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("Prometheus did not fire the alert and fail the rule in 30 s")
        yield base, dead
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.slow
def test_server_checks_against_real_prometheus(
    prometheus: tuple[str, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """--server reports the dead target, the failing rule, the firing alert; exit 2."""
    base, dead = prometheus
    code, document = _json(capsys, "--server", base)
    assert code == 2
    findings = [(item["check"], item["severity"], item["message"]) for item in document["findings"]]
    target = findings[0]
    assert target[:2] == ("server.targets", "error")
    assert target[2].startswith(f"target http://127.0.0.1:{dead}/metrics (job faq) is down: ")
    assert "connection refused" in target[2]
    rule = findings[1]
    assert rule[:2] == ("server.rules", "error")
    assert rule[2].startswith("rule job:broken:sum in group doctor (")
    assert "found duplicate series for the match group" in rule[2]
    assert findings[2] == (
        "server.alerts",
        "error",
        f"alert FaqDown firing (instance=127.0.0.1:{dead}, job=faq, severity=critical): "
        "the FAQ app is down",
    )
    assert document["findings"][2]["action"] == (
        "follow the runbook https://example.org/runbooks/FaqDown"
    )
    assert findings[3] == (
        "server.notifications",
        "info",
        "notification history not available on this server (/api/v1/notifications: 404)",
    )
    assert len(findings) == 4


def test_unreachable_server_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """A --server nobody listens on is one error finding, exit 2."""
    url = f"http://127.0.0.1:{free_port()}"
    code, document = _json(capsys, "--server", url, "--timeout", "2")
    assert code == 2
    assert _serious(document) == [("server", "error", f"{url} is not reachable: ConnectError")]


@pytest.mark.slow
def test_server_checks_against_real_vigie_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same checks work on `vigie server`: dead target, failing rule, firing alert; exit 2."""
    dead, port = free_port(), free_port()
    (tmp_path / "vigie.yml").write_text(_PROMETHEUS_CONFIG.format(dead=dead))
    (tmp_path / "rules.yml").write_text(_RULES)
    process = subprocess.Popen(
        [
            *_vigie_command(),
            "server",
            "--config",
            str(tmp_path / "vigie.yml"),
            "--data-dir",
            str(tmp_path / "data"),
            "--listen",
            f"127.0.0.1:{port}",
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/api/v1/targets", process, within=30)
        deadline = time.monotonic() + 30
        while True:
            code, document = _json(capsys, "--server", base)
            checks = [(item["check"], item["severity"]) for item in document["findings"]]
            if ("server.alerts", "error") in checks and ("server.rules", "error") in checks:
                break
            assert time.monotonic() < deadline, document
            time.sleep(0.3)
    finally:
        process.terminate()
        process.wait(10)
    assert code == 2
    messages = [item["message"] for item in document["findings"]]
    assert messages[0].startswith(f"target http://127.0.0.1:{dead}/metrics (job faq) is down: ")
    assert messages[1].startswith("rule job:broken:sum in group doctor (")
    assert "found duplicate series for the match group" in messages[1]
    assert messages[2] == (
        f"alert FaqDown firing (instance=127.0.0.1:{dead}, job=faq, severity=critical): "
        "the FAQ app is down"
    )
    assert document["findings"][3]["check"] == "server.notifications"
    assert document["findings"][3]["severity"] in ("ok", "info")
    assert len(messages) == 4


def test_server_checks_with_auth_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Auth on: without a token one error naming --token-file; with the token, the real checks."""
    from support.vigie_server import QUIET, serving_vigie
    from vigie.server.secrets_store import TokenStore
    from vigie.store.memory import MemoryStorage

    monkeypatch.delenv("VIGIE_TOKEN", raising=False)
    config = QUIET + "  security: {auth: on}\n"
    with serving_vigie(config, tmp_path, MemoryStorage()) as (url, _port, _server):
        code, document = _json(capsys, "--server", url)
        assert code == 2
        (finding,) = document["findings"]
        assert (finding["check"], finding["severity"]) == ("server", "error")
        assert finding["message"] == f"{url}: the server requires a token (HTTP 401)"
        assert finding["action"].startswith("pass the token with --token-file FILE")
        token_file = tmp_path / "viewer-token"
        token = TokenStore(tmp_path / "data").current().viewer
        token_file.write_text(token)
        code, document = _json(capsys, "--server", url, "--token-file", str(token_file))
        checks = [(item["check"], item["severity"]) for item in document["findings"]]
        assert ("server.targets", "warning") in checks  # no target: the API was read
        assert ("server.rules", "ok") in checks
        assert ("server.notifications", "ok") in checks
        code, out = _run(capsys, "--server", url, "--token", token)
        assert token not in out
