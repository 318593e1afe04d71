"""`vigie stack export`: writes the stack, warns on stderr, --check exits 1 on drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.cli.main import main

CONFIG = """\
scrape_configs:
  - job_name: faq-bot
    static_configs: [{targets: ['app:8000']}]
vigie:
  rule_packs: {ai: true}
"""
ROUTING = """\
route: {receiver: team}
receivers:
  - name: team
    apprise_configs: [{urls: ["discord://1/t", "ntfy://topic"]}]
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """vigie.yml and alertmanager.yml in a folder."""
    (tmp_path / "vigie.yml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "alertmanager.yml").write_text(ROUTING, encoding="utf-8")
    return tmp_path


def _export(files: Path, *extra: str) -> int:
    return main(["stack", "export", "--config", str(files / "vigie.yml"),
                 "--routing", str(files / "alertmanager.yml"),
                 "--output", str(files / "out"), *extra])  # fmt: skip


def test_export_writes_files_and_warns(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Export: exit 0, the files exist, the unmappable apprise URL is warned about."""
    assert _export(files) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("wrote ")
    assert "out/.env, mode 0600" in captured.out
    assert "warning: receiver 'team': apprise URL scheme ntfy://" in captured.err
    assert (files / "out" / "prometheus.yml").is_file()
    assert (files / "out" / "rules" / "vigie-ai.rules.yml").is_file()
    assert "discord_configs" in (files / "out" / "alertmanager.yml").read_text()


def test_check_clean_then_drifted(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check: 0 right after an export, 1 with a summary once the config changed."""
    assert _export(files) == 0
    assert _export(files, "--check") == 0
    assert "is up to date" in capsys.readouterr().out
    (files / "vigie.yml").write_text(CONFIG.replace("app:8000", "app:9000"), encoding="utf-8")
    assert _export(files, "--check") == 1
    out = capsys.readouterr().out
    assert "changed: prometheus.yml" in out
    assert "app:8000" in (files / "out" / "prometheus.yml").read_text()  # --check writes nothing


def test_check_on_empty_folder(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--check on a folder never exported: every file is missing, exit 1."""
    assert _export(files, "--check") == 1
    assert "missing: prometheus.yml" in capsys.readouterr().out


def test_invalid_config_exits_2(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config mistake: exit 2, FILE:LINE: FIELD on stderr."""
    (files / "vigie.yml").write_text("vigie:\n  stack: {traces: jaeger}\n", encoding="utf-8")
    assert _export(files) == 2
    err = capsys.readouterr().err
    assert "vigie.yml:2" in err
    assert "vigie.stack.traces" in err


def test_invalid_routing_exits_2(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A routing mistake is reported with its file and line."""
    (files / "alertmanager.yml").write_text("route: {receiver: nobody}\nreceivers: []\n")
    assert _export(files) == 2
    assert "alertmanager.yml" in capsys.readouterr().err
