"""`vigie rules test` runs promtool's unit-test format with promtool's verdicts and output."""

from __future__ import annotations

import io
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest

from support import conformance_dir, require_binary
from vigie.rules.unit_test import (
    RuleTestResult,
    format_go_duration,
    format_model_duration,
    run_test_file,
    run_test_files,
)

DATA = Path(__file__).parent / "data"
# Test files of ours, written to be read the same by Prometheus 2.x and 3.x (no sample sits
# exactly on a window's edge, where the two versions differ).
DATA_VERDICTS = {
    "service_test.yml": 0,
    "gaps_test.yml": 0,
    "order_test.yml": 0,
    "unknown_group_test.yml": 0,
    "missing_rules_test.yml": 0,
    "failing_test.yml": 1,
    "malformed_test.yml": 1,
    "repeated_group_test.yml": 1,
}
CORPUS_VERDICTS = {
    "unittest.yml": 0,
    "failing.yml": 1,
    "bad-rules-error-test.yml": 1,
    "bad-rules-syntax-test.yml": 1,
}


@cache
def _corpus_result(name: str) -> RuleTestResult:
    return run_test_file(conformance_dir() / "promtool" / name)


def _run_vigie(folder: Path, name: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        code = run_test_files([name], out=out, err=err)
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()


def _run_promtool(folder: Path, name: str) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool", package="prometheus")
    return subprocess.run(
        [promtool, "test", "rules", name],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("name", sorted(CORPUS_VERDICTS))
def test_corpus_verdicts(name: str) -> None:
    """The corpus passes where it should (unittest.yml) and fails where it should."""
    result = _corpus_result(name)
    assert result.passed == (CORPUS_VERDICTS[name] == 0), result.errors


def test_corpus_unittest_skips_only_native_histograms() -> None:
    """unittest.yml passes; only its 3 native-histogram series and 3 cases are skipped."""
    result = _corpus_result("unittest.yml")
    assert result.errors == []
    assert len(result.skipped) == 6
    assert all("histogram" in reason for reason in result.skipped)


def test_corpus_failures_are_the_expected_ones() -> None:
    """failing.yml fails on exactly its 4 wrong expectations; bad rules fail as promtool says."""
    failing = _corpus_result("failing.yml")
    assert len(failing.errors) == 4
    assert failing.errors[1] == (
        '    expr: "test", time: 0s,\n'
        '        exp: {__name__="test"} 1E+00\n'
        '        got: {__name__="test"} 0E+00'
    )
    error = _corpus_result("bad-rules-error-test.yml").errors
    assert len(error) == 1
    assert error[0].startswith("    rule: joined, time: 0s, err: found duplicate series")
    syntax = _corpus_result("bad-rules-syntax-test.yml").errors
    assert len(syntax) == 1
    assert "bad-rules-syntax.yml:7:" in syntax[0]
    assert 'rule 1, "x": could not parse expression' in syntax[0]


@pytest.mark.parametrize("name", sorted(DATA_VERDICTS))
def test_data_file_verdicts(name: str) -> None:
    """Each test file of ours gives its known verdict."""
    code, _, _ = _run_vigie(DATA, name)
    assert code == DATA_VERDICTS[name]


@pytest.mark.parametrize("name", sorted(DATA_VERDICTS))
def test_same_output_as_promtool_on_our_files(name: str) -> None:
    """On our files the real promtool gives the same exit code and the same text."""
    promtool = _run_promtool(DATA, name)
    code, out, err = _run_vigie(DATA, name)
    assert code == promtool.returncode == DATA_VERDICTS[name]
    assert out == promtool.stdout
    assert err == promtool.stderr


@pytest.mark.parametrize("name", sorted(CORPUS_VERDICTS))
def test_same_verdict_as_promtool_on_the_corpus(name: str) -> None:
    """On each corpus file promtool 2.42 can read, vigie's verdict is promtool's."""
    folder = conformance_dir() / "promtool"
    promtool = _run_promtool(folder, name)
    code = 0 if _corpus_result(name).passed else 1
    if "field histogram not found" in promtool.stderr:
        # promtool 2.42 predates native-histogram expectations: it cannot read this file.
        assert name == "unittest.yml"
        assert code == 0
        return
    assert code == promtool.returncode


def test_output_and_exit_code(tmp_path: Path) -> None:
    """Output reads like promtool's; exit 0 only when every file passes."""
    code, out, err = _run_vigie(DATA, "order_test.yml")
    assert (code, out, err) == (0, "Unit Testing:  order_test.yml\n  SUCCESS\n\n", "")
    out_buffer, err_buffer = io.StringIO(), io.StringIO()
    code = run_test_files(
        [DATA / "order_test.yml", DATA / "failing_test.yml"], out=out_buffer, err=err_buffer
    )
    assert code == 1
    assert "  SUCCESS" in out_buffer.getvalue()
    assert err_buffer.getvalue().startswith("  FAILED:\n    name: wrong expectations,\n")


def test_start_timestamp_and_fuzzy_compare(tmp_path: Path) -> None:
    """start_timestamp shifts samples and time(); fuzzy_compare forgives the last bit."""
    path = tmp_path / "t.yml"
    path.write_text(
        "fuzzy_compare: true\n"
        "tests:\n"
        "  - start_timestamp: '2021-01-01T00:00:00Z'\n"
        "    input_series:\n"
        "      - series: x\n"
        "        values: '0.1 0.2'\n"
        "    promql_expr_test:\n"
        "      - expr: time()\n"
        "        eval_time: 1m\n"
        "        exp_samples:\n"
        "          - value: 1609459260\n"
        "      - expr: x + 0.2\n"
        "        eval_time: 0m\n"
        "        exp_samples:\n"
        "          - value: 0.30000000000000004\n"
        "            labels: '{}'\n"
        "      - expr: x * 3\n"
        "        eval_time: 0m\n"
        "        exp_samples:\n"
        "          - value: 0.3\n"
    )
    result = run_test_file(path)
    assert result.errors == []
    strict = tmp_path / "strict.yml"
    strict.write_text(path.read_text().replace("fuzzy_compare: true", "fuzzy_compare: false"))
    (error,) = run_test_file(strict).errors
    assert "exp: {} 3E-01" in error
    assert "got: {} 3.0000000000000004E-01" in error


def test_duration_formats() -> None:
    """Durations print as Prometheus's model.Duration and Go's time.Duration."""
    assert [format_model_duration(ms) for ms in (0, 300_000, 86_400_000, 179_999, 90_061_000)] == [
        "0s", "5m", "1d", "2m59s999ms", "1d1h1m1s",
    ]  # fmt: skip
    assert [format_go_duration(ms) for ms in (0, 60_000, 3_600_000, 179_999, 500)] == [
        "0s", "1m0s", "1h0m0s", "2m59.999s", "500ms",
    ]  # fmt: skip
