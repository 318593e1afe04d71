"""End to end on the real stack: demo app -> real Prometheus -> real Alertmanager -> webhook.

The exported prometheus.yml and alertmanager.yml run unchanged except for what a laptop needs:
addresses rewritten to loopback, 1 s intervals, and TargetDown's ``for`` shortened from 1m to 1s.
Watchdog, routed to its own receiver, proves the pipeline works before the fault.
The fault is the demo app going away; TargetDown must arrive with its labels, annotations and
runbook link, then the resolved notification once the app is back.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from support import free_port, require_binary
from support.alertmanager import running_alertmanager
from support.webhook_sink import WebhookSink
from vigie.stack import build_stack, parse_stack_config

_APP = (
    "import sys, uvicorn\n"
    "from vigie.demo.example_app import create_app\n"
    "uvicorn.run(create_app(seed=1), host='127.0.0.1', port=int(sys.argv[1]), log_level='error')\n"
)


def _wait(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {timeout}s")


@contextmanager
def _process(args: list[str], ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(ready_url)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _app(port: int) -> Any:
    return _process([sys.executable, "-c", _APP, str(port)], f"http://127.0.0.1:{port}/metrics")


def _notifications(sink: WebhookSink, path: str, status: str, timeout: float) -> list[Any]:
    """Alerts named TargetDown for job faq-bot with ``status``, waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            alert
            for body in sink.bodies(path)
            for alert in body["alerts"]
            if alert["labels"].get("alertname") == "TargetDown"
            and alert["labels"].get("job") == "faq-bot"
            and alert["status"] == status
        ]
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {status} TargetDown; received: {sink.bodies()}")


def test_alert_travels_prometheus_alertmanager_webhook(tmp_path: Path) -> None:
    """The demo app stops: TargetDown reaches the webhook, then its resolution does."""
    prometheus = require_binary("prometheus", package="prometheus")
    app_port, prometheus_port = free_port(), free_port()
    config = parse_stack_config(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: faq-bot\n    static_configs: [{{targets: ['127.0.0.1:{app_port}']}}]\n"
        "vigie:\n  rule_packs: {ai: true}\n"
        "  stack: {runbook_url: 'https://runbooks.example.com/vigie'}\n"
    )
    with WebhookSink() as sink:
        routing = (
            "route:\n  receiver: team\n  group_by: [alertname, job]\n"
            "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
            '  routes:\n    - matchers: [alertname="Watchdog"]\n      receiver: deadman\n'
            "receivers:\n"
            f"  - name: team\n    webhook_configs: [{{url: '{sink.url}/team'}}]\n"
            f"  - name: deadman\n    webhook_configs: [{{url: '{sink.url}/deadman'}}]\n"
        )
        stack = build_stack(config, routing)
        with running_alertmanager(stack.files["alertmanager.yml"], tmp_path / "am") as am_url:
            out = tmp_path / "prometheus"
            (out / "rules").mkdir(parents=True)
            document = yaml.safe_load(stack.files["prometheus.yml"])
            document["alerting"]["alertmanagers"][0]["static_configs"] = [
                {"targets": [am_url.removeprefix("http://")]}
            ]
            for job in document["scrape_configs"]:
                if job["job_name"] == "prometheus":
                    job["static_configs"] = [{"targets": [f"127.0.0.1:{prometheus_port}"]}]
            (out / "prometheus.yml").write_text(yaml.safe_dump(document))
            rules = yaml.safe_load(stack.files["rules/vigie-ai.rules.yml"])
            for group in rules["groups"]:
                group["interval"] = "1s"
                for rule in group["rules"]:
                    if rule.get("alert") == "TargetDown":
                        rule["for"] = "1s"
            (out / "rules" / "vigie-ai.rules.yml").write_text(yaml.safe_dump(rules))
            command = [
                prometheus,
                f"--config.file={out / 'prometheus.yml'}",
                f"--storage.tsdb.path={out / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                f"--web.external-url=http://127.0.0.1:{prometheus_port}",
                "--rules.alert.resend-delay=1s",  # the first send may precede AM discovery
                "--log.level=warn",
            ]
            with _process(command, f"http://127.0.0.1:{prometheus_port}/-/ready"):
                with _app(app_port):
                    heartbeat = sink.wait_for(1, timeout=30, prefix="/deadman")
                    assert heartbeat[0]["alerts"][0]["labels"]["alertname"] == "Watchdog"
                    time.sleep(2)  # a few successful scrapes of the app
                    assert not [
                        alert
                        for body in sink.bodies("/team")
                        for alert in body["alerts"]
                        if alert["labels"].get("job") == "faq-bot"
                    ]
                firing = _notifications(sink, "/team", "firing", timeout=30)[0]
                assert firing["labels"] == {
                    "alertname": "TargetDown",
                    "instance": f"127.0.0.1:{app_port}",
                    "job": "faq-bot",
                    "severity": "critical",
                }
                assert firing["annotations"]["summary"] == (
                    f"faq-bot target 127.0.0.1:{app_port} is down"
                )
                assert firing["annotations"]["runbook_url"] == (
                    "https://runbooks.example.com/vigie/TargetDown"
                )
                assert firing["generatorURL"].startswith(f"http://127.0.0.1:{prometheus_port}/")
                with _app(app_port):
                    resolved = _notifications(sink, "/team", "resolved", timeout=30)[0]
                assert resolved["labels"] == firing["labels"]
                assert resolved["endsAt"] > firing["startsAt"]
