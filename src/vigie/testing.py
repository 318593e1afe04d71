"""Deterministic helpers for testing code instrumented with vigie (and for vigie's own tests).

As structlog's ``testing.capture_logs()``: give each test its own registry, read what it recorded,
and control time where vigie's logic depends on it.

Example::

    >>> from prometheus_client import CollectorRegistry, Counter
    >>> registry = CollectorRegistry()
    >>> Counter("orders", "Orders.", ["kind"], registry=registry).labels("book").inc(2)
    >>> MetricsReader(registry).value("orders_total", kind="book")
    2.0
    >>> clock = FakeClock(start=100.0)
    >>> clock.advance(5)
    >>> clock()
    105.0
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry

if TYPE_CHECKING:
    from vigie.notify.notifiers import FakeNotifier, FaultyNotifier
    from vigie.store.memory import MemoryStorage

__all__ = ["FakeClock", "FakeNotifier", "FaultyNotifier", "MemoryStorage", "MetricsReader"]

# Server-side fakes load on first use, so SDK users without the server extra can import this module.
_LAZY = {
    "MemoryStorage": "vigie.store.memory",
    "FakeNotifier": "vigie.notify.notifiers",
    "FaultyNotifier": "vigie.notify.notifiers",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'vigie.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


class MetricsReader:
    """Reads sample values from a prometheus-client registry by name and labels."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def value(self, name: str, /, **labels: str) -> float | None:
        """The value of sample ``name`` with exactly ``labels``, or None when absent."""
        return self.registry.get_sample_value(name, labels)

    def total(self, name: str, /, **labels: str) -> float:
        """Sum of every sample ``name`` whose labels include ``labels`` (0.0 when none)."""
        found = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(key) == value for key, value in labels.items()
                ):
                    found += sample.value
        return found

    def label_sets(self, name: str) -> list[dict[str, str]]:
        """The label sets under which sample ``name`` exists (its series)."""
        return [
            dict(sample.labels)
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name == name
        ]


class FakeClock:
    """A clock that moves only when told; callable like ``time.time`` (seconds, float)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        with self._lock:
            self._now += seconds

    def set(self, now: float) -> None:
        """Jump to ``now`` (forwards or backwards, to test clock jumps)."""
        with self._lock:
            self._now = now
