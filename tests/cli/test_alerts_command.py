"""`vigie alerts` against vigie and against the real Alertmanager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.alertmanager import running_alertmanager
from support.vigie_server import QUIET, running_vigie
from vigie.cli.main import main

AM_CONFIG = "route: {receiver: none}\nreceivers: [{name: none}]\n"


@pytest.fixture(params=["vigie", "alertmanager"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A running vigie server or the real Alertmanager, with two alerts, one silenced."""
    if request.param == "vigie":
        context = running_vigie(QUIET, tmp_path)
    else:
        context = running_alertmanager(AM_CONFIG, tmp_path)
    with context as url:
        alerts = [
            {"labels": {"alertname": "Down", "severity": "critical"},
             "annotations": {"summary": "app is down"}},
            {"labels": {"alertname": "Slow", "severity": "warning"}},
        ]  # fmt: skip
        assert httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=5).status_code == 200
        silence = {
            "matchers": [{"name": "alertname", "value": "Slow", "isRegex": False}],
            "startsAt": "2020-01-01T00:00:00Z",
            "endsAt": "2999-01-01T00:00:00Z",
            "createdBy": "t",
            "comment": "c",
        }
        assert httpx.post(f"{url}/api/v2/silences", json=silence, timeout=5).status_code == 200
        yield url


def test_table_shows_active_alerts(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """By default only active alerts are listed, as amtool alert query does."""
    assert main(["alerts", "--server", server]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Alertname", "Starts", "At", "Summary", "State"]
    assert len(lines) == 2
    assert lines[1].startswith("Down ")
    assert lines[1].endswith("app is down  active")


def test_silenced_and_filters(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--silenced adds muted alerts; matchers filter; json prints the API objects."""
    assert main(["alerts", "--silenced", "--format", "json", "--server", server]) == 0
    alerts = json.loads(capsys.readouterr().out)
    states = {a["labels"]["alertname"]: a["status"]["state"] for a in alerts}
    assert states == {"Down": "active", "Slow": "suppressed"}
    assert main(["alerts", "--silenced", "severity=warning", "--server", server]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["Slow"]


def test_bad_matcher_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed matcher is refused before any request."""
    assert main(["alerts", "severity"]) == 1
    assert "bad matcher 'severity'" in capsys.readouterr().err
