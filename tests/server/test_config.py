"""The configuration file: Prometheus syntax, located errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support import missing, require_binary
from vigie.exceptions import ConfigurationError
from vigie.server.config import (
    format_duration,
    load_config,
    parse_config,
    parse_duration,
    parse_size,
)

PROMETHEUS_YML = """\
# my global config
global:
  scrape_interval: 15s
  evaluation_interval: 15s
  external_labels:
    monitor: 'example'

alerting:
  alertmanagers:
    - static_configs:
        - targets: ['localhost:9093']

rule_files:
  - "first_rules.yml"

scrape_configs:
  - job_name: 'prometheus'
    scrape_interval: 5s
    scrape_timeout: 5s
    static_configs:
      - targets: ['localhost:9090']
  - job_name: node
    static_configs:
      - targets: ['localhost:9100']
        labels:
          team: infra
    file_sd_configs:
      - files: ['targets/*.json']
        refresh_interval: 1m
    metrics_path: /stats
    scheme: https
    params:
      module: [http_2xx]
    authorization:
      credentials: secret
    honor_labels: true
    honor_timestamps: false
    sample_limit: 1000
    label_limit: 30
    label_name_length_limit: 100
    label_value_length_limit: 200
"""


def _error(text: str) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_config(text, path="vigie.yml")
    return caught.value


def test_prometheus_example_config_is_accepted() -> None:
    """A prometheus.yml as shipped by Prometheus parses with every shared key."""
    config = parse_config(PROMETHEUS_YML, path="p.yml", base_dir="/etc/vigie")
    assert config.global_config.scrape_interval_ms == 15_000
    assert config.global_config.external_labels == (("monitor", "example"),)
    assert config.rule_files == ("first_rules.yml",)
    assert config.alerting.alertmanagers[0].static_configs[0].targets == ("localhost:9093",)
    first, node = config.scrape_configs
    assert (first.job_name, first.scrape_interval_ms, first.scrape_timeout_ms) == (
        "prometheus",
        5_000,
        5_000,
    )
    assert node.scrape_interval_ms == 15_000
    assert node.scrape_timeout_ms == 10_000
    assert node.static_configs[0].labels == (("team", "infra"),)
    assert node.file_sd_configs[0].files == ("/etc/vigie/targets/*.json",)
    assert node.file_sd_configs[0].refresh_interval_ms == 60_000
    assert (node.metrics_path, node.scheme, node.params) == (
        "/stats",
        "https",
        (("module", ("http_2xx",)),),
    )
    assert node.authorization is not None
    assert node.authorization.credentials == "secret"
    assert node.honor_labels
    assert not node.honor_timestamps
    assert (node.sample_limit, node.label_limit) == (1000, 30)
    assert (node.label_name_length_limit, node.label_value_length_limit) == (100, 200)


def test_defaults() -> None:
    """An empty file is valid: 15s interval, 10s timeout, self-monitoring on."""
    config = parse_config("")
    assert config.global_config.scrape_interval_ms == 15_000
    assert config.global_config.scrape_timeout_ms == 10_000
    assert config.vigie.self_monitoring.enabled
    job = parse_config("global: {scrape_interval: 5s}\nscrape_configs: [{job_name: a}]\n")
    assert job.scrape_configs[0].scrape_timeout_ms == 5_000


def test_vigie_section() -> None:
    """vigie-only settings live under the vigie key."""
    config = parse_config(
        "vigie:\n  storage:\n    retention_time: 30d\n    retention_size: 2GB\n"
        "  self_monitoring:\n    enabled: false\n"
    )
    assert config.vigie.storage.retention_time_ms == 30 * 86_400_000
    assert config.vigie.storage.retention_size_bytes == 2 << 30
    assert not config.vigie.self_monitoring.enabled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "scrape_configs:\n  - job_name: a\n    scrape_intervl: 5s\n",
            "vigie.yml:3: scrape_configs[0].scrape_intervl: unknown field",
        ),
        (
            "global:\n  scrape_interval: 15 seconds\n",
            "vigie.yml:2: global.scrape_interval: not a valid duration string: '15 seconds'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
            "vigie.yml:4: scrape_configs[0].scrape_timeout: scrape timeout greater than scrape "
            "interval for scrape config with job name 'a'",
        ),
        (
            "scrape_configs:\n  - static_configs: []\n",
            "vigie.yml:2: scrape_configs[0].job_name: missing (every scrape config needs one)",
        ),
        (
            "scrape_configs:\n  - job_name: a\n  - job_name: a\n",
            "vigie.yml:3: scrape_configs[1].job_name: found multiple scrape configs with job name "
            "'a' (first at scrape_configs[0])",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
            "vigie.yml:3: scrape_configs[0].scheme: expected http or https, got 'ftp'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    metrics_path: metrics\n",
            "vigie.yml:3: scrape_configs[0].metrics_path: must start with '/'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n    "
            "  - targets: [a:1, 'http://b/']\n",
            "vigie.yml:4: scrape_configs[0].static_configs[0].targets[1]: 'http://b/' is not a "
            "valid target (expected host:port)",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n    "
            "  - labels:\n          1x: y\n",
            "vigie.yml:5: scrape_configs[0].static_configs[0].labels.1x:"
            " '1x' is not a valid label name",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n",
            "vigie.yml:3: scrape_configs[0].honor_labels: expected true or false, got 'maybe'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    sample_limit: -1\n",
            "vigie.yml:3: scrape_configs[0].sample_limit: expected a"
            " non-negative integer, got '-1'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config: {insecure_skip_verify: true}\n",
            "vigie.yml:3: scrape_configs[0].tls_config: not supported by vigie yet",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {password: p}\n",
            "vigie.yml:3: scrape_configs[0].basic_auth.username: missing",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: rename\n",
            "vigie.yml:4: scrape_configs[0].relabel_configs[0].action: unknown relabel action "
            "'rename'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - regex: '(a'\n"
            "        target_label: x\n",
            "vigie.yml:4: scrape_configs[0].relabel_configs[0].regex: invalid regex '(a'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n"
            "      - action: hashmod\n        target_label: x\n",
            "vigie.yml:4: scrape_configs[0].metric_relabel_configs[0].modulus: relabel "
            "configuration for hashmod requires non-zero modulus",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - source_labels: [a]\n",
            "vigie.yml:4: scrape_configs[0].relabel_configs[0].target_label: relabel "
            "configuration for replace action requires 'target_label'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
            "      - action: labeldrop\n        regex: x\n        target_label: y\n",
            "vigie.yml:6: scrape_configs[0].relabel_configs[0].target_label: labeldrop action "
            "requires only 'regex', and no other fields",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    bearer_token: x\n   "
            " authorization: {credentials: y}\n",
            "vigie.yml:4: scrape_configs[0].authorization: at most one"
            " of bearer_token, authorization may be set",
        ),
        ("global: [1]\n", "vigie.yml:1: global: expected a mapping"),
        ("scrape_configs:\n  - job_name: a\n   bad: indent\n", "vigie.yml:3: invalid YAML"),
        (
            "vigie:\n  storage:\n    retention_size: lots\n",
            "vigie.yml:3: vigie.storage.retention_size: not a valid"
            " size: 'lots' (expected e.g. 512MB, 10GB)",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n   "
            "   - files: [targets.txt]\n",
            "vigie.yml:4: scrape_configs[0].file_sd_configs[0].files[0]: 'targets.txt' must end in "
            ".json, .yml or .yaml",
        ),
    ],
)
def test_bad_configs_name_file_line_and_field(text: str, expected: str) -> None:
    """Each mistake is reported as FILE:LINE: FIELD: reason."""
    assert str(_error(text)).startswith(expected)


def test_telemetry_section() -> None:
    """vigie.telemetry sets the OTLP receiver's retention, queue and tailing."""
    config = parse_config(
        "vigie:\n  telemetry:\n    retention_time: 3d\n    retention_size: 2GB\n"
        "    queue_size: 10\n    tail: {paths: ['logs/*.log'], service: bot, interval: 2s}\n",
        base_dir="/srv",
    )
    telemetry = config.vigie.telemetry
    assert (telemetry.retention_time_ms, telemetry.retention_size_bytes) == (
        3 * 86_400_000,
        2 << 30,
    )
    assert (telemetry.queue_size, telemetry.tail_paths) == (10, ("/srv/logs/*.log",))
    assert (telemetry.tail_service, telemetry.tail_interval_ms) == ("bot", 2_000)
    error = _error("vigie:\n  telemetry:\n    tail: {pattern: x}\n")
    assert str(error) == "vigie.yml:3: vigie.telemetry.tail.pattern: unknown field"


def test_collectors_section_errors_are_located() -> None:
    """vigie.collectors is validated by the collectors' own rules, errors at the right line."""
    config = parse_config("vigie:\n  collectors:\n    host:\n      enabled: true\n")
    assert config.vigie.collectors == {"host": {"enabled": True}}
    error = _error("vigie:\n  collectors:\n    host:\n      enabled: maybe\n")
    assert str(error) == "vigie.yml:4: vigie.collectors.host.enabled: must be true or false"
    error = _error("vigie:\n  collectors:\n    hots: {}\n")
    assert str(error).startswith("vigie.yml:3: vigie.collectors.hots: unknown collector 'hots'")


def test_error_attributes() -> None:
    """The error carries path, line and field as attributes."""
    error = _error("global:\n  scrape_timeout: 1h\n")
    assert (error.path, error.line, error.field) == (
        "vigie.yml",
        2,
        "global.scrape_timeout",
    )


def test_load_config_reads_file(tmp_path: Path) -> None:
    """load_config names the real path in errors and reads good files."""
    path = tmp_path / "vigie.yml"
    path.write_text("scrape_configs:\n  - job_name: x\n    foo: 1\n")
    with pytest.raises(ConfigurationError, match=f"^{path}:3: scrape_configs\\[0\\].foo"):
        load_config(path)
    path.write_text("scrape_configs:\n  - job_name: x\n")
    assert load_config(path).scrape_configs[0].job_name == "x"
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(tmp_path / "absent.yml")


def test_durations_and_sizes() -> None:
    """Durations and sizes parse as Prometheus does."""
    assert parse_duration("1h30m") == 5_400_000
    assert parse_duration("500ms") == 500
    assert parse_duration("1y2w3d") == (365 + 14 + 3) * 86_400_000
    assert parse_duration("0") == 0
    for bad in ("", "1.5s", "5", "1m1h", "-1s"):
        with pytest.raises(ValueError, match="not a valid duration"):
            parse_duration(bad)
    assert format_duration(5_400_000) == "1h30m"
    assert format_duration(15_000) == "15s"
    assert parse_size("512MB") == 512 << 20


def test_debian_prometheus_yml_is_a_valid_vigie_config() -> None:
    """The prometheus.yml shipped by Debian loads unchanged."""
    path = Path("/etc/prometheus/prometheus.yml")
    if not path.exists():
        missing("/etc/prometheus/prometheus.yml (Debian package prometheus)")
    config = load_config(path)
    assert [job.job_name for job in config.scrape_configs] == ["prometheus", "node"]


def test_promtool_agrees_on_shared_keys(tmp_path: Path) -> None:
    """What vigie accepts, promtool accepts; a timeout above the interval both reject."""
    promtool = require_binary("promtool", package="prometheus")
    good = tmp_path / "good.yml"
    good.write_text(PROMETHEUS_YML.replace('  - "first_rules.yml"\n', ""))
    parse_config(good.read_text())
    result = subprocess.run(
        [promtool, "check", "config", str(good)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n"
    )
    with pytest.raises(ConfigurationError, match="scrape timeout greater than scrape interval"):
        load_config(bad)
    result = subprocess.run([promtool, "check", "config", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "scrape timeout greater than scrape interval" in result.stdout + result.stderr
