"""Fold buffered HTTP observations into prometheus-client metrics, in batches, before each scrape.

Recording a request straight into prometheus-client costs about 2 µs: seven value objects each
take their lock, and every histogram walks its bounds. :class:`~vigie.sdk.http_metrics.
HttpServerMetrics` instead appends the request's three numbers (duration, request and response
body sizes) to its label set's :attr:`Series.buffer`, a plain list (``extend`` is one C call,
atomic, so threads need no lock; numbers are not tracked by the garbage collector), and
:meth:`Folder.fold` adds whole buffers at once, in C loops (``sorted``, one bisection per
bucket bound, ``sum``): per label set, one increment per touched bucket, sum and counter.
A fold runs

* when a label set's buffer holds a batch (on the request that fills it), and
* before any of the HTTP families is collected: :meth:`Folder.hook` wraps the families'
  ``collect``, which every scrape, ``generate_latest`` and ``registry.get_sample_value`` go
  through. The values a scrape reads are therefore exact, whatever the buffer held.

The in-flight gauge is two ``itertools.count`` per method and scheme (started, finished; ``next``
is one atomic C call), published into the gauge's children by the same hook.

Only prometheus-client's in-memory values fold (a scrape reaching another process of a multiprocess
server could not reach this buffer): :func:`folding_supported` says so.

Example::

    >>> from prometheus_client import CollectorRegistry, Histogram
    >>> registry = CollectorRegistry()
    >>> latency = Histogram("demo_seconds", "Demo.", buckets=[0.1, 1.0], registry=registry)
    >>> folding_supported(latency)
    True
"""

from __future__ import annotations

import itertools
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import Histogram
from prometheus_client import values as prometheus_values

from vigie.sdk.failsafe import log_internal_error

__all__ = ["FIELDS", "Folder", "InFlight", "Series", "folding_supported"]

#: Numbers buffered per request: duration, request body size (-1: no body), response body size.
FIELDS = 3
#: What one fold takes out of one label set's buffer: the series and its buffered numbers.
Observation = tuple["Series", list[float]]


def folding_supported(*histograms: Any) -> bool:
    """True when prometheus-client keeps values in memory and its internals are as expected."""
    if prometheus_values.ValueClass is not prometheus_values.MutexValue:
        return False  # multiprocess mode: values live in files other processes read
    try:
        probe = Histogram("vigie_probe", "Probe.", ["x"], buckets=[1.0], registry=None).labels("x")
    except Exception:  # pragma: no cover - a prometheus-client we do not know
        return False
    if not isinstance(_FastHistogram.of(probe), _FastHistogram):
        return False
    return all(_bounds(histogram) is not None for histogram in histograms)


def _bounds(histogram: Any) -> list[float] | None:
    bounds = getattr(histogram, "_upper_bounds", None)
    if not isinstance(bounds, list) or not bounds or bounds[-1] != float("inf"):
        return None
    return bounds


def _count_of(counter: itertools.count[int]) -> int:
    # itertools.count has no reader; its repr is "count(N)", N being the next value it returns.
    return int(repr(counter)[6:-1])


class InFlight:
    """Requests in flight for one method and scheme: ``inc()`` and ``dec()`` are C calls."""

    __slots__ = ("_finished", "_started", "child", "dec", "inc")

    def __init__(self, child: Any) -> None:
        self.child = child
        self._started = itertools.count()
        self._finished = itertools.count()
        # partial(next, counter) calls faster than the counter's ``__next__`` method-wrapper.
        self.inc: Callable[[], int] = self._started.__next__
        self.dec: Callable[[], int] = self._finished.__next__

    def value(self) -> int:
        """Started minus finished (finished read first, so never negative)."""
        finished = _count_of(self._finished)
        return _count_of(self._started) - finished


class Series:
    """The prometheus-client children of one label set, and its buffer of finished requests.

    ``buffer`` holds :data:`FIELDS` numbers per request not yet folded (``extend`` appends them
    in one atomic C call; only :meth:`Folder.fold` removes, from the front). A list, not an
    ``array``: reading an array back would box every number again.
    """

    __slots__ = ("buffer", "duration", "request_size", "requests", "response_size")

    def __init__(self, duration: Any, requests: Any, request_size: Any, response_size: Any) -> None:
        self.duration = _FastHistogram.of(duration)
        self.requests = _fast_value(requests)
        self.request_size = _FastHistogram.of(request_size)
        self.response_size = _FastHistogram.of(response_size)
        self.buffer: list[float] = []

    def observe(
        self,
        duration: float,
        request_size: int,
        response_size: int,
        exemplar: dict[str, str] | None = None,
    ) -> None:
        """Record one request at once (multiprocess mode, or a request carrying an exemplar)."""
        if exemplar is None:
            self.duration.observe(duration)
        else:
            self.duration.parent.observe(duration, exemplar)
        self.requests.inc(1)
        if request_size >= 0:
            self.request_size.observe(request_size)
        self.response_size.observe(response_size)


class Folder:
    """Folds the buffers of one registry's label sets (``series``) into the families.

    ``families`` are the metrics whose collection folds first; ``gauge`` is the in-flight gauge,
    published from ``in_flight`` when it is collected.
    """

    def __init__(
        self,
        duration: Any,
        size: Any,
        families: Sequence[Any],
        gauge: Any,
        in_flight: Iterable[InFlight],
        series: Mapping[Any, Series],
    ) -> None:
        duration_bounds, size_bounds = _bounds(duration), _bounds(size)
        if duration_bounds is None or size_bounds is None:
            raise ValueError("histograms without prometheus-client's bucket bounds cannot fold")
        self._duration_bounds = duration_bounds
        self._size_bounds = size_bounds
        self._lock = threading.Lock()
        self._in_flight = list(in_flight)
        self._series = series
        for family in families:
            self.hook(family)
        self.hook(gauge, self.publish_in_flight)

    def hook(self, family: Any, then: Callable[[], None] | None = None) -> None:
        """Make collecting ``family`` fold the buffer first (and run ``then``)."""
        collect = family.collect

        def folding_collect() -> Any:
            self.fold()
            if then is not None:
                then()
            return collect()

        # An instance attribute: the registry calls family.collect(), which now folds first.
        family.collect = folding_collect

    def fold(self, *, wait: bool = True, only: Series | None = None) -> None:
        """Add the buffered requests to the metrics; with ``wait=False``, skip if a fold runs.

        ``only``: fold that label set alone (the request path, whose buffer just filled, need
        not walk every label set); by default all of them (a collection).
        """
        if not self._lock.acquire(blocking=wait):
            return
        try:
            batch: list[Observation] = []
            # list(): atomic against series added meanwhile.
            for series in [only] if only is not None else list(self._series.values()):
                buffer = series.buffer
                size = len(buffer)
                if size:
                    # Copy, then delete that many from the front: both are atomic, and requests
                    # appended meanwhile stay in the buffer for the next fold.
                    batch.append((series, buffer[:size]))
                    del buffer[:size]
            if batch:
                self._add(batch)
        except Exception:
            log_internal_error("http_metrics.fold")
        finally:
            self._lock.release()

    def publish_in_flight(self) -> None:
        """Set the in-flight gauge children from the counters."""
        try:
            for counts in self._in_flight:
                counts.child.set(counts.value())
        except Exception:
            log_internal_error("http_metrics.in_flight")

    def _add(self, batch: list[Observation]) -> None:
        for series, numbers in batch:
            durations = numbers[0::FIELDS]
            requests = numbers[1::FIELDS]
            responses = numbers[2::FIELDS]
            series.requests.inc(len(durations))
            series.duration.add(_counts(self._duration_bounds, durations), sum(durations))
            without_body = requests.count(-1)
            if without_body < len(requests):
                counts = _counts(self._size_bounds, requests)
                counts[0] -= without_body  # -1 (no body) fell in the first bucket: not a size
                series.request_size.add(counts, sum(requests) + without_body)
            series.response_size.add(_counts(self._size_bounds, responses), sum(responses))


def _counts(bounds: Sequence[float], values: Iterable[float]) -> list[int]:
    """How many ``values`` fall in each bucket (``value <= bound``, as prometheus-client counts).

    Sorting is one C loop over the batch; then each bound is one bisection, whatever the size.
    """
    ordered = sorted(values)
    counts = []
    below = 0
    for bound in bounds:
        upto = bisect_right(ordered, bound)
        counts.append(upto - below)
        below = upto
    return counts


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

    def add(self, counts: list[int], total: float) -> None:
        """Add a batch: ``counts[i]`` observations in bucket ``i``, summing to ``total``."""
        if not any(counts):
            return
        self._sum.inc(total)
        for bucket, count in zip(self._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


class _Public:
    """Fallback observer going through prometheus-client's public ``observe`` (never folds)."""

    __slots__ = ("parent",)

    def __init__(self, child: Any) -> None:
        self.parent = child

    def observe(self, amount: float) -> None:
        self.parent.observe(amount)


def _fast_value(counter_child: Any) -> Any:
    """The value object of a counter child (``inc(1)`` without re-validation), or the child."""
    value = getattr(counter_child, "_value", None)
    return value if value is not None and hasattr(value, "inc") else counter_child
