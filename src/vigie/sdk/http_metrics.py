"""HTTP server metrics, framework-free: OpenTelemetry HTTP semantic conventions, Prometheus names.

The ASGI and WSGI middlewares in :mod:`vigie.integrations` only find the method, route template,
status and sizes of a request; this module owns the metric families and records them. It is on
the hot path of every request, so in a single-process server it does not touch prometheus-client
per request at all: :meth:`HttpServerMetrics.record` appends three numbers to its label set's
buffer, and the buffers are folded into the prometheus-client metrics in batches (see
:mod:`vigie.sdk.http_folding`), when one holds :data:`BATCH_SIZE` requests and before every
collection of the families, so a scrape
(or ``registry.get_sample_value``) always sees exact values. prometheus-client still owns and
exposes every value. In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, gunicorn) each worker's
values live in memory-mapped files that another worker reads at scrape time, where this worker's
buffer is out of reach, so there every request is recorded at once, as prometheus-client does.

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
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk import instruments
from vigie.sdk.http_folding import FIELDS, Folder, InFlight, Series, folding_supported

__all__ = [
    "BATCH_SIZE",
    "DURATION_BUCKETS",
    "KNOWN_METHODS",
    "OTHER",
    "SIZE_BUCKETS",
    "UNMEASURED_BODY_METHODS",
    "HttpServerMetrics",
    "normalize_method",
]

# OpenTelemetry HTTP semconv: explicit bucket boundaries advised for http.server.request.duration.
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
# The semconv gives no body-size boundaries; powers of ten from 100 B to 100 MB keep series few.
SIZE_BUCKETS: tuple[float, ...] = (100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
#: Buffered requests of one label set folded on the request path that fills its buffer: a buffer
#: stays under 6 kB (3 doubles per request), and a fold costs about 0.1 µs per request.
BATCH_SIZE = 256

#: The value unknown methods and schemes collapse into (OTel's ``_OTHER``).
OTHER = "_OTHER"
#: Methods kept as they are (RFC 9110, RFC 5789 PATCH, and QUERY); anything else becomes ``_OTHER``.
KNOWN_METHODS: frozenset[str] = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
#: Methods whose request content HTTP gives no meaning (RFC 9110 §9.3.1, §9.3.2): the middlewares
#: do not read their ``Content-Length``, so the request-size histogram never counts them, and a
#: GET costs the same whatever the number of headers.
UNMEASURED_BODY_METHODS: frozenset[str] = frozenset({"GET", "HEAD"})
_SCHEMES = frozenset({"http", "https"})

_LABELS = ("http_request_method", "url_scheme", "http_route", "http_response_status_code")
_ACTIVE_LABELS = ("http_request_method", "url_scheme")

_Key = tuple[str, str, str, int]


def normalize_method(method: str) -> str:
    """Return ``method`` if it is a known HTTP method, else ``_OTHER`` (bounds the label values).

    >>> normalize_method("GET"), normalize_method("get"), normalize_method("BREW")
    ('GET', '_OTHER', '_OTHER')
    """
    return method if method in KNOWN_METHODS else OTHER


class _Recorder:
    """What every :class:`HttpServerMetrics` of one registry shares: series, buffer, in-flight.

    Shared because two apps instrumented on one registry record into the same families, and the
    in-flight gauge, published at scrape time, must count the requests of both.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        duration_buckets: Sequence[float],
        size_buckets: Sequence[float],
        deferred: bool | None,
    ) -> None:
        self.duration = instruments.histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests, to the last byte of the response.",
            _LABELS,
            buckets=duration_buckets,
            registry=registry,
        )
        self.requests = instruments.counter(
            "http_server_requests", "HTTP server requests handled.", _LABELS, registry=registry
        )
        self.active = instruments.gauge(
            "http_server_active_requests",
            "HTTP server requests in flight.",
            _ACTIVE_LABELS,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.request_size = instruments.histogram(
            "http_server_request_body_size_bytes",
            "Size of HTTP server request bodies (Content-Length, or the bytes read).",
            _LABELS,
            buckets=size_buckets,
            registry=registry,
        )
        self.response_size = instruments.histogram(
            "http_server_response_body_size_bytes",
            "Size of HTTP server response bodies, in bytes sent.",
            _LABELS,
            buckets=size_buckets,
            registry=registry,
        )
        supported = folding_supported(self.duration, self.request_size)
        if deferred and not supported:
            raise InstrumentationError(
                "deferred recording needs prometheus-client's in-memory values "
                "(it is off in multiprocess mode, PROMETHEUS_MULTIPROC_DIR)"
            )
        self.deferred = supported if deferred is None else deferred
        self.series: dict[_Key, Series] = {}
        self.series_lock = threading.Lock()
        self.folder: Folder | None = None
        self.in_flight: dict[tuple[str, str], Any] = {}
        for method in (*KNOWN_METHODS, OTHER):
            for scheme in (*_SCHEMES, OTHER):
                # Every in-flight child exists up front: the hot path is one dict lookup.
                child = self.active.labels(method, scheme)
                self.in_flight[(method, scheme)] = InFlight(child) if self.deferred else child
        if self.deferred:
            self.folder = Folder(
                self.duration,
                self.request_size,
                [self.duration, self.requests, self.request_size, self.response_size],
                self.active,
                [value for value in self.in_flight.values() if isinstance(value, InFlight)],
                self.series,
            )

    def new_series(self, key: _Key) -> Series:
        method, scheme, route, status = key
        values = (method, scheme if scheme in _SCHEMES else OTHER, route, str(status))
        with self.series_lock:
            found = self.series.get(key)
            if found is None:
                found = self.series[key] = Series(
                    self.duration.labels(*values),
                    self.requests.labels(*values),
                    self.request_size.labels(*values),
                    self.response_size.labels(*values),
                )
        return found


_recorders: weakref.WeakKeyDictionary[CollectorRegistry, _Recorder] = weakref.WeakKeyDictionary()
_recorders_lock = threading.Lock()


class HttpServerMetrics:
    """The HTTP server metric families of one registry, recorded cheaply on the request path.

    ``unmatched_route`` is the ``http_route`` value of requests that matched no route (404s of
    scanners, typos): all of them share this one value, so random URLs add no series. The default
    is the empty string, which Prometheus treats as an absent label, as OTel leaves ``http.route``
    unset when there is no route.

    ``deferred`` says whether requests are buffered and folded in batches (the default when
    prometheus-client keeps its values in memory) or recorded at once (always in multiprocess
    mode). It is decided by the first instance on a registry; all instances there share it.
    """

    #: Numbers in a label set's buffer at which the request path folds it (``batch_size`` times
    #: three): a plain attribute, as the ASGI middleware reads it on every request.
    buffer_limit: int

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        unmatched_route: str = "",
        duration_buckets: Sequence[float] = DURATION_BUCKETS,
        size_buckets: Sequence[float] = SIZE_BUCKETS,
        deferred: bool | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if not isinstance(unmatched_route, str):
            raise InstrumentationError("unmatched_route must be a string")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InstrumentationError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.unmatched_route = unmatched_route
        durations = _checked_buckets(duration_buckets, "duration_buckets")
        sizes = _checked_buckets(size_buckets, "size_buckets")
        target = registry if registry is not None else instruments.default_registry()
        with _recorders_lock:
            recorder = _recorders.get(target)
            if recorder is None:
                recorder = _recorders[target] = _Recorder(target, durations, sizes, deferred)
        if deferred is not None and deferred != recorder.deferred:
            raise InstrumentationError(
                f"the HTTP metrics of this registry are already recorded with deferred="
                f"{recorder.deferred}"
            )
        self.duration = recorder.duration
        self.requests = recorder.requests
        self.active = recorder.active
        self.request_size = recorder.request_size
        self.response_size = recorder.response_size
        self.deferred = recorder.deferred
        self.batch_size = batch_size
        self._recorder = recorder
        self._series = recorder.series
        #: The in-flight counters by (normalised method, scheme), all created up front.
        self.in_flight: Mapping[tuple[str, str], Any] = recorder.in_flight
        self._folder = recorder.folder

    @property
    def batch_size(self) -> int:
        """Requests of one label set buffered before the request path folds them."""
        return self.buffer_limit // FIELDS

    @batch_size.setter
    def batch_size(self, requests: int) -> None:
        self.buffer_limit = requests * FIELDS

    def series(self, method: str, scheme: str, route: str, status: int) -> Series:
        """The label set of a request (``method`` already normalised), created on first use.

        With deferred recording a caller may append :data:`~vigie.sdk.http_folding.FIELDS`
        numbers per request to its ``buffer`` itself (as :meth:`record` does), then call
        :meth:`fold_series` once the buffer holds :attr:`buffer_limit` numbers.
        """
        key = (method, scheme, route, status)
        found = self._series.get(key)
        if found is None:
            found = self._recorder.new_series(key)
        return found

    def fold_series(self, series: Series) -> None:
        """Fold one label set's full buffer (the request that filled it calls this)."""
        if self._folder is not None:
            self._folder.fold(wait=False, only=series)

    def active_child(self, method: str, scheme: str) -> Any:
        """The in-flight counter (``inc()`` / ``dec()``) of a normalised ``method`` and a scheme."""
        child = self.in_flight.get((method, scheme))
        if child is None:
            child = self.in_flight[(method, OTHER)]
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
        records nothing, so its count is the number of requests that carried a body. A request
        with an ``exemplar`` is recorded at once (the exemplar keeps its own timestamp).
        """
        key = (method, scheme, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._recorder.new_series(key)
        folder = self._folder
        if folder is None or exemplar is not None:
            series.observe(duration, request_size, response_size, exemplar)
            return
        # list.extend is one C call: atomic, so threads need no lock.
        buffer = series.buffer
        buffer.extend((duration, request_size, response_size))
        if len(buffer) >= self.buffer_limit:
            folder.fold(wait=False, only=series)

    def fold(self) -> None:
        """Fold the buffered requests into the metrics now (a scrape does it by itself)."""
        if self._folder is not None:
            self._folder.fold()

    @property
    def pending(self) -> int:
        """How many finished requests wait in the buffers (0 when recording at once)."""
        if self._folder is None:
            return 0
        return sum(len(series.buffer) for series in list(self._series.values())) // FIELDS


def _checked_buckets(buckets: Iterable[float], name: str) -> list[float]:
    values = [float(bound) for bound in buckets]
    if not values or any(later <= earlier for earlier, later in itertools.pairwise(values)):
        raise InstrumentationError(f"{name} must be a non-empty increasing sequence, got {values}")
    return values
