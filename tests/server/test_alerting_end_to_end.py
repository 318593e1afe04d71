"""Issue 7's acceptance: AI pack on, app broken, one grouped notification, resolved, silenced.

A real `vigie server` process scrapes two real exposition servers (the "app"), evaluates the AI
rule pack (``for`` durations scaled down) and routes to a real webhook sink; real amtool makes
the silence.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from support import free_port, require_binary
from support.webhook_sink import WebhookSink

pytestmark = pytest.mark.slow

CONFIG = """\
global: {{scrape_interval: 500ms, scrape_timeout: 400ms, evaluation_interval: 500ms}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: [{targets}]}}]
vigie:
  self_monitoring: {{enabled: false}}
  telemetry: {{enabled: false}}
  rule_packs:
    ai: {{enabled: true, for_scale: 0.05}}
  alerting:
    retry: {{initial_backoff: 200ms, max_backoff: 1s}}
    routing:
      route:
        receiver: blackhole
        group_by: [alertname, job]
        group_wait: 2s
        group_interval: 1s
        repeat_interval: 1h
        routes:
          - receiver: team
            matchers: ['alertname="TargetDown"']
      receivers:
        - name: blackhole
        - name: team
          webhook_configs: [{{url: "{sink}/team"}}]
"""


class App:
    """A small real app exposing metrics on a fixed port; it can be stopped and restarted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.registry = CollectorRegistry()
        Counter("app_requests", "Requests.", registry=self.registry).inc(3)
        self._server: Any = None
        self.start()

    def start(self) -> None:
        self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Vigie:
    """`vigie server` as a subprocess."""

    def __init__(self, tmp_path: Path, apps: list[App], sink: WebhookSink) -> None:
        targets = ", ".join(f"'{app.address}'" for app in apps)
        config = tmp_path / "vigie.yml"
        config.write_text(CONFIG.format(targets=targets, sink=sink.url))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
             "--data-dir", str(tmp_path / "data"), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(self.url + path, params=params, timeout=5)

    def wait(self, check: Callable[[], object], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        state = [(n["status"], n["title"], n["state"]) for n in self.history()]
        self.process.kill()
        output = self.process.communicate()[0]
        raise AssertionError(f"timed out; notifications {state}; server output:\n{output}")

    def up(self) -> list[str]:
        result = self.get("/api/v1/query", query="up == 1").json()["data"]["result"]
        return sorted(row["metric"]["instance"] for row in result)

    def history(self) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/notifications").json()["data"])

    def stop(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGTERM)
        output = self.process.communicate(timeout=30)[0]
        return self.process.returncode, output


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Vigie, list[App], WebhookSink]]:
    """Two app instances, a webhook sink, and vigie scraping the apps, ready and scraping."""
    apps = [App(), App()]
    with WebhookSink() as sink:
        vigie = Vigie(tmp_path, apps, sink)
        try:
            vigie.wait(lambda: vigie.get("/-/ready").status_code == 200)
            vigie.wait(lambda: vigie.up() == sorted(app.address for app in apps))
            yield vigie, apps, sink
        finally:
            code, output = vigie.stop()
            for app in apps:
                app.stop()
        assert code == 0, output


def _firing_after(sink: WebhookSink, count: int, vigie: Vigie) -> list[Any]:
    vigie.wait(lambda: len(sink.bodies("/team")) >= count, timeout=30)
    return sink.bodies("/team")


def test_break_heal_and_silence(stack: tuple[Vigie, list[App], WebhookSink]) -> None:
    """One grouped firing notification with a working runbook link, then resolved; a silence
    made with amtool holds the next one back until it is expired."""
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    vigie, apps, sink = stack
    for app in apps:
        app.stop()
    [firing] = _firing_after(sink, 1, vigie)
    time.sleep(3)  # three group intervals: the group is not notified again (deduplicated)
    assert len(sink.bodies("/team")) == 1
    assert firing["status"] == "firing"
    assert firing["receiver"] == "team"
    assert firing["groupLabels"] == {"alertname": "TargetDown", "job": "app"}
    assert firing["commonLabels"] == {
        "alertname": "TargetDown",
        "job": "app",
        "severity": "critical",
    }
    assert firing["externalURL"] == vigie.url
    assert [alert["labels"]["instance"] for alert in firing["alerts"]] == sorted(
        app.address for app in apps
    )
    first = firing["alerts"][0]
    assert first["status"] == "firing"
    assert first["annotations"]["summary"] == f"app target {first['labels']['instance']} is down"
    assert first["annotations"]["runbook_url"] == f"{vigie.url}/runbooks/TargetDown"
    assert first["generatorURL"].startswith(f"{vigie.url}/graph?g0.expr=up%20%3D%3D%200")
    assert httpx.get(first["annotations"]["runbook_url"], timeout=5).status_code == 200

    for app in apps:
        app.start()
    vigie.wait(lambda: sink.bodies("/team")[-1]["status"] == "resolved", timeout=30)
    healed = sink.bodies("/team")[1:]
    # The two targets come back at their own scrape offsets: as in Alertmanager, a flush in
    # between reports the first resolution with the still-firing one ([FIRING:1]).
    resolved = [
        alert["labels"]["instance"]
        for body in healed
        for alert in body["alerts"]
        if alert["status"] == "resolved"
    ]
    assert sorted(resolved) == sorted(app.address for app in apps)
    sent = len(sink.bodies("/team"))

    def amtool_run(*arguments: str) -> str:
        result = subprocess.run(
            [amtool, f"--alertmanager.url={vigie.url}", *arguments],
            capture_output=True, text=True, timeout=20, check=True,
        )  # fmt: skip
        return result.stdout.strip()

    silence_id = amtool_run("silence", "add", "alertname=TargetDown", "-c", "maintenance")
    for app in apps:
        app.stop()
    vigie.wait(
        lambda: (
            [
                a["status"]["state"]
                for a in vigie.get("/api/v2/alerts", filter="alertname=TargetDown").json()
            ]
            == ["suppressed", "suppressed"]
        )
    )
    time.sleep(3)  # firing and silenced: nothing is sent
    assert len(sink.bodies("/team")) == sent
    amtool_run("silence", "expire", silence_id)
    [*_, again] = _firing_after(sink, sent + 1, vigie)
    assert again["status"] == "firing"
    assert len(again["alerts"]) == 2


def test_receiver_down_gets_every_notification_after_recovery(
    stack: tuple[Vigie, list[App], WebhookSink],
) -> None:
    """While the receiver fails, the firing and resolved notifications are retried; when it
    comes back every one of them arrives, once."""
    vigie, apps, sink = stack
    sink.failing = True
    for app in apps:
        app.stop()
    vigie.wait(
        lambda: any(
            n["receiver"] == "team" and n["status"] == "firing" and n["attempts"] >= 2
            for n in vigie.history()
        ),
        timeout=30,
    )
    for app in apps:
        app.start()
    vigie.wait(lambda: vigie.history()[0]["status"] == "resolved", timeout=30)
    queued = [n for n in reversed(vigie.history()) if n["receiver"] == "team"]
    assert {n["state"] for n in queued} == {"pending"}
    assert sink.bodies("/team") == []
    sink.failing = False
    _firing_after(sink, len(queued), vigie)
    time.sleep(2)  # and nothing more: each notification is delivered once
    bodies = sink.bodies("/team")
    # Retries run on each notification's own backoff, so arrival order is not guaranteed.
    assert sorted(body["status"] for body in bodies) == sorted(n["status"] for n in queued)
    assert {body["status"] for body in bodies} == {"firing", "resolved"}
    assert max(len(body["alerts"]) for body in bodies if body["status"] == "firing") == 2
    vigie.wait(lambda: {n["state"] for n in vigie.history()} == {"delivered"})
