"""rule_files evaluated by the server; alerts reach a real Alertmanager (Debian package)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from support import free_port, require_binary
from vigie.exceptions import RuleFileError
from vigie.server.app import create_app
from vigie.server.config import parse_config
from vigie.server.rule_evaluation import check_rule_files, rule_paths
from vigie.server.runtime import Server, ServerOptions
from vigie.store.interface import Matcher
from vigie.store.memory import MemoryStorage

RULES = """\
groups:
  - name: demo
    interval: 1s
    rules:
      - record: demo:answer
        expr: vector(42)
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: page}
        annotations: {summary: it fires}
"""


def test_rule_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    """Globs in rule_files are expanded from the config file's folder; bad files are errors."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text(RULES)
    (tmp_path / "rules" / "b.yml").write_text("groups: []\n")
    config = parse_config("rule_files: ['rules/*.yml']\n", path=str(tmp_path / "vigie.yml"))
    assert rule_paths(config) == [
        str(tmp_path / "rules" / "a.yml"),
        str(tmp_path / "rules" / "b.yml"),
    ]
    check_rule_files(config)
    (tmp_path / "rules" / "b.yml").write_text(
        "groups:\n  - name: x\n    rules:\n      - record: 'bad name'\n        expr: up\n"
    )
    with pytest.raises(RuleFileError):
        check_rule_files(config)


@pytest.mark.slow
def test_rules_run_and_alerts_reach_alertmanager(tmp_path: Path) -> None:
    """Recording rules write series, /api/v1/rules and /alerts answer, amtool sees the alert."""
    alertmanager = require_binary("prometheus-alertmanager", package="prometheus-alertmanager")
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    am_port = free_port()
    (tmp_path / "am.yml").write_text(
        "route: {receiver: blackhole}\nreceivers: [{name: blackhole}]\n"
    )
    log = tmp_path / "am.log"
    with log.open("w") as sink:
        am = subprocess.Popen(
            [alertmanager, f"--config.file={tmp_path / 'am.yml'}",
             f"--storage.path={tmp_path / 'am-data'}",
             f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
            stdout=sink, stderr=sink,
        )  # fmt: skip
    (tmp_path / "rules.yml").write_text(RULES)
    config = tmp_path / "vigie.yml"
    config.write_text(
        "global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n"
        "alerting:\n  alertmanagers:\n"
        f"    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
        "vigie: {self_monitoring: {enabled: false}}\n"
    )
    port = free_port()
    storage = MemoryStorage()
    server = Server(ServerOptions(tmp_path / "data", config, port=port), storage=storage)
    web = uvicorn.Server(
        uvicorn.Config(create_app(server), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        alerts: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                alerts = httpx.get(url + "/api/v1/alerts").json()["data"]["alerts"]
            except (httpx.HTTPError, KeyError):
                continue
            if alerts and alerts[0]["state"] == "firing":
                break
        assert alerts[0]["labels"] == {"alertname": "AlwaysFiring", "severity": "page"}
        groups = httpx.get(url + "/api/v1/rules").json()["data"]["groups"]
        assert [rule["name"] for rule in groups[0]["rules"]] == ["demo:answer", "AlwaysFiring"]
        recorded = storage.querier().select([Matcher("__name__", "=", "demo:answer")], 0, 2**62)
        assert recorded[0].values[0] == 42.0
        received: list[dict[str, object]] = []
        while time.monotonic() < deadline and not received:
            result = subprocess.run(
                [amtool, "alert", "query", "-o", "json", f"--alertmanager.url=http://127.0.0.1:{am_port}"],
                capture_output=True, text=True, timeout=10,
            )  # fmt: skip
            received = json.loads(result.stdout or "[]")
            time.sleep(0.3)
        assert received, log.read_text()[-2000:]
        assert received[0]["labels"]["alertname"] == "AlwaysFiring"
        assert received[0]["generatorURL"].startswith(f"{url}/graph?g0.expr=vector%281%29")
    finally:
        web.should_exit = True
        thread.join(timeout=10)
        am.terminate()
        am.wait(timeout=20)


def test_rules_run_under_the_configured_query_limits(tmp_path: Path) -> None:
    """vigie.query's max_samples and lookback_delta apply to rules, as to API queries."""
    from vigie.server.rule_evaluation import RuleEvaluation

    (tmp_path / "rules.yml").write_text(
        "groups:\n  - name: limits\n    interval: 1s\n    rules:\n"
        "      - record: job:up:count\n        expr: count(up)\n"
    )

    def evaluate(query_section: str, at_ms: int) -> tuple[dict[str, object], list[float]]:
        storage = MemoryStorage()
        appender = storage.appender()
        for number in range(5):
            appender.append({"__name__": "up", "instance": f"h{number}"}, 1_000, 1.0)
        appender.commit()
        config = parse_config(
            f"rule_files: [rules.yml]\nvigie:\n  query:\n{query_section}",
            path=str(tmp_path / "vigie.yml"),
        )
        rules = RuleEvaluation(storage, "http://127.0.0.1:9")
        rules.apply(config)
        rules.manager.run_pending(at_ms - 1_000)  # schedules the group's first tick
        assert rules.manager.run_pending(at_ms) == 1  # one evaluation in (at_ms - 1 s, at_ms]
        rule = rules.manager.rules_data()["groups"][0]["rules"][0]
        recorded = storage.querier().select(
            [Matcher("__name__", "=", "job:up:count")], 0, at_ms + 1
        )
        values = [float(value) for series in recorded for value in series.values]
        return rule, values

    rule, values = evaluate("    max_samples: 100\n", 3_000)
    assert (rule["health"], values) == ("ok", [5.0])
    rule, values = evaluate("    max_samples: 3\n", 3_000)
    assert rule["health"] == "err"
    assert "too many samples" in str(rule["lastError"])
    assert values == []
    # About 20 s after the samples: inside a 1 m lookback, outside a 10 s one.
    assert evaluate("    lookback_delta: 1m\n", 22_000)[1] == [5.0]
    assert evaluate("    lookback_delta: 10s\n", 22_000)[1] == []
