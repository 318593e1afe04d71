"""`vigie server` command-line parsing and defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vigie.cli.server import default_config, parse_listen
from vigie.exceptions import ConfigurationError


def test_parse_listen() -> None:
    """HOST:PORT, [v6]:PORT and :PORT are understood; nonsense is a ConfigurationError."""
    assert parse_listen("127.0.0.1:9800") == ("127.0.0.1", 9800)
    assert parse_listen("[::1]:9800") == ("::1", 9800)
    assert parse_listen(":9800") == ("0.0.0.0", 9800)
    for bad in ("9800", "host:port", "h:70000"):
        with pytest.raises(ConfigurationError, match="--listen: expected HOST:PORT"):
            parse_listen(bad)


def test_default_config_is_next_to_the_data_directory(tmp_path: Path) -> None:
    """vigie.yml beside the data directory is used when it exists."""
    data = tmp_path / "vigie-data"
    assert default_config(data) is None
    (tmp_path / "vigie.yml").write_text("")
    assert default_config(data) == tmp_path / "vigie.yml"


def test_help_lists_the_options() -> None:
    """`vigie server --help` documents config, data dir, listen and their defaults."""
    result = subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "server", "--help"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    for text in ("--config FILE", "--data-dir DIR", "--listen HOST:PORT", "127.0.0.1:9800"):
        assert text in result.stdout


def test_bad_listen_address_exits_1(tmp_path: Path) -> None:
    """A malformed --listen fails before anything starts."""
    result = subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "server", "--listen", "nowhere",
         "--data-dir", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--listen: expected HOST:PORT, got 'nowhere'" in result.stderr
