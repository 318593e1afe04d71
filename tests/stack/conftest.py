"""A sample vigie configuration, rule file and routing file, as a user would have them."""

from __future__ import annotations

from pathlib import Path

import pytest

VIGIE_YML = """\
global:
  scrape_interval: 15s
  evaluation_interval: 30s
rule_files: [rules/*.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['localhost:9093']}]
      timeout: 5s
scrape_configs:
  - job_name: faq-bot
    scrape_interval: 5s
    static_configs:
      - targets: ['host.docker.internal:8000']
        labels: {team: ai}
vigie:
  storage: {retention_time: 30d}
  collectors:
    host: {enabled: true}
    postgres: [{name: main, url: "postgresql://monitor@db:5432/postgres"}]
    container: true
  rule_packs:
    ai: {enabled: true}
  remote_write:
    - url: https://mimir.example.com/api/v1/push
  stack:
    log_files: [/var/log/faq-bot/*.log]
    traces: otel-collector
"""

APP_RULES = """\
groups:
  - name: app
    rules:
      - alert: AppSlow
        expr: job:http_server_request_duration_seconds:p95_5m > 2
        for: 5m
        labels: {severity: warning}
        annotations: {summary: slow answers}
"""

ROUTING = """\
route:
  receiver: team
  group_by: [alertname, job]
  routes:
    - matchers: [alertname="Watchdog"]
      receiver: deadman
      repeat_interval: 1m
    - matchers: [severity="critical"]
      receiver: oncall
      continue: true
    - matchers: [severity="critical"]
      receiver: team
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, job]
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: "22:00", end_time: "23:59"}]}]
receivers:
  - name: team
    webhook_configs: [{url: "http://127.0.0.1:5001/hook"}]
  - name: deadman
    webhook_configs: [{url: "http://127.0.0.1:5002/heartbeat"}]
  - name: oncall
    apprise_configs:
      - urls:
          - "tgram://123456:ABCdef/-1001234"
          - "discord://111/tok-en"
          - "ntfy://alerts-topic"
"""


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A folder with vigie.yml, rules/app.yml and alertmanager.yml."""
    (tmp_path / "vigie.yml").write_text(VIGIE_YML, encoding="utf-8")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "app.yml").write_text(APP_RULES, encoding="utf-8")
    (tmp_path / "alertmanager.yml").write_text(ROUTING, encoding="utf-8")
    return tmp_path
