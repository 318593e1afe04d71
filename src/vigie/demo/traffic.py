"""A traffic generator for the demo app: a realistic mix of requests, at a bounded rate.

A few worker threads share one httpx client and one pacer, so the rate never exceeds ``rate``
requests per second and at most ``concurrency`` requests are in flight, however slow the app
gets (a slow app lowers the rate instead of piling up requests). The mix reads like real use of
the FAQ: answers by id (a few unknown ids: 404), listings, questions to ``/ask`` (some fail with
a 5xx on purpose), streamed answers, slow reports, feedback (some malformed: 422), scanner-like
404s on random paths, and a health probe now and then. A compact progress line goes to
``progress``.

Example::

    import threading
    from vigie.demo.traffic import TrafficGenerator

    stop = threading.Event()
    stats = TrafficGenerator("http://127.0.0.1:8000", rate=5).run(stop, duration=10)
    print(stats.summary())
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from vigie.exceptions import ConfigurationError

__all__ = ["TrafficGenerator", "TrafficStats"]

_QUESTIONS = (
    "how to renew a passport",
    "lost identity card what now",
    "identity card for my child",
    "income tax return deadline",
    "pay property tax monthly",
    "help with my tax return",
    "change of address",
    "housing assistance eligibility",
    "residential parking permit",
    "bulky items collection",
    "library card",
    "register to vote",
    "opening hours of the swimming pool",
)
_CATEGORIES = ("identity", "taxes", "housing", "city")


@dataclass
class TrafficStats:
    """What the generator sent and what came back."""

    sent: int = 0
    by_class: dict[str, int] = field(
        default_factory=lambda: {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, "failed": 0}
    )
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int | None, seconds: float) -> None:
        """Count one request: its status (None when no answer came back) and duration."""
        key = "failed" if status is None else f"{min(status // 100, 5)}xx"
        with self._lock:
            self.sent += 1
            self.by_class[key] = self.by_class.get(key, 0) + 1
            self.latencies.append(seconds)

    def percentile(self, fraction: float) -> float:
        """The ``fraction`` quantile of recent latencies, in seconds (0 when none)."""
        with self._lock:
            ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> str:
        """One compact line: count, rate, status classes, p50 and p95."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        with self._lock:
            sent, classes = self.sent, dict(self.by_class)
        counts = "  ".join(f"{name} {count}" for name, count in classes.items() if count)
        return (
            f"traffic: {sent} requests  {sent / elapsed:.1f}/s  {counts or 'no answer yet'}  "
            f"p50 {self.percentile(0.5) * 1000:.0f} ms  p95 {self.percentile(0.95) * 1000:.0f} ms"
        )


class _Pacer:
    """Hands out send times ``1/rate`` apart to any number of workers."""

    def __init__(self, rate: float) -> None:
        self._interval = 1.0 / rate
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def delay(self) -> float:
        with self._lock:
            now = time.monotonic()
            self._next = max(self._next + self._interval, now)  # no burst after a stall
            return self._next - now


_Request = Callable[[httpx.Client, random.Random], int]


class TrafficGenerator:
    """Sends a realistic mix of requests to ``base_url`` until stopped.

    ``rate`` is the most requests per second, ``concurrency`` the most in flight, ``seed`` makes
    the mix reproducible, ``progress`` receives a progress line (None for silence), every
    ``progress_interval`` seconds (rewritten in place on a terminal).
    """

    def __init__(
        self,
        base_url: str,
        *,
        rate: float = 8.0,
        concurrency: int = 4,
        seed: int | None = None,
        timeout: float = 10.0,
        progress: TextIO | None = None,
        progress_interval: float | None = None,
    ) -> None:
        if not rate > 0:
            raise ConfigurationError(
                f"rate must be > 0 requests per second, got {rate!r}", field="rate"
            )
        if concurrency < 1:
            raise ConfigurationError(
                f"concurrency must be >= 1, got {concurrency!r}", field="concurrency"
            )
        self.base_url = base_url.rstrip("/")
        self.rate = rate
        self.concurrency = concurrency
        self.timeout = timeout
        self.progress = progress
        self._tty = bool(progress is not None and progress.isatty())
        self.progress_interval = progress_interval or (1.0 if self._tty else 5.0)
        self._seed = seed
        self._mix: list[tuple[_Request, int]] = [
            (_answer, 30), (_unknown_answer, 3), (_listing, 8), (_category, 8), (_ask, 24),
            (_ask_streaming, 8), (_report, 5), (_feedback, 8), (_bad_feedback, 1),
            (_scanner, 3), (_health, 2),
        ]  # fmt: skip
        self.stats = TrafficStats()

    def run(self, stop: threading.Event, duration: float | None = None) -> TrafficStats:
        """Send requests until ``stop`` is set or ``duration`` seconds passed; return the stats."""
        self.stats = TrafficStats()
        pacer = _Pacer(self.rate)
        ends_at = time.monotonic() + duration if duration is not None else float("inf")
        limits = httpx.Limits(max_connections=self.concurrency)
        with httpx.Client(base_url=self.base_url, timeout=self.timeout, limits=limits) as client:
            workers = [
                threading.Thread(
                    target=self._work,
                    args=(
                        client,
                        pacer,
                        stop,
                        ends_at,
                        random.Random(None if self._seed is None else self._seed + n),
                    ),
                    name=f"vigie-demo-traffic-{n}",
                    daemon=True,
                )
                for n in range(self.concurrency)
            ]
            for worker in workers:
                worker.start()
            self._report_progress(workers, stop, ends_at)
            for worker in workers:
                worker.join(self.timeout + 1)
        if self._tty and self.progress is not None:
            self.progress.write("\n")
            self.progress.flush()
        return self.stats

    def _work(
        self,
        client: httpx.Client,
        pacer: _Pacer,
        stop: threading.Event,
        ends_at: float,
        chance: random.Random,
    ) -> None:
        requests = [request for request, _ in self._mix]
        weights = [weight for _, weight in self._mix]
        while not stop.wait(pacer.delay()) and time.monotonic() < ends_at:
            request = chance.choices(requests, weights)[0]
            started = time.monotonic()
            try:
                status: int | None = request(client, chance)
            except httpx.HTTPError:
                status = None  # the app is down or too slow: counted, never raised
            self.stats.record(status, time.monotonic() - started)

    def _report_progress(
        self, workers: list[threading.Thread], stop: threading.Event, ends_at: float
    ) -> None:
        while any(worker.is_alive() for worker in workers):
            wait = min(self.progress_interval, max(ends_at - time.monotonic(), 0.05))
            if stop.wait(wait):
                return
            if self.progress is not None and any(worker.is_alive() for worker in workers):
                line = self.stats.summary()
                self.progress.write(f"\r{line}\x1b[K" if self._tty else line + "\n")
                self.progress.flush()


def _answer(client: httpx.Client, chance: random.Random) -> int:
    return client.get(f"/faq/{chance.randint(1, 12)}").status_code


def _unknown_answer(client: httpx.Client, chance: random.Random) -> int:
    return client.get(f"/faq/{chance.randint(100, 999)}").status_code


def _listing(client: httpx.Client, chance: random.Random) -> int:
    params = {"category": chance.choice(_CATEGORIES)} if chance.random() < 0.5 else None
    return client.get("/faq", params=params).status_code


def _category(client: httpx.Client, chance: random.Random) -> int:
    category = (
        chance.choice((*_CATEGORIES, "transport"))
        if chance.random() < 0.1
        else chance.choice(_CATEGORIES)
    )
    return client.get(f"/categories/{category}/faq").status_code


def _ask(client: httpx.Client, chance: random.Random) -> int:
    return client.get("/ask", params={"q": chance.choice(_QUESTIONS)}).status_code


def _ask_streaming(client: httpx.Client, chance: random.Random) -> int:
    with client.stream("GET", "/ask/stream", params={"q": chance.choice(_QUESTIONS)}) as response:
        for _ in response.iter_bytes():
            pass  # read to the last byte, as a browser would
        return response.status_code


def _report(client: httpx.Client, chance: random.Random) -> int:
    return client.get(f"/reports/{chance.choice(('daily', 'weekly', 'monthly'))}").status_code


def _feedback(client: httpx.Client, chance: random.Random) -> int:
    body = {"helpful": chance.random() < 0.8}
    return client.post(f"/feedback/{chance.randint(1, 12)}", json=body).status_code


def _bad_feedback(client: httpx.Client, chance: random.Random) -> int:
    return client.post(f"/feedback/{chance.randint(1, 12)}", json={"helpful": "maybe"}).status_code


def _scanner(client: httpx.Client, chance: random.Random) -> int:
    # Random paths: they must all collapse into one http_route value, adding no series.
    path = chance.choice(("/wp-login.php", "/.env", "/admin", "/api/v2/users"))
    return client.get(f"{path}/{chance.randint(0, 10**6)}").status_code


def _health(client: httpx.Client, chance: random.Random) -> int:
    return client.get(chance.choice(("/health", "/health/ready"))).status_code
