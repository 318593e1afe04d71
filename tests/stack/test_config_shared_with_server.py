"""One vigie.yml serves both `vigie server` and `vigie stack export`."""

from __future__ import annotations

from pathlib import Path

from vigie.server.collectors.config import build_collectors
from vigie.server.config import load_config


def test_server_accepts_the_export_sections(sample: Path) -> None:
    """The server loads a config with the export-only sections (remote_write, stack, container)."""
    config = load_config(sample / "vigie.yml")
    assert [job.job_name for job in config.scrape_configs][:1] == ["faq-bot"]
    assert build_collectors({"container": True}) == []
