"""`vigie rules check` and `vigie rules test`: output and exit codes like promtool."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vigie.cli.main import main

DATA = Path(__file__).resolve().parents[1] / "rules" / "data"


def test_check_valid_files(capsys: pytest.CaptureFixture[str]) -> None:
    """Valid files: SUCCESS with the rule count, exit 0."""
    code = main(["rules", "check", str(DATA / "service_rules.yml"), str(DATA / "order_rules.yml")])
    out = capsys.readouterr().out
    assert code == 0
    assert f"Checking {DATA / 'service_rules.yml'}\n  SUCCESS: 5 rules found\n" in out
    assert "  SUCCESS: 2 rules found" in out


def test_check_invalid_file_names_file_line_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid file: FAILED with file:line and the rule on stderr, exit 1."""
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: api\n  rules:\n  - alert: Down\n    expr: 'up =='\n")
    code = main(["rules", "check", str(DATA / "order_rules.yml"), str(bad)])
    captured = capsys.readouterr()
    assert code == 1
    assert "  FAILED:" in captured.err
    assert f'{bad}:5: group "api", rule 1, "Down": could not parse expression' in captured.err
    assert "SUCCESS: 2 rules found" in captured.out


def test_test_command_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """`vigie rules test` exits 0 when all pass and 1 when one fails."""
    assert main(["rules", "test", str(DATA / "order_test.yml")]) == 0
    assert "  SUCCESS" in capsys.readouterr().out
    assert (
        main(["rules", "test", str(DATA / "order_test.yml"), str(DATA / "failing_test.yml")]) == 1
    )
    assert "  FAILED:" in capsys.readouterr().err


def test_run_selects_test_groups(capsys: pytest.CaptureFixture[str]) -> None:
    """--run keeps only the test groups whose name matches."""
    failing = str(DATA / "failing_test.yml")
    assert main(["rules", "test", "--run", "^nothing$", failing]) == 0
    assert main(["rules", "test", "--run", "nothing", "--run", "wrong", failing]) == 1
    assert main(["rules", "test", "--run", "(", failing]) == 2
    assert "invalid regular expression" in capsys.readouterr().err


def test_check_duplicate_rules_lint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Duplicate rules are a lint problem: exit 0, or 3 with --lint-fatal, as promtool."""
    path = tmp_path / "dup.yml"
    rule = "  - record: x\n    expr: up\n    labels:\n      a: b\n"
    path.write_text("groups:\n- name: g\n  rules:\n" + rule + rule)
    assert main(["rules", "check", str(path)]) == 0
    assert capsys.readouterr().err == (
        "  FAILED:\nlint error 1 duplicate rule(s) found.\nMetric: x\nLabel(s):\n\ta: b\n"
        "Might cause inconsistency while recording expressions\n"
    )
    assert main(["rules", "check", "--lint-fatal", str(path)]) == 3
    assert main(["rules", "check", "--lint=none", "--lint-fatal", str(path)]) == 0


def test_real_process() -> None:
    """The installed command runs as a process with promtool's exit code."""
    command = [sys.executable, "-m", "vigie.cli.main", "rules", "test", "failing_test.yml"]
    completed = subprocess.run(command, cwd=DATA, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 1
    assert completed.stdout.startswith("Unit Testing:  failing_test.yml\n")
    assert "alertname: Watchdog, time: 2m" in completed.stderr


def test_rules_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`vigie rules` alone shows its commands and exits 2."""
    assert main(["rules"]) == 2
    assert "check" in capsys.readouterr().out
