"""A real `vigie server` with data, and a real Chromium, for the UI tests.

The server scrapes the example app (driven by the traffic generator), evaluates a rule that fires
at once (and the AI rule pack), notifies a local webhook, and receives synthetic AI series by
remote write, traces and logs by OTLP/HTTP and quality samples, so every page has data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import REPO_ROOT, free_port, require_binary
from web import synthetic

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RULES = """\
groups:
  - name: ui-test
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: warning, job: faq-bot}
        annotations: {summary: A test alert that fires at once}
"""


@dataclass
class Stack:
    """The running server (``url``), the example app and what the webhook received."""

    url: str
    app_url: str
    hook: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def get(self, path: str, **params: Any) -> Any:
        return httpx.get(self.url + path, params=params, timeout=10).json()


def _config(app: str, hook_port: int, rules: Path) -> str:
    return f"""\
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ['{rules}']
scrape_configs:
  - job_name: example
    static_configs: [{{targets: ['{app}']}}]
vigie:
  self_monitoring: {{scrape_interval: 1s}}
  quality: {{check_interval: 1s}}
  rule_packs:
    ai: {{enabled: true}}
  alerting:
    routing:
      route:
        receiver: hook
        group_by: [alertname]
        group_wait: 0s
        group_interval: 1s
        repeat_interval: 2s
      receivers:
        - name: hook
          webhook_configs: [{{url: 'http://127.0.0.1:{hook_port}/hook'}}]
"""


def _webhook(received: list[tuple[float, dict[str, Any]]]) -> ThreadingHTTPServer:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append((time.time(), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _wait(
    check: Any, what: str, processes: list[subprocess.Popen[str]], timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, KeyError, IndexError, ValueError):
            pass
        time.sleep(0.2)
    for process in processes:
        process.kill()
    output = "\n".join(p.communicate()[0] or "" for p in processes)
    raise AssertionError(f"timed out waiting for {what}; output:\n{output[-4000:]}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """vigie server + example app + traffic + synthetic data, for the whole session."""
    require_binary("chromium")
    tmp = tmp_path_factory.mktemp("ui")
    received: list[tuple[float, dict[str, Any]]] = []
    hook = _webhook(received)
    app_port, port = free_port(), free_port()
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "vigie.demo.example_app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(app_port), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    rules = tmp / "rules.yml"
    rules.write_text(RULES)
    config = tmp / "vigie.yml"
    config.write_text(_config(f"127.0.0.1:{app_port}", hook.server_address[1], rules))
    server = subprocess.Popen(
        [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
         "--data-dir", str(tmp / "data"), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    processes = [server, app]
    running = Stack(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{app_port}", received)
    stop = threading.Event()
    try:
        _wait(lambda: httpx.get(running.url + "/-/ready").status_code == 200, "ready", processes)
        _wait(lambda: httpx.get(running.app_url + "/health").status_code == 200, "app", processes)
        from vigie.demo.traffic import TrafficGenerator

        traffic = TrafficGenerator(running.app_url, rate=20, mix="example", seed=7)
        threading.Thread(target=traffic.run, args=(stop, 60), daemon=True).start()
        now_ms = int(time.time() * 1000)
        synthetic.remote_write(running.url, synthetic.ai_series(now_ms))
        infrastructure = synthetic.host_series(now_ms) + synthetic.postgres_series(now_ms)
        infrastructure += synthetic.apps_series(now_ms) + synthetic.vigie_series(now_ms)
        synthetic.remote_write(running.url, infrastructure + synthetic.pool_series(now_ms))
        synthetic.telemetry(running.url, time.time_ns())
        synthetic.quality_samples(running.url, time.time())
        query = "sum(rate(http_server_request_duration_seconds_count[5m]))"

        def http_rate() -> bool:
            result = running.get("/api/v1/query", query=query)["data"]["result"]
            return bool(result) and float(result[0]["value"][1]) > 0

        _wait(http_rate, "HTTP traffic to be scraped", processes)
        _wait(lambda: any(a["labels"]["alertname"] == "AlwaysFiring" and a["state"] == "firing"
                          for a in running.get("/api/v1/alerts")["data"]["alerts"]),
              "AlwaysFiring", processes)  # fmt: skip
        _wait(lambda: running.get("/api/v1/quality/report")["data"]["models"], "quality", processes)
        _wait(lambda: running.get("/api/v1/traces/search")["data"], "traces", processes)
        yield running
    finally:
        stop.set()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
        hook.shutdown()
        hook.server_close()


@dataclass
class AuthStack:
    """A `vigie server` with ``vigie.security.auth: on`` and its viewer token."""

    url: str
    viewer: str


#: Login attempts a client may make at once on the auth server (then one every 5 s).
LOGIN_BURST = 4


@pytest.fixture(scope="session")
def auth_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthStack]:
    """A second server, authentication on, no data: the login flow."""
    require_binary("chromium")
    tmp = tmp_path_factory.mktemp("auth")
    config = tmp / "vigie.yml"
    config.write_text(
        "vigie:\n  security:\n    auth: on\n"
        f"    limits: {{login_rate: 0.2, login_burst: {LOGIN_BURST}}}\n"
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
         "--data-dir", str(tmp / "data"), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(url + "/-/ready").status_code == 200, "ready", [server])
        tokens = json.loads((tmp / "data" / "secrets" / "tokens.json").read_text())
        yield AuthStack(url, tokens["viewer"])
    finally:
        server.terminate()
        try:
            server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never a downloaded browser).

    Module scope: Playwright's sync API keeps an asyncio loop running while it is open, and a
    later test of the session that calls ``asyncio.run`` would fail.
    """
    path = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Problems:
    """What went wrong in the page: console errors, page errors, failed or refused requests."""

    items: list[str] = field(default_factory=list)
    allowed: tuple[str, ...] = ()

    def add(self, text: str) -> None:
        if not any(part in text for part in self.allowed):
            self.items.append(text)


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    """A fresh page of a fresh context; ``page.problems`` collects errors and failed requests."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    opened = context.new_page()
    problems = Problems()
    opened.on("console", lambda m: problems.add(f"console {m.text} {m.location.get('url', '')}")
              if m.type == "error" else None)  # fmt: skip
    opened.on("pageerror", lambda e: problems.add(f"page error {e}"))
    opened.on("requestfailed", lambda r: problems.add(f"request failed {r.url} {r.failure}"))
    opened.on(
        "response", lambda r: problems.add(f"HTTP {r.status} {r.url}") if r.status >= 400 else None
    )
    opened.problems = problems
    yield opened
    context.close()


def wait_ready(page: Any) -> None:
    """Wait until the page's script says its data is shown (no eval: the CSP forbids it)."""
    page.wait_for_selector("html[data-ready='1']", state="attached", timeout=20_000)
