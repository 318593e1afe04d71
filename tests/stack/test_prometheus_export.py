"""The exported prometheus.yml and rule files pass promtool, including the AI pack's tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import REPO_ROOT, require_binary
from vigie.exceptions import ConfigurationError
from vigie.stack import build_stack, load_stack_config, parse_stack_config, write_stack


@pytest.fixture
def out(sample: Path, tmp_path: Path) -> Path:
    """The sample configuration exported to a folder."""
    routing = (sample / "alertmanager.yml").read_text(encoding="utf-8")
    write_stack(build_stack(load_stack_config(sample / "vigie.yml"), routing), tmp_path / "out")
    return tmp_path / "out"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_check_config(out: Path) -> None:
    """`promtool check config` accepts prometheus.yml and the rule files it names."""
    promtool = require_binary("promtool", package="prometheus")
    result = _run(promtool, "check", "config", "prometheus.yml", cwd=out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_promtool_check_rules(out: Path) -> None:
    """`promtool check rules` accepts the user's rule file and the AI pack."""
    promtool = require_binary("promtool", package="prometheus")
    result = _run(promtool, "check", "rules", "rules/app.yml", "rules/vigie-ai.rules.yml", cwd=out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rules found" in result.stdout


def test_promtool_runs_the_pack_tests_on_the_export(out: Path) -> None:
    """The AI pack's promtool unit tests pass against the exported rule file."""
    promtool = require_binary("promtool", package="prometheus")
    shutil.copy(out / "rules" / "vigie-ai.rules.yml", out / "rules" / "ai.rules.yml")
    shutil.copy(REPO_ROOT / "tests/rules/packs/ai_pack_test.yml", out / "rules")
    result = _run(promtool, "test", "rules", "ai_pack_test.yml", cwd=out / "rules")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_vigie_jobs_are_replaced_by_exporters(out: Path) -> None:
    """Self-monitoring and collectors become Prometheus, node, postgres and cAdvisor jobs."""
    document = yaml.safe_load((out / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in document["scrape_configs"]}
    assert list(jobs) == ["faq-bot", "prometheus", "node", "postgres", "cadvisor"]
    assert jobs["postgres"]["static_configs"] == [
        {"targets": ["postgres-exporter-main:9187"], "labels": {"server": "main"}}
    ]
    assert document["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["alertmanager:9093"]}], "timeout": "5s"}]
    }
    assert document["remote_write"] == [{"url": "https://mimir.example.com/api/v1/push"}]
    assert document["rule_files"] == ["rules/app.yml", "rules/vigie-ai.rules.yml"]


def test_invalid_rule_file_stops_the_export(sample: Path) -> None:
    """A rule file Prometheus would refuse is reported, not exported."""
    (sample / "rules" / "bad.yml").write_text(
        "groups:\n  - name: x\n    rules:\n      - alert: A\n        expr: up ==\n"
    )
    with pytest.raises(ConfigurationError, match="invalid rule file"):
        build_stack(load_stack_config(sample / "vigie.yml"))


def test_runbook_url_follows_the_config() -> None:
    """vigie.stack.runbook_url replaces the pack's default runbook address."""
    config = parse_stack_config(
        "vigie:\n  rule_packs: {ai: true}\n  stack: {runbook_url: 'https://wiki.example/rb/'}\n"
    )
    files = build_stack(config).files
    assert "runbook_url: https://wiki.example/rb/TargetDown" in files["rules/vigie-ai.rules.yml"]
    assert files["runbooks/TargetDown.md"].startswith("#")


def test_vigie_default_interval_is_kept() -> None:
    """vigie's 15s default scrape interval is written out (Prometheus's own default is 1m)."""
    config = parse_stack_config("global: {evaluation_interval: 30s}\n")
    document = yaml.safe_load(build_stack(config).files["prometheus.yml"])
    assert document["global"] == {"scrape_interval": "15s", "evaluation_interval": "30s"}


def test_localhost_target_is_warned_about() -> None:
    """A localhost target would be the Prometheus container: the export says so."""
    config = parse_stack_config(
        "scrape_configs:\n  - job_name: app\n    static_configs: [{targets: ['localhost:8000']}]\n"
    )
    warnings = build_stack(config).warnings
    assert any("target localhost:8000 is the Prometheus container" in text for text in warnings)
