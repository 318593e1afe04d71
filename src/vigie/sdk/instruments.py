"""Get-or-create access to prometheus-client metrics, one set per registry.

Several parts of the SDK (HTTP middleware, LLM wrappers, health checks) record into the same
metric families, and a user may instrument two apps in one process. Creating a metric twice on a
registry is an error in prometheus-client, so every part asks this module instead: the first call
creates the metric, later calls return it, and a call that disagrees on type or label names fails
at once with :class:`~vigie.exceptions.InstrumentationError` (definition-time misuse is loud).

Every function takes an optional ``registry``; tests pass their own, so none touches a global.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> requests = counter("demo_requests", "Requests.", ["route"], registry=registry)
    >>> requests is counter("demo_requests", "Requests.", ["route"], registry=registry)
    True
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from vigie.exceptions import InstrumentationError

__all__ = [
    "PerRegistry",
    "counter",
    "default_registry",
    "gauge",
    "histogram",
    "set_default_registry",
]

_Metric = TypeVar("_Metric", bound=MetricWrapperBase)
_Set = TypeVar("_Set")

_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, dict[str, MetricWrapperBase]] = (
    weakref.WeakKeyDictionary()
)
_default: list[CollectorRegistry] = [REGISTRY]

# Classic Prometheus names: what every scraper (including Prometheus 2.x) accepts.
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def _validate_names(name: str, labelnames: Sequence[str]) -> None:
    if not _METRIC_NAME.match(name):
        raise InstrumentationError(f"invalid metric name {name!r}: use [a-zA-Z_:][a-zA-Z0-9_:]*")
    for label in labelnames:
        if not _LABEL_NAME.match(label) or label.startswith("__"):
            raise InstrumentationError(
                f"invalid label name {label!r} on metric {name!r}: use [a-zA-Z_][a-zA-Z0-9_]*, "
                "not starting with __"
            )


def default_registry() -> CollectorRegistry:
    """The registry the SDK records into when none is given (prometheus-client's global one)."""
    return _default[0]


def set_default_registry(registry: CollectorRegistry) -> None:
    """Make ``registry`` the SDK's default (for apps that keep their own registry)."""
    _default[0] = registry


def _get_or_create(
    kind: type[_Metric],
    name: str,
    documentation: str,
    labelnames: Sequence[str],
    registry: CollectorRegistry | None,
    **options: object,
) -> _Metric:
    target = registry if registry is not None else default_registry()
    _validate_names(name, labelnames)
    with _lock:
        known = _by_registry.setdefault(target, {})
        existing = known.get(name)
        if existing is not None:
            if not isinstance(existing, kind):
                raise InstrumentationError(
                    f"metric {name!r} already exists as a {type(existing).__name__}, "
                    f"not a {kind.__name__}"
                )
            if tuple(existing._labelnames) != tuple(labelnames):
                raise InstrumentationError(
                    f"metric {name!r} already exists with labels {list(existing._labelnames)}, "
                    f"not {list(labelnames)}"
                )
            return existing
        try:
            metric = kind(name, documentation, labelnames, registry=target, **options)  # type: ignore[arg-type]
        except ValueError as error:
            raise InstrumentationError(f"cannot define metric {name!r}: {error}") from error
        known[name] = metric
        return metric


def counter(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    *,
    registry: CollectorRegistry | None = None,
) -> Counter:
    """Return the counter ``name`` on ``registry``, creating it on first use."""
    return _get_or_create(Counter, name, documentation, labelnames, registry)


def gauge(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    *,
    registry: CollectorRegistry | None = None,
    multiprocess_mode: str = "all",
) -> Gauge:
    """Return the gauge ``name`` on ``registry``, creating it on first use.

    ``multiprocess_mode`` says how prometheus-client merges the gauge across worker processes.
    """
    return _get_or_create(
        Gauge, name, documentation, labelnames, registry, multiprocess_mode=multiprocess_mode
    )


def histogram(
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    *,
    buckets: Sequence[float],
    registry: CollectorRegistry | None = None,
) -> Histogram:
    """Return the histogram ``name`` on ``registry``, creating it on first use."""
    return _get_or_create(Histogram, name, documentation, labelnames, registry, buckets=buckets)


class PerRegistry(Generic[_Set]):
    """A part's set of metrics, built once per registry on first use and held weakly.

    Each SDK part (LLM calls, retrieval, predictions, ...) keeps its metric objects in one small
    class; ``PerRegistry(ThatClass)`` hands out the instance for a registry (the default one when
    None). The lookup takes no lock once built, because it runs on the app's request path.

    Example::

        >>> from prometheus_client import CollectorRegistry
        >>> class _Jobs:
        ...     def __init__(self, registry: CollectorRegistry) -> None:
        ...         self.done = counter("jobs_done", "Jobs done.", registry=registry)
        >>> jobs = PerRegistry(_Jobs)
        >>> registry = CollectorRegistry()
        >>> jobs(registry) is jobs(registry)
        True
    """

    def __init__(self, build: Callable[[CollectorRegistry], _Set]) -> None:
        self._build = build
        self._sets: weakref.WeakKeyDictionary[CollectorRegistry, _Set] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def __call__(self, registry: CollectorRegistry | None = None) -> _Set:
        target = registry if registry is not None else default_registry()
        found = self._sets.get(target)
        if found is None:
            with self._lock:
                found = self._sets.get(target)
                if found is None:
                    found = self._sets[target] = self._build(target)
        return found
