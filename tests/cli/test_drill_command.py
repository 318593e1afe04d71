"""`vigie drill` as a user runs it: clear errors without a demo; the e2e test plays the drills."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support import free_port
from vigie.demo.supervisor import DemoState


def _vigie(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_demo_it_says_how_to_start_one(tmp_path: Path) -> None:
    """No demo-state.json: exit 1 and a message naming the file and `vigie demo`."""
    result = _vigie("drill", "errors", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path / 'demo-state.json'}: no running demo found" in result.stderr
    assert "vigie demo" in result.stderr


def test_unknown_drill_is_a_usage_error(tmp_path: Path) -> None:
    """A name outside the list is refused by argparse (exit 2), listing the choices."""
    result = _vigie("drill", "flood", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "latency" in result.stderr
    assert "schema" in result.stderr


def test_a_demo_that_went_away_fails_cleanly(tmp_path: Path) -> None:
    """A stale state file (nothing listening) fails the drill with exit 1, not a traceback."""
    dead = f"http://127.0.0.1:{free_port()}"
    DemoState(dead, dead, dead, "token", "sqlite://", "/nowhere", 10.0, 2.0, 1).write(
        tmp_path / "demo-state.json"
    )
    result = _vigie("drill", "down", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "drill down: FAILED: the demo does not answer" in result.stdout
    assert "Traceback" not in result.stderr
