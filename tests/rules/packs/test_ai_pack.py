"""The AI rule pack is valid Prometheus, passes its promtool tests, and has runbooks."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import require_binary
from vigie.rules.packs.ai import (
    AIPackThresholds,
    render_ai_pack,
    runbook,
    runbook_names,
    thresholds_from_mapping,
)

HERE = Path(__file__).parent


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    """A folder with the rendered pack and its promtool test file."""
    (tmp_path / "ai.rules.yml").write_text(render_ai_pack(), encoding="utf-8")
    shutil.copy(HERE / "ai_pack_test.yml", tmp_path / "ai_pack_test.yml")
    return tmp_path


def _alert_names(text: str) -> set[str]:
    groups = yaml.safe_load(text)["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_promtool_checks_the_pack(pack_dir: Path) -> None:
    """`promtool check rules` accepts the rendered pack."""
    promtool = require_binary("promtool", package="prometheus")
    result = subprocess.run(
        [promtool, "check", "rules", "ai.rules.yml"], cwd=pack_dir, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass(pack_dir: Path) -> None:
    """The real promtool runs the pack's unit tests: every alert fires where it should."""
    promtool = require_binary("promtool", package="prometheus")
    result = subprocess.run(
        [promtool, "test", "rules", "ai_pack_test.yml"],
        cwd=pack_dir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_vigie_runs_the_same_unit_tests(pack_dir: Path) -> None:
    """vigie's own promtool-format runner passes the same tests on the same file."""
    from vigie.rules import run_test_file

    result = run_test_file(pack_dir / "ai_pack_test.yml")
    assert result.errors == [], result.errors


def test_cli_renders_the_pack(tmp_path: Path) -> None:
    """`vigie rules pack ai --set ...` writes the pack with the given thresholds."""
    from vigie.cli.main import main

    output = tmp_path / "pack.yml"
    code = main(["rules", "pack", "ai", "--set", "llm_daily_spend_eur=20,40", "-o", str(output)])
    assert code == 0
    text = output.read_text(encoding="utf-8")
    assert "job:gen_ai_client_cost_eur:increase1d > 20.0" in text
    assert main(["rules", "pack", "ai", "--set", "nonsense=1"]) == 1


def test_promtool_notices_a_wrong_threshold(pack_dir: Path) -> None:
    """The unit tests can fail: a pack with another budget does not pass them."""
    promtool = require_binary("promtool", package="prometheus")
    other = render_ai_pack(AIPackThresholds(llm_daily_spend_eur=(500, 1000)))
    (pack_dir / "ai.rules.yml").write_text(other, encoding="utf-8")
    result = subprocess.run(
        [promtool, "test", "rules", "ai_pack_test.yml"],
        cwd=pack_dir,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "LLMDailySpendHigh" in result.stdout + result.stderr


def test_every_alert_is_tested_and_has_a_runbook() -> None:
    """Each alert of the pack appears in the promtool tests and has a complete runbook."""
    names = _alert_names(render_ai_pack())
    tested = set(re.findall(r"alertname: (\w+)", (HERE / "ai_pack_test.yml").read_text()))
    assert names - tested == set()
    assert names == set(runbook_names())
    for name in names:
        text = runbook(name) or ""
        for section in ("## What it means", "## Likely causes", "## Diagnosis", "## Remediation"):
            assert section in text, (name, section)


def test_every_alert_escalates_or_is_single() -> None:
    """Alerts carry severity, summary, description and a runbook link."""
    groups = yaml.safe_load(render_ai_pack())["groups"]
    for rule in (r for g in groups for r in g["rules"] if "alert" in r):
        assert rule["labels"]["severity"] in {"warning", "critical", "none"}
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"].endswith(f"/runbooks/{rule['alert']}")


def test_thresholds_are_parameters() -> None:
    """Thresholds change the rendered rules; output is deterministic; unknown keys are refused."""
    default = render_ai_pack()
    assert default == render_ai_pack()
    custom = render_ai_pack(thresholds_from_mapping({"http_p95_seconds": [0.5, 2]}))
    assert "job:http_server_request_duration_seconds:p95_5m > 0.5" in custom
    assert "job:http_server_request_duration_seconds:p95_5m > 1.0" in default
    with pytest.raises(ValueError, match="unknown"):
        thresholds_from_mapping({"budget": 3})
    assert runbook("NoSuchAlert") is None
