"""The drill table matches the app's switches and the rule pack; the demo state file is private."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from vigie.demo.drill_runner import DRILL_NAMES, DRILLS, DrillError, run_drill
from vigie.demo.drills import DRILLS as APP_SWITCHES
from vigie.demo.supervisor import DemoState
from vigie.exceptions import ConfigurationError
from vigie.rules.packs.ai import render_ai_pack, runbook

STATE = DemoState(
    server_url="http://127.0.0.1:9800",
    app_url="http://127.0.0.1:8000",
    sink_url="http://127.0.0.1:9899",
    drill_token="token",
    database_url="sqlite:////tmp/history.db",
    migrations="/tmp/migrations",
    time_scale=10.0,
    evaluation_interval_seconds=2.0,
    pid=1,
    children={"server": 2, "app": 3},
)


def test_every_switch_and_down_is_a_drill() -> None:
    """`vigie drill` knows the app's seven switches plus `down`, in the issue's order."""
    assert DRILL_NAMES == ("latency", "errors", "llm-errors", "cost", "drift", "down", "auth",
                           "schema")  # fmt: skip
    assert set(DRILL_NAMES) == {*APP_SWITCHES, "down"}


def test_each_drill_expects_alerts_of_the_pack_with_runbooks() -> None:
    """Every expected alert is an alert of the AI pack and has a runbook."""
    names = set(re.findall(r"alert: (\w+)", render_ai_pack()))
    for spec in DRILLS.values():
        assert spec.alerts, spec.name
        for alert in spec.alerts:
            assert alert in names, (spec.name, alert)
            assert runbook(alert), alert


def test_state_round_trips_and_is_private(tmp_path: Path) -> None:
    """demo-state.json is written mode 0600 (it holds the drill token) and reads back equal."""
    path = tmp_path / "demo-state.json"
    STATE.write(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert DemoState.read(path) == STATE


def test_no_demo_is_a_clear_error(tmp_path: Path) -> None:
    """Without a running demo, reading the state names the file and says what to do."""
    with pytest.raises(ConfigurationError, match="start one with `vigie demo`") as raised:
        DemoState.read(tmp_path / "demo-state.json")
    assert raised.value.path == str(tmp_path / "demo-state.json")
    (tmp_path / "demo-state.json").write_text('{"server_url": 1}')
    with pytest.raises(ConfigurationError, match="unexpected demo state"):
        DemoState.read(tmp_path / "demo-state.json")


def test_unknown_drill_is_refused() -> None:
    """An unknown name is a DrillError listing the known drills, before any request."""
    with pytest.raises(DrillError, match="known: latency, errors"):
        run_drill("flood", STATE)
