"""`vigie server` as a real process: refuses an unsafe bind, authenticates, serves TLS."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support import free_port
from support.certificates import self_signed_pair
from vigie.server.secrets_store import TokenStore

pytestmark = pytest.mark.slow


def _start(config: Path, data: Path, listen: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "vigie.cli.main", "server", "--config", str(config),
         "--data-dir", str(data), "--listen", listen, "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait(process: subprocess.Popen[str], url: str, **client: object) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.communicate()[0]}")
        try:
            if httpx.get(url + "/-/ready", timeout=2, **client).status_code == 200:  # type: ignore[arg-type]
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"not ready: {process.communicate()[0]}")


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    return output


def test_refuses_to_listen_everywhere_without_auth(tmp_path: Path) -> None:
    """auth: off with --listen 0.0.0.0 exits 1 with the reason, before serving anything."""
    config = tmp_path / "vigie.yml"
    config.write_text("vigie:\n  security:\n    auth: off\n")
    process = _start(config, tmp_path / "data", f"0.0.0.0:{free_port()}")
    output = process.communicate(timeout=60)[0]
    assert process.returncode != 0
    assert "refusing to listen on '0.0.0.0' with vigie.security.auth: off" in output


def test_auto_auth_beyond_loopback(tmp_path: Path) -> None:
    """Default config on 0.0.0.0: tokens made, reads need the viewer token, self-scrape works."""
    config = tmp_path / "vigie.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\nvigie:\n  self_monitoring: {scrape_interval: 1s}\n"
    )
    port = free_port()
    process = _start(config, tmp_path / "data", f"0.0.0.0:{port}")
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(process, url)
        tokens = TokenStore(tmp_path / "data").current()
        assert httpx.get(url + "/api/v1/labels").status_code == 401
        viewer = {"Authorization": f"Bearer {tokens.viewer}"}
        assert httpx.post(url + "/-/reload", headers=viewer).status_code == 403
        admin = {"Authorization": f"Bearer {tokens.admin}"}
        assert httpx.post(url + "/-/reload", headers=admin).status_code == 200
        deadline = time.monotonic() + 20
        health = ""
        while time.monotonic() < deadline:
            targets = httpx.get(url + "/api/v1/targets", headers=viewer).json()["data"]
            health = targets["activeTargets"][0]["health"] if targets["activeTargets"] else ""
            if health == "up":
                break
            time.sleep(0.3)
        assert health == "up"  # the self-scrape authenticates with its own token
    finally:
        _stop(process)


@contextmanager
def _tls_server(tmp_path: Path, settings: str) -> Iterator[tuple[str, ssl.SSLContext, int]]:
    """A real vigie server under TLS (auth on) with ``settings`` added to its config.

    Yields its https URL, a client context trusting its self-signed certificate, and its port.
    """
    cert, key = self_signed_pair(tmp_path)
    config = tmp_path / "vigie.yml"
    config.write_text(
        settings + f"  security:\n    auth: on\n    tls: {{cert_file: {cert}, key_file: {key}}}\n"
    )
    port = free_port()
    process = _start(config, tmp_path / "data", f"127.0.0.1:{port}")
    url = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(cert))
    try:
        _wait(process, url, verify=context)
        yield url, context, port
    finally:
        _stop(process)


def test_tls_from_a_certificate_pair(tmp_path: Path) -> None:
    """vigie.security.tls serves HTTPS with the given certificate, with HSTS; plain HTTP fails."""
    settings = "vigie:\n  self_monitoring: {enabled: false}\n"
    with _tls_server(tmp_path, settings) as (url, context, port):
        tokens = TokenStore(tmp_path / "data").current()
        response = httpx.get(
            url + "/api/v1/status/buildinfo",
            headers={"Authorization": f"Bearer {tokens.viewer}"},
            verify=context,
        )
        assert response.status_code == 200
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        assert httpx.get(url + "/api/v1/labels", verify=context).status_code == 401
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/-/healthy", timeout=3).raise_for_status()


def test_tls_self_scrape_is_up(tmp_path: Path) -> None:
    """Under TLS with auth on, the self-scrape uses https, the pinned certificate and its token."""
    settings = (
        "global: {scrape_interval: 1s}\n"
        "vigie:\n  self_monitoring: {scrape_interval: 1s}\n  telemetry: {enabled: false}\n"
    )
    with _tls_server(tmp_path, settings) as (url, context, port):
        viewer = {"Authorization": f"Bearer {TokenStore(tmp_path / 'data').current().viewer}"}
        deadline = time.monotonic() + 20
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline and not result:
            body = httpx.get(
                url + "/api/v1/query", params={"query": 'up{job="vigie"}'},
                headers=viewer, verify=context,
            ).json()  # fmt: skip
            result = body["data"]["result"]
            time.sleep(0.3)
        assert [row["value"][1] for row in result] == ["1"]  # type: ignore[index]
        targets = httpx.get(url + "/api/v1/targets", headers=viewer, verify=context).json()
        (target,) = targets["data"]["activeTargets"]
        assert target["scrapeUrl"] == f"https://127.0.0.1:{port}/metrics"
        assert (target["health"], target["lastError"]) == ("up", "")
