"""Alertmanager-format routing files load with Alertmanager's defaults and precise errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from vigie.exceptions import RoutingConfigError
from vigie.notify.config import load_routing_config, parse_routing_config

CONFIG = """
global:
  resolve_timeout: 2m
  smtp_smarthost: "127.0.0.1:2525"
  smtp_from: vigie@example.org
route:
  receiver: default
  group_by: [alertname]
  routes:
    - matchers: ['team="ai"', 'severity=~"critical|page"']
      receiver: ai
      group_wait: 5s
      continue: true
      routes:
        - match: {model: gpt}
          receiver: mail
    - match_re: {service: "faq|cv"}
      receiver: mail
      group_by: ['...']
receivers:
  - name: default
    webhook_configs: [{url: "http://127.0.0.1:1/hook"}]
  - name: ai
    discord_configs: [{webhook_url: "https://discord.com/api/webhooks/1/abc"}]
    slack_configs: [{api_url: "https://hooks.slack.com/services/T/B/X"}]
  - name: mail
    email_configs: [{to: oncall@example.org}]
"""


def test_defaults_and_inheritance() -> None:
    """Children inherit grouping and timing; unset values take Alertmanager's defaults."""
    config = parse_routing_config(CONFIG)
    root = config.route
    assert config.resolve_timeout == timedelta(minutes=2)
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (
        timedelta(seconds=30),
        timedelta(minutes=5),
        timedelta(hours=4),
    )
    ai, mail = root.routes
    assert ai.group_by == ("alertname",)
    assert ai.group_wait == timedelta(seconds=5)
    assert ai.routes[0].group_wait == timedelta(seconds=5)
    assert mail.group_by_all


def test_integration_defaults() -> None:
    """send_resolved defaults per channel, and e-mail settings come from global."""
    receivers = parse_routing_config(CONFIG).receivers
    discord, slack = receivers["ai"].integrations
    assert (discord.kind, discord.send_resolved) == ("discord", True)
    assert (slack.kind, slack.send_resolved) == ("slack", False)
    email = receivers["mail"].integrations[0]
    assert email.settings["smarthost"] == "127.0.0.1:2525"
    assert email.settings["from"] == "vigie@example.org"


def test_route_matching_and_keys() -> None:
    """Routes match depth first with continue; keys are Alertmanager's."""
    root = parse_routing_config(CONFIG).route
    labels = {"alertname": "X", "team": "ai", "severity": "page", "model": "gpt", "service": "faq"}
    matched = root.match(labels)
    assert [route.receiver for route in matched] == ["mail", "mail"]
    assert matched[0].key() == '{}/{severity=~"critical|page",team="ai"}/{model="gpt"}'
    assert matched[1].key() == '{}/{service=~"faq|cv"}'
    assert [r.receiver for r in root.match({"alertname": "Y"})] == ["default"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("route:\n  receiver: nobody\nreceivers:\n  - name: a\n", 1, "undefined receiver"),
        ("route:\n  receiver: a\n  group_wait: soon\nreceivers: [{name: a}]\n", 3, "group_wait"),
        ("route:\n  receiver: a\n  colour: red\nreceivers: [{name: a}]\n", 3, "unknown field"),
        ("route:\n  receiver: a\nreceivers:\n  - name: a\n  - name: a\n", 5, "not unique"),
        (
            "route:\n  receiver: a\n  routes:\n    - matchers: ['x=~\"(\"']\n"
            "receivers: [{name: a}]\n",
            4,
            "regular expression",
        ),
        (
            "route: {receiver: a}\nreceivers:\n  - name: a\n    webhook_configs: [{}]\n",
            4,
            "missing url",
        ),
        ("route: {receiver: a, matchers: [x=y]}\nreceivers: [{name: a}]\n", 1, "root route"),
        ("route: {receiver: a\n", 2, "invalid YAML"),
    ],
)
def test_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    """Each mistake is reported with the file, the line and what is wrong."""
    with pytest.raises(RoutingConfigError) as caught:
        parse_routing_config(text, source="am.yml")
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"am.yml:{line}:")


def test_load_from_file(tmp_path: Path) -> None:
    """A file on disk loads; a missing one is a clear error."""
    path = tmp_path / "alertmanager.yml"
    path.write_text(CONFIG, encoding="utf-8")
    assert load_routing_config(path).route.receiver == "default"
    with pytest.raises(RoutingConfigError, match="cannot read"):
        load_routing_config(tmp_path / "missing.yml")


def test_alertmanager_accepts_what_vigie_accepts(tmp_path: Path) -> None:
    """The real amtool validates the same file (vigie's reading is not laxer than the format)."""
    import subprocess

    from support import require_binary

    amtool = require_binary("amtool", package="prometheus-alertmanager")
    path = tmp_path / "alertmanager.yml"
    path.write_text(CONFIG, encoding="utf-8")
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
