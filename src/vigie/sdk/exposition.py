"""The ``/metrics`` response: Prometheus text or OpenMetrics, gzip when asked, all workers merged.

The HTTP middlewares answer ``/metrics`` with :func:`render_metrics`, which picks the format from
the scraper's ``Accept`` header (text format 0.0.4 by default, OpenMetrics 1.0 when asked, as
Prometheus does since 2.5), compresses with gzip when ``Accept-Encoding`` allows it, and, when
``PROMETHEUS_MULTIPROC_DIR`` is set, merges the files of every worker process instead of reading
this process's registry alone.

Example::

    >>> from prometheus_client import CollectorRegistry, Counter
    >>> registry = CollectorRegistry()
    >>> Counter("demo_events", "Events.", registry=registry).inc()
    >>> response = render_metrics(registry, accept="application/openmetrics-text; version=1.0.0")
    >>> response.content_type.split(";")[0], response.body.endswith(b"# EOF\\n")
    ('application/openmetrics-text', True)
"""

from __future__ import annotations

import gzip
import threading
import weakref
from dataclasses import dataclass, field

from prometheus_client import REGISTRY, CollectorRegistry, GCCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder, gzip_accepted

from vigie.sdk import instruments
from vigie.sdk.multiprocess import LockedMultiProcessCollector, multiprocess_directory

__all__ = ["MetricsResponse", "render_metrics"]

_with_runtime_metrics: weakref.WeakSet[CollectorRegistry] = weakref.WeakSet()
_runtime_lock = threading.Lock()


def _ensure_runtime_metrics(registry: CollectorRegistry) -> None:
    """Give an app's own registry the process and GC metrics the global one has by default."""
    if registry is REGISTRY:
        return
    with _runtime_lock:
        if registry in _with_runtime_metrics:
            return
        _with_runtime_metrics.add(registry)
        try:
            ProcessCollector(registry=registry)
            GCCollector(registry=registry)
        except ValueError:
            # The user registered them already: their names are taken, which is what we want.
            pass


@dataclass(frozen=True)
class MetricsResponse:
    """What to send back to a scraper."""

    body: bytes
    content_type: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    status_code: int = 200


def render_metrics(
    registry: CollectorRegistry | None = None,
    *,
    accept: str = "",
    accept_encoding: str = "",
    multiprocess_dir: str | None = None,
) -> MetricsResponse:
    """Render the metrics of ``registry`` (or of all workers) for a scraper's headers.

    ``multiprocess_dir`` defaults to ``PROMETHEUS_MULTIPROC_DIR``; when one is set, the metrics
    come from the worker files there, and ``registry`` is not read (it would count this worker
    twice).
    """
    directory = multiprocess_dir if multiprocess_dir is not None else multiprocess_directory()
    if directory is not None:
        source = CollectorRegistry()
        LockedMultiProcessCollector(source, directory)
    else:
        source = registry if registry is not None else instruments.default_registry()
        _ensure_runtime_metrics(source)
    encoder, content_type = choose_encoder(accept)
    body = encoder(source)
    headers = [("Content-Type", content_type), ("Vary", "Accept, Accept-Encoding")]
    if gzip_accepted(accept_encoding):
        # Level 6 is zlib's default speed/size trade-off; 9 costs much more for little gain.
        body = gzip.compress(body, compresslevel=6)
        headers.append(("Content-Encoding", "gzip"))
    headers.append(("Content-Length", str(len(body))))
    return MetricsResponse(body=body, content_type=content_type, headers=headers)
