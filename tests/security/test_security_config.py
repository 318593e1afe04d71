"""The vigie.security config section: defaults, values, located errors, listen-address rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigie.exceptions import ConfigurationError
from vigie.server.config import parse_config
from vigie.server.security import (
    SecuritySettings,
    auth_enabled,
    check_listen_address,
    is_loopback,
    tls_options,
)


def test_defaults_are_safe() -> None:
    """auth auto, no CORS, 32 MiB bodies, rate limits on."""
    settings = parse_config("").vigie.security
    assert settings == SecuritySettings()
    assert settings.auth == "auto"
    assert settings.cors_origins == ()
    assert settings.max_body_size_bytes == 32 << 20
    assert settings.login_rate > 0


def test_all_keys(tmp_path: Path) -> None:
    """Every key is read, sizes and durations converted, TLS paths resolved."""
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "key.pem").write_text("x")
    text = """
vigie:
  security:
    auth: on
    tls: {cert_file: cert.pem, key_file: key.pem}
    cors_origins: [https://grafana.example.org/]
    allowed_hosts: [Vigie.LAN]
    trusted_proxies: [10.0.0.0/8, 127.0.0.1]
    limits: {max_body_size: 1MB, ingest_rate: 50, ingest_burst: 100, login_rate: 0.5,
             login_burst: 3, session_ttl: 1h}
"""
    settings = parse_config(text, path="vigie.yml", base_dir=str(tmp_path)).vigie.security
    assert settings.auth == "on"
    assert settings.tls_cert_file == str(tmp_path / "cert.pem")
    assert tls_options(settings) == {
        "ssl_certfile": str(tmp_path / "cert.pem"), "ssl_keyfile": str(tmp_path / "key.pem")
    }  # fmt: skip
    assert settings.cors_origins == ("https://grafana.example.org",)
    assert settings.allowed_hosts == ("vigie.lan",)
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert settings.max_body_size_bytes == 1 << 20  # Prometheus units: MB is 2^20
    assert (settings.ingest_rate, settings.ingest_burst) == (50.0, 100)
    assert (settings.login_rate, settings.login_burst, settings.session_ttl_ms) == (
        0.5,
        3,
        3_600_000,
    )


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("auth: maybe", "vigie.yml:4: vigie.security.auth: expected auto, on or off, got 'maybe'"),
        ("cors_origins: ['*']", "vigie.yml:4: vigie.security.cors_origins[0]: expected an origin"),
        (
            "trusted_proxies: [10.0.0.0/8, proxy.lan]",
            "vigie.yml:4: vigie.security.trusted_proxies[1]: expected an address or network",
        ),
        ("tls: {cert_file: c.pem}", "vigie.yml:4: vigie.security.tls: give both"),
        ("tls: {cert_file: c.pem, key_file: k.pem}", "vigie.security.tls.cert_file: no such file"),
        ("limits: {ingest_rate: -1}", "vigie.yml:4: vigie.security.limits.ingest_rate: expected"),
        ("limits: {max_body: 1}", "vigie.yml:4: vigie.security.limits.max_body: unknown field"),
        ("password: hunter2", "vigie.yml:4: vigie.security.password: unknown field"),
    ],
)
def test_errors_name_file_line_and_field(section: str, message: str, tmp_path: Path) -> None:
    """Mistakes are reported as FILE:LINE: FIELD: reason."""
    text = f"\nvigie:\n  security:\n    {section}\n"
    with pytest.raises(ConfigurationError) as raised:
        parse_config(text, path="vigie.yml", base_dir=str(tmp_path))
    assert message in str(raised.value)


def test_listening_beyond_loopback_requires_auth() -> None:
    """auth off on 0.0.0.0 is refused; auto turns auth on beyond loopback only."""
    assert is_loopback("127.0.0.1")
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.2")
    off = SecuritySettings(auth="off")
    check_listen_address(off, "127.0.0.1")
    with pytest.raises(ConfigurationError, match=r"refusing to listen on '0\.0\.0\.0'"):
        check_listen_address(off, "0.0.0.0")
    auto = SecuritySettings()
    check_listen_address(auto, "0.0.0.0")
    assert auth_enabled(auto, "0.0.0.0")
    assert not auth_enabled(auto, "127.0.0.1")
    assert auth_enabled(SecuritySettings(auth="on"), "127.0.0.1")
