"""Helm values for kube-prometheus-stack, Loki and Tempo carry the same configuration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from support import require_binary
from vigie.stack import build_stack, load_stack_config


def _values(sample: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    routing = (sample / "alertmanager.yml").read_text(encoding="utf-8")
    files = build_stack(load_stack_config(sample / "vigie.yml"), routing).files
    return {
        path.rsplit("/", 1)[-1]: yaml.safe_load(text)
        for path, text in files.items()
        if path.startswith("kubernetes/")
    }


def test_kube_prometheus_stack_values(sample: Path, tmp_path: Path) -> None:
    """Jobs, rules, Alertmanager config, dashboards and the admin secret are in the values."""
    values = _values(sample)["kube-prometheus-stack.values.yml"]
    spec = values["prometheus"]["prometheusSpec"]
    assert [job["job_name"] for job in spec["additionalScrapeConfigs"]] == ["faq-bot"]
    assert spec["remoteWrite"] == [{"url": "https://mimir.example.com/api/v1/push"}]
    assert spec["retention"] == "30d"
    assert sorted(values["additionalPrometheusRulesMap"]) == ["app", "vigie-ai-rules"]
    assert sorted(values["grafana"]["dashboards"]["vigie"]) == [
        "vigie-ai-overview",
        "vigie-infrastructure",
    ]
    dashboard = json.loads(values["grafana"]["dashboards"]["vigie"]["vigie-ai-overview"]["json"])
    assert dashboard["uid"] == "vigie-ai-overview"
    assert "adminPassword" not in values["grafana"]
    # The embedded Alertmanager config and rules are what amtool and promtool accept.
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    promtool = require_binary("promtool", package="prometheus")
    (tmp_path / "am.yml").write_text(yaml.safe_dump(values["alertmanager"]["config"]))
    result = subprocess.run([amtool, "check-config", str(tmp_path / "am.yml")],
                            capture_output=True, text=True, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for name, rules in values["additionalPrometheusRulesMap"].items():
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump(rules))
        result = subprocess.run([promtool, "check", "rules", str(path)],
                                capture_output=True, text=True, timeout=30)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


def test_loki_and_tempo_values(sample: Path) -> None:
    """Loki runs single binary; Tempo receives OTLP on the standard ports."""
    values = _values(sample)
    assert values["loki.values.yml"]["deploymentMode"] == "SingleBinary"
    protocols = values["tempo.values.yml"]["tempo"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
