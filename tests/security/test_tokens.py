"""Token storage: generated on first start, mode 0600, rotatable from the CLI."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from vigie.cli.main import main
from vigie.exceptions import ConfigurationError
from vigie.server.secrets_store import TokenStore


def test_tokens_are_generated_with_private_permissions(tmp_path: Path) -> None:
    """First load creates two distinct random tokens in a 0600 file inside a 0700 directory."""
    store = TokenStore(tmp_path)
    tokens = store.load_or_create()
    assert tokens.admin != tokens.viewer
    assert tokens.admin.startswith("vigie_")
    assert len(tokens.admin) >= 40
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert TokenStore(tmp_path).load_or_create() == tokens  # stable across restarts
    assert TokenStore(tmp_path / "other").load_or_create() != tokens  # never a default


def test_role_of_compares_every_token(tmp_path: Path) -> None:
    """Admin, viewer, nothing; prefixes and empty strings grant nothing."""
    store = TokenStore(tmp_path)
    tokens = store.load_or_create()
    assert store.role_of(tokens.admin) == "admin"
    assert store.role_of(tokens.viewer) == "viewer"
    assert store.role_of(tokens.admin[:-1]) is None
    assert store.role_of("") is None
    assert store.role_of("é" * 50) is None


def test_loosened_permissions_are_tightened(tmp_path: Path) -> None:
    """A token file made world-readable is put back to 0600 when read."""
    store = TokenStore(tmp_path)
    store.load_or_create()
    store.path.chmod(0o644)
    TokenStore(tmp_path).current()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_broken_token_file_is_a_clear_error(tmp_path: Path) -> None:
    """A truncated file raises ConfigurationError naming the file and the fix."""
    store = TokenStore(tmp_path)
    store.load_or_create()
    store.path.write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"unreadable token file .*vigie tokens rotate"):
        TokenStore(tmp_path).current()


def test_cli_show_and_rotate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`vigie tokens rotate --role viewer` replaces only the viewer token and prints both."""
    data = str(tmp_path / "data")
    assert main(["tokens", "show", "--data-dir", data]) == 0
    before = json.loads((tmp_path / "data/secrets/tokens.json").read_text())
    assert f"admin   {before['admin']}" in capsys.readouterr().out
    assert main(["tokens", "rotate", "--role", "viewer", "--data-dir", data]) == 0
    after = json.loads((tmp_path / "data/secrets/tokens.json").read_text())
    assert after["admin"] == before["admin"]
    assert after["viewer"] != before["viewer"]
    assert f"viewer  {after['viewer']}" in capsys.readouterr().out
