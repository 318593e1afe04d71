"""The exported alertmanager.yml passes amtool and routes sample alerts as the source does."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from support import require_binary
from vigie.notify.config import parse_routing_config
from vigie.stack.alertmanager import alertmanager_config
from vigie.stack.documents import to_yaml


@pytest.fixture
def exported(sample: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """The exported alertmanager.yml and the warnings of the export."""
    text = (sample / "alertmanager.yml").read_text(encoding="utf-8")
    document, warnings = alertmanager_config(text, source="alertmanager.yml")
    path = tmp_path / "out" / "alertmanager.yml"
    path.parent.mkdir()
    path.write_text(to_yaml(document), encoding="utf-8")
    return path, warnings


def test_amtool_accepts_the_export(exported: tuple[Path, list[str]]) -> None:
    """`amtool check-config` accepts the exported file."""
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    result = subprocess.run(
        [amtool, "check-config", str(exported[0])], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " - 3 receivers" in result.stdout
    assert " - 1 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=Watchdog", "severity=none"], "deadman"),
        (["alertname=TargetDown", "severity=critical"], "oncall,team"),
        (["alertname=HTTPErrorRatioHigh", "severity=warning"], "team"),
    ],
)
def test_amtool_routes_like_vigie(
    exported: tuple[Path, list[str]], sample: Path, labels: list[str], receivers: str
) -> None:
    """`amtool config routes test` sends sample alerts where vigie's router sends them."""
    amtool = require_binary("amtool", package="prometheus-alertmanager")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={exported[0]}",
         f"--verify.receivers={receivers}", *labels],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    source = parse_routing_config((sample / "alertmanager.yml").read_text(encoding="utf-8"))
    matched = source.route.match(dict(label.split("=", 1) for label in labels))
    assert ",".join(route.receiver for route in matched) == receivers


def test_apprise_urls_become_native_configs(exported: tuple[Path, list[str]]) -> None:
    """Telegram and Discord apprise URLs are exported natively; ntfy is reported, not invented."""
    document = yaml.safe_load(exported[0].read_text(encoding="utf-8"))
    oncall = next(item for item in document["receivers"] if item["name"] == "oncall")
    assert oncall == {
        "name": "oncall",
        "discord_configs": [{"webhook_url": "https://discord.com/api/webhooks/111/tok-en"}],
        "telegram_configs": [{"bot_token": "123456:ABCdef", "chat_id": -1001234}],
    }
    assert exported[1] == [
        "receiver 'oncall': apprise URL scheme ntfy:// has no Alertmanager equivalent and is NOT "
        "exported; alerts routed there will not reach it"
    ]
    assert "nights" in {item["name"] for item in document["time_intervals"]}


def test_without_routing_nothing_is_invented() -> None:
    """No routing file: a receiver that sends nothing, and a warning saying so."""
    document, warnings = alertmanager_config(None)
    assert document["receivers"] == [{"name": "default"}]
    assert "sends nothing" in warnings[0]
