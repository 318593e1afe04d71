"""The server monitors its own rules, notifications and OTLP ingest at its /metrics."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support import free_port
from support.vigie_server import serving_vigie
from vigie.store.memory import MemoryStorage

RULES = """\
groups:
  - name: checks
    interval: 500ms
    rules:
      - record: job:good:value
        expr: vector(1)
      - record: job:broken:value
        expr: >-
          vector(1) + on() (label_replace(vector(1), "a", "x", "", "")
          or label_replace(vector(2), "a", "y", "", ""))
      - alert: AlwaysFiring
        expr: vector(1)
"""

CONFIG = """\
global: {{evaluation_interval: 500ms}}
rule_files: [rules.yml]
vigie:
  self_monitoring: {{enabled: false}}
  alerting:
    retry: {{initial_backoff: 200ms, max_backoff: 1s}}
    routing:
      route: {{receiver: down, group_wait: 200ms, group_interval: 1s}}
      receivers:
        - name: down
          webhook_configs: [{{url: "http://127.0.0.1:{dead_port}/hook"}}]
"""


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_rules_notifications_and_ingest_are_self_monitored(tmp_path: Path) -> None:
    """Rule failures, failing deliveries and OTLP records show at /metrics with exact labels."""
    (tmp_path / "rules.yml").write_text(RULES)
    config = CONFIG.format(dead_port=free_port())
    with serving_vigie(config, tmp_path, MemoryStorage()) as (url, _port, server):
        body = {
            "resourceLogs": [{"scopeLogs": [{"logRecords": [
                {"timeUnixNano": str(time.time_ns()), "body": {"stringValue": "one"}},
                {"timeUnixNano": str(time.time_ns()), "body": {"stringValue": "two"}},
            ]}]}]
        }  # fmt: skip
        assert httpx.post(url + "/v1/logs", json=body, timeout=5).status_code == 200
        assert server.telemetry is not None
        assert server.telemetry.flush(10)
        group = f"{tmp_path / 'rules.yml'};checks"
        deadline = time.monotonic() + 20
        while True:
            samples = _samples(url)
            evaluations = samples.get(("vigie_rule_evaluations_total", (("rule_group", group),)))
            failed = samples.get(
                ("vigie_notifications_failed_total", (("integration", "webhook"),)), 0
            )
            if evaluations and evaluations >= 6 and failed >= 1:
                break
            assert time.monotonic() < deadline, sorted(k for k in samples if "vigie_" in k[0])
            time.sleep(0.3)
    by_group = (("rule_group", group),)
    # Three rules per tick, one of which always fails.
    assert evaluations % 3 == 0
    failures = samples[("vigie_rule_evaluation_failures_total", by_group)]
    assert failures == evaluations / 3
    assert samples[("vigie_rule_group_rules", by_group)] == 3
    assert samples[("vigie_rule_group_interval_seconds", by_group)] == 0.5
    last = samples[("vigie_rule_group_last_evaluation_timestamp_seconds", by_group)]
    assert abs(last - time.time()) < 30
    attempts = samples[("vigie_notifications_total", (("integration", "webhook"),))]
    assert attempts >= failed >= 1
    assert samples[("vigie_notification_queue_length", (("state", "pending"),))] >= 1
    signal = (("signal", "logs"),)
    assert samples[("vigie_otlp_records_accepted_total", signal)] == 2
    assert samples[("vigie_otlp_records_written_total", signal)] == 2
    assert samples[("vigie_otlp_records_refused_total", signal)] == 0
    assert samples[("vigie_otlp_queue_length", signal)] == 0
