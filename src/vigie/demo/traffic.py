"""A traffic generator for the demo apps: a realistic mix of requests, at a bounded rate.

A few worker threads share one httpx client and one pacer, so the rate never exceeds ``rate``
requests per second and at most ``concurrency`` requests are in flight, however slow the app
gets (a slow app lowers the rate instead of piling up requests). With ``day_seconds`` the rate
follows a compressed day: a night trough at 35 % of ``rate``, a peak at ``rate``, one whole
cycle every ``day_seconds``.

Two mixes. ``faq`` drives the FAQ assistant (:mod:`vigie.demo.faq_app`): questions to ``/ask``
(reworded, sometimes streamed, sometimes with a strategy), classifications, ratings of earlier
answers (thumbs up as often as the answer was confident), entries by id (a few unknown: 404),
listings, a login now and then, scanner-like 404s and health probes. ``example`` drives the
minimal example app (:mod:`vigie.demo.example_app`).

Drill modes change the ``faq`` mix while they are active: ``drift`` asks off-topic questions
(other subjects, other languages), so retrieval scores and confidence drop; ``auth`` turns most
requests into failed logins. Modes come from ``modes=``, :meth:`TrafficGenerator.set_mode`, or a
``drills`` callable the generator asks before each request (the app's active drills:
:func:`remote_drills` polls ``GET /_drill``). A compact progress line goes to ``progress``.

Example::

    import threading
    from vigie.demo.traffic import TrafficGenerator

    stop = threading.Event()
    generator = TrafficGenerator("http://127.0.0.1:8000", rate=5, day_seconds=120)
    generator.set_mode("drift", True)
    print(generator.run(stop, duration=10).summary())
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from vigie.demo.corpus import load_corpus
from vigie.exceptions import ConfigurationError

__all__ = ["MIXES", "MODES", "TrafficGenerator", "TrafficStats", "diurnal_factor", "remote_drills"]

#: The request mixes: the FAQ assistant's, and the minimal example app's.
MIXES = ("faq", "example")
#: The drill modes the traffic itself plays.
MODES = ("drift", "auth")

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
_OFF_TOPIC = (
    "what is the best pizza recipe with sourdough",
    "who won the football match last night",
    "bitcoin price prediction for next year",
    "how do I train a neural network on my gpu",
    "cheap flights to lisbon in december",
    "my cat keeps sneezing what should I feed her",
    "lyrics of the song that goes na na na",
    "how many moons does jupiter have",
    "best budget mechanical keyboard for gaming",
    "recette de la tarte aux pommes de grand-mère",
    "quel temps fera-t-il demain à la plage",
    "wie funktioniert eine wärmepumpe im altbau",
    "cuál es la mejor playa de valencia",
    "write me a poem about the sea and the wind",
    "stock tips for tech companies this week",
    "how to fix a leaking kayak hull",
)
_FILLER_WORDS = re.compile(r"^(how|what|when|where|who|can|do|does|is|am|my|i)\b\s*", re.I)


def _reworded(question: str, chance: random.Random) -> str:
    """A question as readers type it: as written, lower-cased, in keywords, or with a greeting."""
    way = chance.random()
    if way < 0.4:
        return question
    if way < 0.65:
        return question.lower().rstrip("?")
    if way < 0.85:
        words = question.rstrip("?").split()
        while words and _FILLER_WORDS.match(words[0] + " "):
            words.pop(0)
        return " ".join(words) or question
    return chance.choice(("hello, ", "hi! ", "please: ")) + question


def diurnal_factor(elapsed: float, day_seconds: float | None) -> float:
    """The share of the peak rate at ``elapsed`` seconds into a compressed day (1 when flat).

    A smooth day: 35 % at night, 100 % at the afternoon peak; the run starts mid-morning.
    """
    if not day_seconds:
        return 1.0
    phase = (elapsed / day_seconds + 0.35) % 1.0  # 0 = midnight
    return 0.35 + 0.65 * (0.5 - 0.5 * math.cos(2 * math.pi * phase))


def remote_drills(base_url: str, token: str, *, every: float = 1.0) -> Callable[[], frozenset[str]]:
    """A ``drills`` source asking the app's ``GET /_drill`` at most every ``every`` seconds.

    For a generator that runs in another process than the app. An unreachable app keeps the
    last answer.
    """
    state: dict[str, object] = {"at": -math.inf, "active": frozenset()}
    lock = threading.Lock()

    def active() -> frozenset[str]:
        with lock:
            if time.monotonic() - float(state["at"]) >= every:  # type: ignore[arg-type]
                state["at"] = time.monotonic()
                try:
                    answer = httpx.get(
                        base_url.rstrip("/") + "/_drill",
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=2,
                    )
                    if answer.status_code == 200:
                        state["active"] = frozenset(answer.json().get("active", ()))
                except (httpx.HTTPError, ValueError):
                    pass
            return state["active"]  # type: ignore[return-value]

    return active


@dataclass
class _Context:
    """What a request function may read or leave for the next ones."""

    modes: frozenset[str]
    questions: tuple[str, ...]
    password: str | None
    answered: deque[tuple[int, float]]


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
    """Hands out send times ``1/rate`` apart (rate scaled by the time of day) to all workers."""

    def __init__(self, rate: float, day_seconds: float | None = None) -> None:
        self._rate = rate
        self._day = day_seconds
        self._started = self._next = time.monotonic()
        self._lock = threading.Lock()

    def delay(self) -> float:
        with self._lock:
            now = time.monotonic()
            rate = self._rate * diurnal_factor(now - self._started, self._day)
            self._next = max(self._next + 1.0 / rate, now)  # no burst after a stall
            return self._next - now


_Request = Callable[[httpx.Client, random.Random, _Context], int]


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
        mix: str = "faq",
        day_seconds: float | None = None,
        modes: Collection[str] = (),
        drills: Callable[[], Collection[str]] | None = None,
        password: str | None = None,
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
        if mix not in MIXES:
            raise ConfigurationError(f"mix must be one of {MIXES}, got {mix!r}", field="mix")
        if day_seconds is not None and not day_seconds > 0:
            raise ConfigurationError(
                f"day_seconds must be > 0, got {day_seconds!r}", field="day_seconds"
            )
        unknown = set(modes) - set(MODES)
        if unknown:
            raise ConfigurationError(
                f"unknown traffic modes {sorted(unknown)}; known: {', '.join(MODES)}",
                field="modes",
            )
        self._seed = seed
        self.mix = mix
        self.day_seconds = day_seconds
        self._modes = set(modes)
        self._drills = drills
        self._password = password
        self._answered: deque[tuple[int, float]] = deque(maxlen=200)
        self._questions: tuple[str, ...] = ()
        if mix == "faq":
            self._questions = tuple(entry.question for entry in load_corpus())
            self._mix: list[tuple[_Request, int]] = [
                (_faq_ask, 36), (_faq_stream, 8), (_faq_classify, 12), (_faq_rate, 10),
                (_faq_entry, 12), (_faq_listing, 5), (_faq_login, 3), (_faq_history, 2),
                (_scanner, 2), (_health, 2),
            ]  # fmt: skip
        else:
            self._mix = [
                (_answer, 30), (_unknown_answer, 3), (_listing, 8), (_category, 8), (_ask, 24),
                (_ask_streaming, 8), (_report, 5), (_feedback, 8), (_bad_feedback, 1),
                (_scanner, 3), (_health, 2),
            ]  # fmt: skip
        self.stats = TrafficStats()

    def set_mode(self, name: str, active: bool) -> None:
        """Turn a drill mode (``drift``, ``auth``) on or off while the generator runs."""
        if name not in MODES:
            raise ConfigurationError(
                f"unknown traffic mode {name!r}; known: {', '.join(MODES)}", field="mode"
            )
        (self._modes.add if active else self._modes.discard)(name)

    def modes(self) -> frozenset[str]:
        """The drill modes in force now: set here, or active drills of the app."""
        active = set(self._modes)
        if self._drills is not None:
            with contextlib.suppress(Exception):  # a failing source must not stop the traffic
                active.update(name for name in self._drills() if name in MODES)
        return frozenset(active)

    def run(self, stop: threading.Event, duration: float | None = None) -> TrafficStats:
        """Send requests until ``stop`` is set or ``duration`` seconds passed; return the stats."""
        self.stats = TrafficStats()
        pacer = _Pacer(self.rate, self.day_seconds)
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
            context = _Context(self.modes(), self._questions, self._password, self._answered)
            request = chance.choices(requests, weights)[0]
            if "auth" in context.modes and self.mix == "faq" and chance.random() < 0.7:
                request = _failed_login  # a credential-stuffing burst
            started = time.monotonic()
            try:
                status: int | None = request(client, chance, context)
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
                modes = self.modes()
                line = self.stats.summary() + (
                    f"  modes: {','.join(sorted(modes))}" if modes else ""
                )
                self.progress.write(f"\r{line}\x1b[K" if self._tty else line + "\n")
                self.progress.flush()


def _answer(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    return client.get(f"/faq/{chance.randint(1, 12)}").status_code


def _unknown_answer(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    return client.get(f"/faq/{chance.randint(100, 999)}").status_code


def _listing(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    params = {"category": chance.choice(_CATEGORIES)} if chance.random() < 0.5 else None
    return client.get("/faq", params=params).status_code


def _category(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    category = (
        chance.choice((*_CATEGORIES, "transport"))
        if chance.random() < 0.1
        else chance.choice(_CATEGORIES)
    )
    return client.get(f"/categories/{category}/faq").status_code


def _ask(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    return client.get("/ask", params={"q": chance.choice(_QUESTIONS)}).status_code


def _ask_streaming(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    with client.stream("GET", "/ask/stream", params={"q": chance.choice(_QUESTIONS)}) as response:
        for _chunk in response.iter_bytes():
            pass  # read to the last byte, as a browser would
        return response.status_code


def _report(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    return client.get(f"/reports/{chance.choice(('daily', 'weekly', 'monthly'))}").status_code


def _feedback(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    body = {"helpful": chance.random() < 0.8}
    return client.post(f"/feedback/{chance.randint(1, 12)}", json=body).status_code


def _bad_feedback(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    return client.post(f"/feedback/{chance.randint(1, 12)}", json={"helpful": "maybe"}).status_code


def _scanner(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    # Random paths: they must all collapse into one http_route value, adding no series.
    path = chance.choice(("/wp-login.php", "/.env", "/admin", "/api/v2/users"))
    return client.get(f"{path}/{chance.randint(0, 10**6)}").status_code


def _health(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    return client.get(chance.choice(("/health", "/health/ready"))).status_code


# --- the FAQ assistant's mix ---------------------------------------------------------------------


def _question(chance: random.Random, context: _Context) -> str:
    if "drift" in context.modes and chance.random() < 0.85:
        return chance.choice(_OFF_TOPIC)
    return _reworded(chance.choice(context.questions), chance)


def _faq_ask(client: httpx.Client, chance: random.Random, context: _Context) -> int:
    body: dict[str, object] = {"question": _question(chance, context)}
    if chance.random() < 0.1:
        body["strategy"] = chance.choice(("retrieval", "rag", "llm"))
    response = client.post("/ask", json=body)
    if response.status_code == 200:
        answer = response.json()
        context.answered.append((int(answer["question_id"]), float(answer["confidence"])))
    return response.status_code


def _faq_stream(client: httpx.Client, chance: random.Random, context: _Context) -> int:
    body = {"question": _question(chance, context), "strategy": chance.choice(("rag", "llm"))}
    with client.stream("POST", "/ask/stream", json=body) as response:
        for _chunk in response.iter_bytes():
            pass  # read to the last byte, as a browser would
        return response.status_code


def _faq_classify(client: httpx.Client, chance: random.Random, context: _Context) -> int:
    return client.post("/classify", json={"text": _question(chance, context)}).status_code


def _faq_rate(client: httpx.Client, chance: random.Random, context: _Context) -> int:
    try:
        question_id, confidence = chance.choice(context.answered)
    except IndexError:
        return _faq_ask(client, chance, context)  # nothing answered yet: ask first
    if chance.random() < 0.3:
        rating: object = chance.choice((1, 2, 3, 4, 5) if confidence < 0.5 else (3, 4, 5, 5))
    else:
        rating = "up" if chance.random() < 0.15 + 0.8 * confidence else "down"
    return client.post(f"/answers/{question_id}/feedback", json={"rating": rating}).status_code


def _faq_entry(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    faq_id = chance.randint(1, 60) if chance.random() < 0.93 else chance.randint(100, 999)
    return client.get(f"/faq/{faq_id}").status_code


def _faq_listing(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    categories = ("identity", "taxes", "housing", "transport", "health", "city")
    params = {"category": chance.choice(categories)} if chance.random() < 0.5 else None
    return client.get("/faq", params=params).status_code


def _faq_login(client: httpx.Client, chance: random.Random, context: _Context) -> int:
    if context.password is not None and chance.random() < 0.85:
        body = {"username": "demo", "password": context.password}
        return client.post("/login", json=body).status_code
    return _failed_login(client, chance, context)  # a typo now and then


def _failed_login(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    if chance.random() < 0.5:
        body = {"username": "demo", "password": f"guess-{chance.randint(0, 10**6)}"}
    else:
        body = {"username": chance.choice(("admin", "root", "test", "user")), "password": "123456"}
    return client.post("/login", json=body).status_code


def _faq_history(client: httpx.Client, chance: random.Random, _: _Context) -> int:
    return client.get("/history", params={"limit": chance.choice((5, 20))}).status_code
