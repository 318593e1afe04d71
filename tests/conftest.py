"""Fixtures shared by every test."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh prometheus-client registry; no test records into the global one."""
    return CollectorRegistry()
