"""Rule files load unchanged and bad ones fail with file, line and rule, as promtool."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from support import conformance_dir, require_binary
from vigie.exceptions import RuleFileError
from vigie.rules.rule_file import (
    AlertingRuleSpec,
    RecordingRuleSpec,
    check_rule_file,
    duplicate_rules,
    load_rule_file,
    parse_rule_text,
)

GOOD = """\
groups:
  - name: api
    interval: 30s
    query_offset: 1m
    limit: 10
    labels:
      team: platform
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels:
          source: recorded
      - alert: HighErrorRate
        expr: job:http_errors:ratio5m > 0.05
        for: 10m
        keep_firing_for: 5m
        labels:
          severity: "{{ if gt $value 0.1 }}critical{{ else }}warning{{ end }}"
        annotations:
          summary: "{{ $labels.job }} error ratio is {{ $value | humanizePercentage }}"
  - name: empty
    rules: []
"""

BAD_CASES = {
    "bad expression": (
        "groups:\n- name: g\n  rules:\n  - record: x\n    expr: 'sum(up'\n",
        5, "x", 'group "g", rule 1, "x": could not parse expression',
    ),
    "unknown rule field": (
        "groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n    severity: high\n",
        6, None, "field severity not found in type rulefmt.RuleNode",
    ),
    "unknown group field": (
        "groups:\n- name: g\n  evaluation_interval: 1m\n  rules: []\n",
        3, None, "field evaluation_interval not found in type rulefmt.RuleGroup",
    ),
    "duplicate group": (
        "groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n",
        4, None, 'groupname: "g" is repeated in the same file',
    ),
    "empty group name": (
        "groups:\n- name: ''\n  rules: []\n", 2, None, "Groupname must not be empty",
    ),
    "invalid label name": (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n"
        "    labels:\n      bad-name: x\n",
        7, "A", 'group "g", rule 1, "A": invalid label name: bad-name',
    ),
    "__name__ label": (
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n"
        "    labels:\n      __name__: x\n",
        7, "r", "invalid label name: __name__",
    ),
    "invalid record name": (
        "groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n",
        4, "bad name", "invalid recording rule name: bad name",
    ),
    "annotations on recording rule": (
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    annotations:\n      a: b\n",
        4, "r", "invalid field 'annotations' in recording rule",
    ),
    "for on recording rule": (
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 5m\n",
        4, "r", "invalid field 'for' in recording rule",
    ),
    "record and alert": (
        "groups:\n- name: g\n  rules:\n  - record: r\n    alert: A\n    expr: up\n",
        4, "A", "only one of 'record' and 'alert' must be set",
    ),
    "neither record nor alert": (
        "groups:\n- name: g\n  rules:\n  - expr: up\n",
        4, "", "one of 'record' or 'alert' must be set",
    ),
    "missing expr": (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    for: 1m\n",
        4, "A", "field 'expr' must be set in rule",
    ),
    "bad template": (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n"
        "      ok: fine\n      summary: '{{ $labels.x '\n",
        8, "A", 'annotation "summary": template: __alert_A:1: unclosed action',
    ),
    "undefined template function": (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n"
        "      severity: '{{ nosuch }}'\n",
        7, "A", 'label "severity": template: __alert_A:1: function "nosuch" not defined',
    ),
    "bad duration": (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5x\n",
        6, "A", "not a valid duration string: '5x'",
    ),
    "bad interval": (
        "groups:\n- name: g\n  interval: soon\n  rules: []\n",
        3, None, "not a valid duration string: 'soon'",
    ),
    "yaml syntax": ("groups:\n- name: g\n  rules: [\n", 4, None, "yaml: "),
}  # fmt: skip


def test_good_file_loads_every_field(tmp_path: Path) -> None:
    """Groups and rules come back with every field Prometheus defines."""
    path = tmp_path / "rules.yml"
    path.write_text(GOOD)
    rule_file = load_rule_file(path)
    assert rule_file.rule_count == 2
    api, empty = rule_file.groups
    assert (api.name, api.interval_ms, api.query_offset_ms, api.limit) == (
        "api",
        30_000,
        60_000,
        10,
    )
    assert api.labels == {"team": "platform"}
    assert empty.rules == ()
    assert empty.interval_ms is None
    record, alert = api.rules
    assert isinstance(record, RecordingRuleSpec)
    assert isinstance(alert, AlertingRuleSpec)
    assert record.record == "job:http_requests:rate5m"
    assert record.labels == {"source": "recorded"}
    assert (alert.for_ms, alert.keep_firing_for_ms) == (600_000, 300_000)
    assert alert.annotations["summary"].startswith("{{ $labels.job }}")
    assert (record.line, alert.line) == (9, 13)


def test_empty_file_has_no_groups() -> None:
    """An empty file is valid and holds no groups (as Prometheus)."""
    rule_file, errors = parse_rule_text("", "empty.yml")
    assert rule_file.groups == ()
    assert errors == []


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_file_names_file_line_and_rule(case: str, tmp_path: Path) -> None:
    """Each invalid file fails with the path, the line of the problem and the rule."""
    text, line, rule, message = BAD_CASES[case]
    path = tmp_path / "bad.yml"
    path.write_text(text)
    _, errors = check_rule_file(path)
    assert errors, case
    error = errors[0]
    assert isinstance(error, RuleFileError)
    assert error.path == str(path)
    assert error.line == line
    assert error.rule == rule
    assert message in str(error)
    assert str(error).startswith(f"{path}:{line}: ")
    with pytest.raises(RuleFileError):
        load_rule_file(path)


def test_every_error_is_reported(tmp_path: Path) -> None:
    """All problems of a file are listed, not only the first."""
    path = tmp_path / "many.yml"
    path.write_text(
        "groups:\n- name: g\n  rules:\n  - record: 'a b'\n    expr: up\n"
        "  - alert: A\n    expr: 'up +'\n"
    )
    _, errors = check_rule_file(path)
    assert [(e.line, e.rule) for e in errors] == [(4, "a b"), (7, "A")]


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    """An unreadable file is a RuleFileError naming it."""
    _, errors = check_rule_file(tmp_path / "absent.yml")
    assert len(errors) == 1
    assert errors[0].path == str(tmp_path / "absent.yml")


def test_conformance_rule_files() -> None:
    """The corpus' rules.yml is valid and bad-rules-syntax.yml fails at line 7, rule x."""
    folder = conformance_dir() / "promtool"
    rule_file, errors = check_rule_file(folder / "rules.yml")
    assert errors == []
    assert rule_file.rule_count == 5
    _, errors = check_rule_file(folder / "bad-rules-syntax.yml")
    assert [(e.line, e.rule) for e in errors] == [(7, "x")]
    assert "could not parse expression" in str(errors[0])


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_same_verdict_as_promtool_check_rules(case: str, tmp_path: Path) -> None:
    """The real `promtool check rules` also rejects each bad file (2.42: skip its newer fields)."""
    promtool = require_binary("promtool", package="prometheus")
    text = BAD_CASES[case][0]
    path = tmp_path / "bad.yml"
    path.write_text(text)
    completed = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr


def test_good_file_accepted_by_promtool(tmp_path: Path) -> None:
    """The real promtool accepts the good file (minus query_offset and group labels: post-2.42)."""
    promtool = require_binary("promtool", package="prometheus")
    path = tmp_path / "good.yml"
    path.write_text(
        GOOD.replace("    query_offset: 1m\n", "").replace(
            "    labels:\n      team: platform\n", ""
        )
    )
    completed = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "SUCCESS: 2 rules found" in completed.stdout
    assert check_rule_file(path)[1] == []


def test_duplicate_rules() -> None:
    """Rules with the same name and labels are listed once each, sorted (promtool's lint)."""
    rule = "  - record: {name}\n    expr: up\n    labels:\n      a: '{value}'\n"
    text = "groups:\n- name: g\n  rules:\n" + "".join(
        rule.format(name=name, value=value)
        for name, value in [("y", "1"), ("x", "1"), ("y", "1"), ("y", "1"), ("x", "2")]
    )
    rule_file, errors = parse_rule_text(text)
    assert errors == []
    assert duplicate_rules(rule_file) == [("y", {"a": "1"})]


BAD_TEMPLATES = [
    "{{ end }}", "{{ if }}{{ end }}", "{{ $x := }}", "{{ (1 }}", "{{ 1 ) }}", '{{ "abc }}',
    "{{ else }}", "{{ range }}{{ end }}", "{{ break }}", "{{ 3 | 4 }}", "{{ if 1 }}x",
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}", "{{ nosuch 1 }}", "{{ $y }}", "{{ }}",
    "{{ | humanize }}", "{{ with }}{{ end }}", "{{ .Labels..x }}",
    "{{ range $a, $b, $c := . }}{{ end }}", "{{ $a, $b := 1 }}",
    "{{ if $x := 1 }}{{ end }}{{ $x }}", "{{ continue }}", "{{ range . }}{{ break 1 }}{{ end }}",
    "{{ 1 }} {{", "{{ 'ab' }}", "{{ `x }}", "{{ 0x }}", "{{ 1e }}", "{{ /* x */ }}",
    "{{ else if 1 }}", "{{ if 1 }}{{ else if }}{{ end }}", "{{ true.x }}", "{{ @ }}",
    '{{ "\\q" }}', '{{ define "a" }}{{ $labels }}{{ end }}', "{{ template 3 }}",
]  # fmt: skip
GOOD_TEMPLATES = [
    "{{ $x = 1 }}", "{{ humanize | }}", '{{ define "x" }}{{ end }}', '{{ template "x" }}',
    "{{- /* ok */ -}}", "{{ $ }}",
]  # fmt: skip


def test_template_errors_match_promtool(tmp_path: Path) -> None:
    """Each template Prometheus refuses is refused with the same message; the others pass."""
    promtool = require_binary("promtool", package="prometheus")
    templates = BAD_TEMPLATES + GOOD_TEMPLATES
    rules = [
        {"alert": f"A{index}", "expr": "up", "annotations": {"s": text}}
        for index, text in enumerate(templates)
    ]
    path = tmp_path / "templates.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": rules}]}))
    completed = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    pattern = re.compile(r'rule (\d+), "A\d+": annotation "s": (.*)$', re.MULTILINE)
    theirs = {int(number): message for number, message in pattern.findall(completed.stderr)}
    _, errors = check_rule_file(path)
    ours = {
        int(number): message for error in errors for number, message in pattern.findall(str(error))
    }
    assert sorted(theirs) == list(range(1, len(BAD_TEMPLATES) + 1))
    assert ours == theirs
