"""Reading the vigie configuration for export: Prometheus parts kept, vigie parts mapped."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.exceptions import ConfigurationError
from vigie.stack.config import PostgresTarget, load_stack_config, parse_stack_config


def test_prometheus_parts_are_kept_as_written(sample: Path) -> None:
    """global, scrape_configs and rule_files come back exactly as the user wrote them."""
    config = load_stack_config(sample / "vigie.yml")
    assert config.global_section == {"scrape_interval": "15s", "evaluation_interval": "30s"}
    assert config.scrape_configs[0] == {
        "job_name": "faq-bot",
        "scrape_interval": "5s",
        "static_configs": [{"targets": ["host.docker.internal:8000"], "labels": {"team": "ai"}}],
    }
    assert config.rule_files == ("rules/*.yml",)
    assert config.base_dir == sample.resolve()


def test_vigie_section_is_mapped(sample: Path) -> None:
    """Collectors, the AI pack, remote write, retention and stack choices are read."""
    config = load_stack_config(sample / "vigie.yml")
    assert config.collectors.host
    assert config.collectors.container
    assert config.collectors.postgres == (
        PostgresTarget("main", "postgresql://monitor@db:5432/postgres"),
    )
    assert config.ai_pack
    assert config.remote_write == ({"url": "https://mimir.example.com/api/v1/push"},)
    assert config.retention_time == "30d"
    assert config.stack.traces == "otel-collector"
    assert config.stack.log_files == ("/var/log/faq-bot/*.log",)


def test_thresholds_reach_the_pack() -> None:
    """vigie.rule_packs.ai.thresholds become AIPackThresholds."""
    config = parse_stack_config(
        "vigie:\n  rule_packs:\n    ai:\n      thresholds: {llm_daily_spend_eur: [20, 40]}\n"
    )
    assert config.ai_pack
    assert config.ai_thresholds.llm_daily_spend_eur == (20, 40)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scrape_configz: []\n", "vigie.yml:1: scrape_configz: unknown field"),
        ("scrape_configs:\n  - scrape_interval: 5s\n", "vigie.yml:2: scrape_configs[0].job_name"),
        ("vigie:\n  stack:\n    traces: jaeger\n", "vigie.yml:3: vigie.stack.traces"),
        (
            "vigie:\n  collectors:\n    postgres:\n      - url: postgresql://u:secret@db/x\n",
            "must not contain a password",
        ),
        ("vigie:\n  rule_packs:\n    ai:\n      thresholds: {nope: 1}\n", "unknown AI pack"),
        ("vigie:\n  remote_write:\n    - name: x\n", "vigie.yml:3: vigie.remote_write[0].url"),
    ],
)
def test_mistakes_name_file_line_and_field(text: str, expected: str) -> None:
    """Every mistake is reported with the file, the line and the field."""
    with pytest.raises(ConfigurationError) as caught:
        parse_stack_config(text, source="vigie.yml")
    assert expected in str(caught.value)


def test_empty_file_exports_defaults() -> None:
    """An empty configuration is valid: no jobs, no pack, self-monitoring on."""
    config = parse_stack_config("")
    assert config.scrape_configs == ()
    assert not config.ai_pack
    assert config.self_monitoring_job == "vigie"
