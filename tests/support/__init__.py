"""Helpers shared by the test suite: real components, found or required.

Under ``CI=true`` a test whose real component (a Debian binary, a browser, the conformance corpus)
is missing fails; elsewhere it skips with the reason. Never skip silently in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def in_ci() -> bool:
    """True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(reason: str) -> None:
    """Fail under CI, skip elsewhere: the real component this test needs is not here."""
    if in_ci():
        pytest.fail(f"required component missing under CI: {reason}", pytrace=False)
    pytest.skip(reason)


def require_binary(name: str, *, package: str | None = None) -> str:
    """Path of executable ``name``; fails (CI) or skips when absent."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} not found (Debian package {package or name})")
        raise AssertionError("unreachable")
    return path


def conformance_dir() -> Path:
    """The Prometheus conformance corpus folder; fails (CI) or skips when absent."""
    from vigie.environment_variables import VIGIE_CONFORMANCE_DIR

    configured = VIGIE_CONFORMANCE_DIR.read()
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "conformance"
    if not path.is_dir():
        missing(f"conformance corpus not found at {path}")
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
