"""`vigie query` against a real server over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from support import free_port
from support.certificates import self_signed_pair
from vigie.cli.query import parse_when, render
from vigie.server.app import create_app
from vigie.server.runtime import Server, ServerOptions
from vigie.store.memory import MemoryStorage

BASE = 1_700_000_000


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    """A vigie server in a thread holding two series."""
    storage = MemoryStorage()
    appender = storage.appender()
    for step in range(5):
        t = (BASE + step * 60) * 1000
        appender.append({"__name__": "up", "job": "api", "instance": "a:1"}, t, 1.0)
        appender.append({"__name__": "up", "job": "db", "instance": "b:2"}, t, 0.0)
    appender.commit()
    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  self_monitoring:\n    enabled: false\n")
    port = free_port()
    server = Server(ServerOptions(tmp_path, config, port=port), storage=storage)
    web = uvicorn.Server(
        uvicorn.Config(create_app(server), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url
    web.should_exit = True
    thread.join(timeout=10)


def _vigie(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "query", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def test_instant_query_table(server_url: str) -> None:
    """The default output is a table of series, value and time."""
    result = _vigie("up", "--time", str(BASE + 240), "--server", server_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "SERIES                         VALUE  TIME",
        'up{instance="a:1", job="api"}  1      2023-11-14T22:17:20.000Z',
        'up{instance="b:2", job="db"}   0      2023-11-14T22:17:20.000Z',
    ]


def test_range_query_csv_and_json(server_url: str) -> None:
    """--range with --format csv prints one row per point; json prints the API data."""
    args = ("sum(up)", "--range", "--start", str(BASE), "--end", str(BASE + 120),
            "--step", "1m", "--server", server_url)  # fmt: skip
    csv_output = _vigie(*args, "--format", "csv")
    assert csv_output.returncode == 0, csv_output.stderr
    assert csv_output.stdout.splitlines() == [
        "timestamp,value", f"{BASE},1", f"{BASE + 60},1", f"{BASE + 120},1",
    ]  # fmt: skip
    data = json.loads(_vigie(*args, "--format", "json").stdout)
    assert data["resultType"] == "matrix"
    assert data["result"][0]["values"][0] == [BASE, "1"]


def test_errors_exit_non_zero(server_url: str) -> None:
    """A bad query prints Prometheus's error and exits 1; an unreachable server too."""
    bad = _vigie("sum(up))", "--server", server_url)
    assert bad.returncode == 1
    assert "bad_data: 1:8: parse error: unexpected right parenthesis ')'" in bad.stderr
    down = _vigie("up", "--server", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1
    assert "cannot reach" in down.stderr


def test_parse_when_and_render() -> None:
    """Relative and absolute times; scalars render as one row."""
    assert parse_when("-1h30m", 10_000.0) == 10_000.0 - 5400
    assert parse_when("now", 5.0) == 5.0
    assert parse_when("2023-11-14T22:13:20Z", 0) == BASE
    assert render({"resultType": "scalar", "result": [BASE, "2"]}, "csv") == (
        f"timestamp,value\n{BASE},2\n"
    )


@pytest.fixture
def secure_server(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A vigie server over HTTPS with auth on; yields (URL, data dir, certificate file)."""
    import ssl

    storage = MemoryStorage()
    appender = storage.appender()
    appender.append({"__name__": "up", "job": "api"}, BASE * 1000, 1.0)
    appender.commit()
    cert, key = self_signed_pair(tmp_path)
    config = tmp_path / "vigie.yml"
    config.write_text(
        "vigie:\n  self_monitoring: {enabled: false}\n  telemetry: {enabled: false}\n"
        f"  security:\n    auth: on\n    tls: {{cert_file: {cert}, key_file: {key}}}\n"
    )
    port = free_port()
    server = Server(ServerOptions(tmp_path / "data", config, port=port), storage=storage)
    web = uvicorn.Server(
        uvicorn.Config(
            create_app(server), host="127.0.0.1", port=port, log_level="warning",
            ssl_certfile=str(cert), ssl_keyfile=str(key),
        )
    )  # fmt: skip
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{port}"
    trust = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/-/ready", timeout=1, verify=trust).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    yield url, tmp_path / "data", cert
    web.should_exit = True
    thread.join(timeout=10)


def _run_query(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from vigie.cli.main import main

    code = main(["query", "up", "--time", str(BASE), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_token_and_tls_options(
    secure_server: tuple[str, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Auth on and TLS: 401 names --token-file; --token-file/VIGIE_TOKEN and --ca-file work."""
    from vigie.server.secrets_store import TokenStore

    url, data_dir, cert = secure_server
    monkeypatch.delenv("VIGIE_TOKEN", raising=False)
    viewer = TokenStore(data_dir).current().viewer
    token_file = tmp_path / "viewer-token"
    token_file.write_text(viewer + "\n")

    code, out, err = _run_query(capsys, "--server", url)
    assert code == 1
    assert "certificate is not trusted: pass --ca-file FILE" in err

    code, out, err = _run_query(capsys, "--server", url, "--ca-file", str(cert))
    assert code == 1
    assert err == (
        f"vigie: error: {url}/api/v1/query: the server requires a token (HTTP 401): pass the "
        "token with --token-file FILE (or --token TOKEN, or VIGIE_TOKEN); `vigie tokens show "
        "--data-dir DIR` prints the server's tokens\n"
    )

    code, out, err = _run_query(
        capsys, "--server", url, "--ca-file", str(cert), "--token-file", str(token_file)
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[1].split()[:2] == ['up{job="api"}', "1"]

    monkeypatch.setenv("VIGIE_TOKEN", viewer)
    code, out, err = _run_query(capsys, "--server", url, "--insecure")
    assert (code, err) == (0, "")
    assert 'up{job="api"}' in out

    code, out, err = _run_query(
        capsys, "--server", url, "--ca-file", str(cert), "--token", "vigie_wrong"
    )
    assert code == 1
    assert "the server refused the token (HTTP 401; rotated?)" in err
    assert "vigie_wrong" not in err
    assert viewer not in err + out


def test_unreadable_token_file_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A missing --token-file is a configuration error naming the option, exit 1."""
    code, _out, err = _run_query(capsys, "--token-file", str(tmp_path / "absent"))
    assert code == 1
    assert err.startswith("vigie: error: --token-file: cannot read ")
