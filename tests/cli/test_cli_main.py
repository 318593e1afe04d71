"""The vigie command: discovery of subcommands, version, errors."""

from __future__ import annotations

import subprocess
import sys

from vigie.cli.main import main


def test_version(capsys: object) -> None:
    """`vigie --version` prints the package version."""
    import vigie

    result = subprocess.run(
        [sys.executable, "-m", "vigie.cli.main", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"vigie {vigie.__version__}"


def test_no_command_prints_help() -> None:
    """Without a command, help is printed and the exit code is 2."""
    assert main([]) == 2
