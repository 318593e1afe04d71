"""Time compression of the AI pack (demo use): windows and `for` divided, rules still valid."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from support import require_binary
from vigie.rules.packs.ai import ai_pack_groups, render_ai_pack


def _rules(groups: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for group in groups:
        for rule in group["rules"]:  # type: ignore[attr-defined]
            found.setdefault(rule.get("alert") or rule["record"], rule)
    return found


def test_windows_and_for_are_divided() -> None:
    """time_scale=20: [5m] -> [15s], for 15m -> 45s, 1d -> 72m; names keep their window."""
    rules = _rules(ai_pack_groups(time_scale=20))
    assert "[15s]" in str(rules["job:http_server_errors:ratio_rate5m"]["expr"])
    assert rules["LowConfidenceShareHigh"]["for"] == "45s"
    assert rules["TargetDown"]["for"] == "3s"
    assert rules["LLMTokenRateHigh"]["for"] == "30s"
    assert "[72m]" in str(rules["job:gen_ai_client_cost_eur:increase1d"]["expr"])
    assert rules["HealthCheckFailing"]["for"] == "3s"
    assert "for" not in rules["LLMDailySpendHigh"]


def test_uneven_division_uses_milliseconds() -> None:
    """A window that does not divide into whole seconds is written in ms."""
    rules = _rules(ai_pack_groups(time_scale=7))
    assert "[42857ms]" in str(rules["job:http_server_requests:rate5m"]["expr"])


def test_scale_one_is_the_plain_pack() -> None:
    """Without time_scale the text is unchanged (no header line, 5m windows)."""
    assert render_ai_pack(time_scale=1.0) == render_ai_pack()
    assert "compressed" not in render_ai_pack()
    assert "Time compressed 30x" in render_ai_pack(time_scale=30)


def test_bad_scale_is_refused() -> None:
    """A scale of zero or below is a ValueError."""
    with pytest.raises(ValueError, match="time_scale must be > 0"):
        ai_pack_groups(time_scale=0)


def test_promtool_accepts_the_compressed_pack(tmp_path: Path) -> None:
    """The compressed pack is a valid Prometheus rule file."""
    promtool = require_binary("promtool", package="prometheus")
    path = tmp_path / "ai.rules.yml"
    path.write_text(render_ai_pack(time_scale=30))
    assert yaml.safe_load(path.read_text())["groups"]
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: \d+ rules found", result.stdout)
