"""`vigie silence add|query|expire` against vigie and against the real Alertmanager."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.alertmanager import running_alertmanager
from support.vigie_server import QUIET, running_vigie
from vigie.cli.main import main
from vigie.cli.silence import format_matcher, parse_matcher

AM_CONFIG = "route: {receiver: none}\nreceivers: [{name: none}]\n"


@pytest.fixture(params=["vigie", "alertmanager"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A running vigie server, or the real Alertmanager: the command must work on both."""
    if request.param == "vigie":
        with running_vigie(QUIET, tmp_path) as url:
            yield url
    else:
        with running_alertmanager(AM_CONFIG, tmp_path) as url:
            yield url


def test_parse_matcher_all_operators() -> None:
    """Matchers read as amtool's, quoted or not, and print back in Alertmanager's form."""
    assert parse_matcher('instance=~"db-.*"') == {
        "name": "instance", "value": "db-.*", "isRegex": True, "isEqual": True,
    }  # fmt: skip
    assert parse_matcher("severity!=info")["isEqual"] is False
    assert format_matcher(parse_matcher("job!~a|b")) == 'job!~"a|b"'
    assert format_matcher(parse_matcher("alertname=Down")) == 'alertname="Down"'


def test_add_query_expire(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """add prints the id, query lists it with its matchers, expire moves it to --expired."""
    code = main(["silence", "add", "alertname=TargetDown", "job=~app.*", "-c", "deploy",
                 "-a", "ops", "-d", "2h", "--server", server])  # fmt: skip
    assert code == 0
    silence_id = capsys.readouterr().out.strip()
    stored = httpx.get(f"{server}/api/v2/silence/{silence_id}", timeout=5).json()
    assert (stored["createdBy"], stored["comment"]) == ("ops", "deploy")
    assert main(["silence", "query", "--server", server]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "Matchers", "Ends", "At", "Created", "By", "Comment"]
    assert table[1].startswith(f'{silence_id}  alertname="TargetDown" job=~"app.*"  ')
    assert table[1].endswith("ops         deploy")
    assert main(["silence", "query", "alertname=Other", "-q", "--server", server]) == 0
    assert capsys.readouterr().out == ""
    assert main(["silence", "expire", silence_id, "--server", server]) == 0
    assert main(["silence", "query", "-q", "--server", server]) == 0
    assert capsys.readouterr().out == ""
    assert main(["silence", "query", "--expired", "-q", "--server", server]) == 0
    assert capsys.readouterr().out.split() == [silence_id]


def test_errors_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad matcher, duration or unknown id exits 1 with the reason."""
    with running_vigie(QUIET, tmp_path) as url:
        assert main(["silence", "add", "alertname", "--server", url]) == 1
        assert "bad matcher 'alertname'" in capsys.readouterr().err
        assert main(["silence", "add", "a=b", "-d", "soon", "--server", url]) == 1
        assert "--duration" in capsys.readouterr().err
        assert main(["silence", "expire", "nope", "--server", url]) == 1
        assert "404 silence not found" in capsys.readouterr().err
    assert main(["silence", "query", "--server", url]) == 1
    assert "cannot reach" in capsys.readouterr().err
