"""HTTP server metrics, framework-free: OpenTelemetry HTTP semantic conventions, Prometheus names.

The ASGI and WSGI middlewares in :mod:`vigie.integrations` only find the method, route template,
status and sizes of a request; this module owns the metric families and records them. It is on
the hot path of every request, so it avoids the costly parts of prometheus-client: the children of
each label combination are looked up once (``.labels()`` validates and locks) and then kept in a
plain dict keyed by a tuple, and the in-flight gauge children are created up front.

Metrics (label names are the OTel attribute names with dots turned into underscores):

=========================================== ========= ==========================================
name                                        type      labels
=========================================== ========= ==========================================
``http_server_request_duration_seconds``    histogram method, scheme, route, status code
``http_server_requests_total``              counter   method, scheme, route, status code
``http_server_active_requests``             gauge     method, scheme
``http_server_request_body_size_bytes``     histogram method, scheme, route, status code
``http_server_response_body_size_bytes``    histogram method, scheme, route, status code
=========================================== ========= ==========================================

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> metrics = HttpServerMetrics(registry)
    >>> metrics.record("GET", "http", "/items/{item_id}", 200, 0.012, 0, 42)
    >>> registry.get_sample_value(
    ...     "http_server_requests_total",
    ...     {"http_request_method": "GET", "url_scheme": "http",
    ...      "http_route": "/items/{item_id}", "http_response_status_code": "200"},
    ... )
    1.0
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk import instruments

__all__ = [
    "DURATION_BUCKETS",
    "KNOWN_METHODS",
    "OTHER",
    "SIZE_BUCKETS",
    "HttpServerMetrics",
    "normalize_method",
]

# OpenTelemetry HTTP semconv: explicit bucket boundaries advised for http.server.request.duration.
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
# The semconv gives no body-size boundaries; powers of ten from 100 B to 100 MB keep series few.
SIZE_BUCKETS: tuple[float, ...] = (100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)

#: The value unknown methods and schemes collapse into (OTel's ``_OTHER``).
OTHER = "_OTHER"
#: Methods kept as they are (RFC 9110, RFC 5789 PATCH, and QUERY); anything else becomes ``_OTHER``.
KNOWN_METHODS: frozenset[str] = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_SCHEMES = frozenset({"http", "https"})

_LABELS = ("http_request_method", "url_scheme", "http_route", "http_response_status_code")
_ACTIVE_LABELS = ("http_request_method", "url_scheme")

# One request's children: duration histogram, request counter, request size, response size.
_Children = tuple[Any, Any, Any, Any]


def normalize_method(method: str) -> str:
    """Return ``method`` if it is a known HTTP method, else ``_OTHER`` (bounds the label values).

    >>> normalize_method("GET"), normalize_method("get"), normalize_method("BREW")
    ('GET', '_OTHER', '_OTHER')
    """
    return method if method in KNOWN_METHODS else OTHER


class HttpServerMetrics:
    """The HTTP server metric families of one registry, with the label children cached.

    ``unmatched_route`` is the ``http_route`` value of requests that matched no route (404s of
    scanners, typos): all of them share this one value, so random URLs add no series. The default
    is the empty string, which Prometheus treats as an absent label, as OTel leaves ``http.route``
    unset when there is no route.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        unmatched_route: str = "",
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        size_buckets: Sequence[float] = SIZE_BUCKETS,
    ) -> None:
        if not isinstance(unmatched_route, str):
            raise InstrumentationError("unmatched_route must be a string")
        self.unmatched_route = unmatched_route
        self.duration = instruments.histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, to the last byte of the response.",
            _LABELS,
            buckets=_checked_buckets(duration_buckets, "duration_buckets"),
            registry=registry,
        )
        self.requests = instruments.counter(
            "http_server_requests",
            "HTTP server requests handled.",
            _LABELS,
            registry=registry,
        )
        self.active = instruments.gauge(
            "http_server_active_requests",
            "HTTP server requests in flight.",
            _ACTIVE_LABELS,
            registry=registry,
            multiprocess_mode="livesum",
        )
        sizes = _checked_buckets(size_buckets, "size_buckets")
        self.request_size = instruments.histogram(
            "http_server_request_body_size_bytes",
            "Size of HTTP server request bodies (Content-Length, or the bytes read).",
            _LABELS,
            buckets=sizes,
            registry=registry,
        )
        self.response_size = instruments.histogram(
            "http_server_response_body_size_bytes",
            "Size of HTTP server response bodies, in bytes sent.",
            _LABELS,
            buckets=sizes,
            registry=registry,
        )
        self._children: dict[tuple[str, str, str, int], _Children] = {}
        # Every in-flight child exists up front: the hot path is one dict lookup, no .labels().
        self._active_children: dict[tuple[str, str], Any] = {
            (method, scheme): self.active.labels(method, scheme)
            for method in (*KNOWN_METHODS, OTHER)
            for scheme in (*_SCHEMES, OTHER)
        }

    def active_child(self, method: str, scheme: str) -> Any:
        """The in-flight gauge child for a normalised ``method`` and a raw ``scheme``."""
        child = self._active_children.get((method, scheme))
        if child is None:
            child = self._active_children[(method, OTHER)]
        return child

    def record(
        self,
        method: str,
        scheme: str,
        route: str,
        status: int,
        duration: float,
        request_size: int,
        response_size: int,
        exemplar: dict[str, str] | None = None,
    ) -> None:
        """Record one finished request (``method`` already normalised, ``route`` a template).

        ``request_size`` is -1 when the request had no body: the request-size histogram then
        records nothing, so its count is the number of requests that carried a body.
        """
        children = self._children.get((method, scheme, route, status))
        if children is None:
            children = self._create_children(method, scheme, route, status)
        duration_child, requests_value, request_child, response_child = children
        if exemplar is None:
            duration_child.observe(duration)
        else:
            duration_child.parent.observe(duration, exemplar)
        requests_value.inc(1)
        if request_size >= 0:
            request_child.observe(request_size)
        response_child.observe(response_size)

    def _create_children(self, method: str, scheme: str, route: str, status: int) -> _Children:
        key = (method, scheme, route, status)
        label_scheme = scheme if scheme in _SCHEMES else OTHER
        values = (method, label_scheme, route, str(status))
        children = (
            _FastHistogram.of(self.duration.labels(*values)),
            _fast_value(self.requests.labels(*values)),
            _FastHistogram.of(self.request_size.labels(*values)),
            _FastHistogram.of(self.response_size.labels(*values)),
        )
        # Racing threads may both get here; .labels() returns the same children, so no harm.
        self._children[key] = children
        return children


class _FastHistogram:
    """Observe into a prometheus-client histogram child without its per-call checks.

    ``Histogram.observe`` re-checks observability and walks the bounds in Python on every call;
    here the bucket is found by bisection and the child's own value objects (mutex or mmap, so
    multiprocess mode works unchanged) are incremented: about half the cost. A client version
    without these attributes gets the public method instead (see :meth:`of`).
    """

    __slots__ = ("_bounds", "_buckets", "_sum", "parent")

    def __init__(self, child: Any) -> None:
        self.parent = child
        self._sum = child._sum
        self._buckets = child._buckets
        self._bounds = child._upper_bounds

    @classmethod
    def of(cls, child: Any) -> Any:
        """A fast observer of ``child``, or a public-API one if its internals are unexpected."""
        try:
            fast = cls(child)
        except AttributeError:
            return _Public(child)
        if len(fast._buckets) != len(fast._bounds) or fast._bounds[-1] != float("inf"):
            return _Public(child)
        return fast

    def observe(self, amount: float) -> None:
        """Count ``amount`` in its bucket and add it to the sum."""
        self._sum.inc(amount)
        self._buckets[bisect_left(self._bounds, amount)].inc(1)


class _Public:
    """Fallback observer going through prometheus-client's public ``observe``."""

    __slots__ = ("parent",)

    def __init__(self, child: Any) -> None:
        self.parent = child

    def observe(self, amount: float) -> None:
        self.parent.observe(amount)


def _fast_value(counter_child: Any) -> Any:
    """The value object of a counter child (``inc(1)`` without re-validation), or the child."""
    value = getattr(counter_child, "_value", None)
    return value if value is not None and hasattr(value, "inc") else counter_child


def _checked_buckets(buckets: Iterable[float], name: str) -> list[float]:
    values = [float(bound) for bound in buckets]
    if not values or any(later <= earlier for earlier, later in itertools.pairwise(values)):
        raise InstrumentationError(f"{name} must be a non-empty increasing sequence, got {values}")
    return values
