"""``vigie promql test``: per-file counts, failure details, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.cli.main import main

PASSING = """
load 1m
    http_requests_total{job="api"} 0+60x10

eval instant at 5m rate(http_requests_total[5m])
    {job="api"} 1

eval instant at 5m mad_over_time(http_requests_total[5m])
    {job="api"} 0
"""

FAILING = """
load 1m
    up{job="api"} 1+1x5

eval instant at 2m up
    up{job="api"} 42
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_passing_file_prints_counts_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A passing file prints `FILE: 1 passed, 0 failed, 1 skipped` and exits 0."""
    path = _write(tmp_path, "ok.test", PASSING)
    assert main(["promql", "test", path]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: 1 passed, 0 failed, 1 skipped"]


def test_failing_case_is_detailed_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure prints the query, what was expected and what came back; exit code 1."""
    ok = _write(tmp_path, "ok.test", PASSING)
    bad = _write(tmp_path, "bad.test", FAILING)
    assert main(["promql", "test", ok, bad]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: 0 passed, 1 failed, 0 skipped" in out
    assert f"FAILED {bad}:5: up" in out
    assert "expected 42.0, got 3.0" in out


def test_unparsable_script_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A script line that does not parse is reported with file and line; exit code 2."""
    path = _write(tmp_path, "broken.test", "load 1m\n    up{ 1 2\n")
    assert main(["promql", "test", path]) == 2
    assert f"{path}:2" in capsys.readouterr().err


def test_show_skipped_lists_reasons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--show-skipped names each skipped case and why."""
    path = _write(tmp_path, "ok.test", PASSING)
    assert main(["promql", "test", "--show-skipped", path]) == 0
    assert "experimental function mad_over_time()" in capsys.readouterr().out
