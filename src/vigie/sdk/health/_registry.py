"""The checks of one app, run concurrently with a timeout each, and the HTTP answers built on them.

Why it is built this way:

* **The endpoint never hangs.** Every check runs concurrently and is awaited only until its own
  timeout (and the registry's overall ``deadline``, when set); a check still running then is
  reported ``failed`` with "timed out after N s". So ``/health`` answers within the largest check
  timeout, plus a few milliseconds.
* **A hung check cannot pile up threads.** A sync check runs in a daemon thread of its own, and at
  most one run of each check is in flight: a request arriving while the previous run still works
  waits for that same run (single flight) instead of starting another. A check that hangs forever
  therefore holds exactly one thread, and every later request reports it failed at once with how
  long it has been hanging. Threads are daemons, so a hung check never blocks process exit.
* **Async checks stay on the event loop** when the ASGI path calls :meth:`respond_async`: each is a
  task, cancelled at its timeout and never awaited after that (a check that swallows cancellation
  cannot stall the answer). An async check must not block the loop: put blocking work in a sync
  check, which runs in a thread. Through the WSGI path, async checks run in a thread of their own
  on a private loop.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> health = HealthRegistry(version="1.2.0", registry=CollectorRegistry())
    >>> health.add_check("cache", lambda: True, timeout=1.0, required=False)
    >>> report = health.run()
    >>> report.status, report.checks[0].status
    ('ok', 'ok')
    >>> health.respond("/health/live").status_code
    200
    >>> health.respond("/items") is None
    True
"""

from __future__ import annotations

import inspect
import json
import math
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, overload

from prometheus_client import CollectorRegistry

from vigie.exceptions import HealthCheckError, InstrumentationError
from vigie.sdk.failsafe import log_internal_error
from vigie.sdk.health import _metrics
from vigie.sdk.health._redaction import redact

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "DEFAULT_TIMEOUT",
    "CheckFunction",
    "CheckResult",
    "HealthRegistry",
    "HealthReport",
    "HealthResponse",
    "HealthStatus",
]

DEFAULT_TIMEOUT = 2.0
"""Seconds a check may run before it is cut and reported failed."""

HealthStatus = Literal["ok", "degraded", "down"]
CheckFunction = Callable[[], object]
"""A check: sync or async, no argument; see :meth:`HealthRegistry.add_check` for what it returns."""

_F = TypeVar("_F", bound=CheckFunction)


@dataclass(frozen=True)
class HealthResponse:
    """What to send back for a health path."""

    status_code: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check in one run."""

    name: str
    ok: bool
    required: bool
    latency_seconds: float
    message: str

    @property
    def status(self) -> Literal["ok", "failed"]:
        """``ok`` or ``failed``, as ``/health`` shows it."""
        return "ok" if self.ok else "failed"

    def as_dict(self) -> dict[str, Any]:
        """The JSON object ``/health`` shows for this check."""
        return {
            "status": self.status,
            "required": self.required,
            "latency_ms": round(self.latency_seconds * 1000.0, 3),
            "message": self.message,
        }


@dataclass(frozen=True)
class HealthReport:
    """One run of the checks: the overall status and each check's result."""

    status: HealthStatus
    version: str | None
    uptime_seconds: float
    checks: tuple[CheckResult, ...]

    @staticmethod
    def status_of(results: tuple[CheckResult, ...]) -> HealthStatus:
        """``down`` if a required check failed, ``degraded`` if an optional one did, else ``ok``."""
        if any(not result.ok and result.required for result in results):
            return "down"
        if any(not result.ok for result in results):
            return "degraded"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        """The JSON document ``/health`` answers."""
        return {
            "status": self.status,
            "version": self.version,
            "uptime_seconds": round(self.uptime_seconds, 3),
            "checks": {result.name: result.as_dict() for result in self.checks},
        }

    def to_json(self) -> bytes:
        """:meth:`as_dict` as UTF-8 JSON."""
        return json.dumps(self.as_dict(), ensure_ascii=False).encode("utf-8")


class _Outcome(NamedTuple):
    ok: bool
    message: str
    seconds: float


def _interpret(value: object) -> tuple[bool, str]:
    """What a check's return value means: False fails, a string is the message, else ok."""
    if value is False:
        return False, "check returned False"
    if isinstance(value, str) and value.strip():
        return True, redact(value)
    return True, "ok"


def _describe(error: BaseException) -> str:
    """A one-line, secret-free message for ``error``."""
    if isinstance(error, HealthCheckError):
        return redact(str(error)) or "failed"
    if isinstance(error, TimeoutError) and not str(error):
        return "TimeoutError: timed out"
    lines = str(error).strip().splitlines()
    name = type(error).__name__
    return redact(f"{name}: {lines[0]}" if lines else name)


def _is_async(function: CheckFunction) -> bool:
    if inspect.iscoroutinefunction(function):
        return True
    return inspect.iscoroutinefunction(getattr(function, "__call__", None))  # noqa: B004


async def _bounded(awaitable: Awaitable[object], timeout: float) -> object:
    import asyncio

    return await asyncio.wait_for(awaitable, timeout)


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a cut task's outcome so asyncio does not log 'exception never retrieved'."""
    if not task.cancelled():
        task.exception()


class _Check:
    """One registered check and its single in-flight thread run."""

    def __init__(self, name: str, function: CheckFunction, timeout: float, required: bool) -> None:
        self.name = name
        self.function = function
        self.timeout = timeout
        self.required = required
        self.is_async = _is_async(function)
        self._lock = threading.Lock()
        self._running: Future[_Outcome] | None = None
        self._running_since = 0.0

    def in_thread(self) -> tuple[Future[_Outcome], float]:
        """The future of the run in flight, starting one in a daemon thread if none is."""
        with self._lock:
            if self._running is not None and not self._running.done():
                return self._running, self._running_since
            future: Future[_Outcome] = Future()
            future.set_running_or_notify_cancel()  # nobody can cancel it: callers share it
            self._running, self._running_since = future, time.monotonic()
            started = self._running_since
        thread = threading.Thread(
            target=self._work, args=(future,), name=f"vigie-health-{self.name}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError as error:  # the interpreter cannot start more threads
            future.set_result(_Outcome(False, _describe(error), 0.0))
        return future, started

    def _work(self, future: Future[_Outcome]) -> None:
        started = time.monotonic()
        outcome = _Outcome(False, "internal error of vigie health: see the vigie.internal log", 0.0)
        try:
            value = self.function()
            if inspect.isawaitable(value):
                import asyncio  # lazily: WSGI apps with only sync checks never load it

                value = asyncio.run(_bounded(value, self.timeout))
            ok, message = _interpret(value)
            outcome = _Outcome(ok, message, time.monotonic() - started)
        except BaseException as error:  # even SystemExit: the shared future must be resolved
            outcome = _Outcome(False, _describe(error), time.monotonic() - started)
        finally:
            # Always resolved, or every later request would see this check as hanging.
            future.set_result(outcome)

    def timed_out(self, since: float, now: float) -> _Outcome:
        elapsed = now - since
        if elapsed > self.timeout * 2:
            message = (
                f"timed out: the previous run has been hanging for {elapsed:.0f} s "
                f"(timeout {self.timeout:g} s)"
            )
        else:
            message = f"timed out after {self.timeout:g} s"
        return _Outcome(False, message, elapsed)

    def result(self, outcome: _Outcome) -> CheckResult:
        return CheckResult(self.name, outcome.ok, self.required, outcome.seconds, outcome.message)


class HealthRegistry:
    """The checks of one app, and the ``/health``, ``/health/live``, ``/health/ready`` answers.

    ``version`` is shown by ``/health``; ``registry`` is the prometheus-client registry the check
    metrics go to (default: the SDK's); ``prefix`` is where the endpoints live; ``deadline``, when
    set, caps every check's time in one run (default: each check's own timeout).
    """

    def __init__(
        self,
        *,
        version: str | None = None,
        registry: CollectorRegistry | None = None,
        prefix: str = "/health",
        deadline: float | None = None,
    ) -> None:
        if not prefix.startswith("/") or (len(prefix) > 1 and prefix.endswith("/")):
            raise InstrumentationError(
                f"health prefix must start with '/' and not end with it, got {prefix!r}"
            )
        if deadline is not None and not deadline > 0:
            raise InstrumentationError(f"health deadline must be > 0 seconds, got {deadline!r}")
        self.version = version
        self.prefix = prefix
        self.deadline = deadline
        self._registry = registry
        self._checks: dict[str, _Check] = {}
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._paths = {prefix: "health", f"{prefix}/live": "live", f"{prefix}/ready": "ready"}

    # -- registration ---------------------------------------------------------------------------

    def add_check(
        self,
        name: str,
        function: CheckFunction,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        required: bool = True,
    ) -> None:
        """Register ``function`` as the check ``name``.

        The function takes no argument and may be sync or async. It passes by returning ``None``,
        ``True`` or a message string, and fails by returning ``False`` or raising (raise
        :class:`~vigie.exceptions.HealthCheckError` for a message without the exception type).
        A failing ``required`` check makes the app ``down`` (503 on ``/health/ready``); a failing
        optional one makes it ``degraded``.
        """
        if not isinstance(name, str) or not name.strip():
            raise InstrumentationError(f"a health check needs a non-empty name, got {name!r}")
        if not callable(function):
            raise InstrumentationError(f"health check {name!r}: {function!r} is not callable")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not (0 < timeout < math.inf)
        ):
            raise InstrumentationError(
                f"health check {name!r}: timeout must be a positive number of seconds, "
                f"got {timeout!r}"
            )
        with self._lock:
            if name in self._checks:
                raise InstrumentationError(f"health check {name!r} is already registered")
            self._checks[name] = _Check(name, function, float(timeout), bool(required))

    def remove_check(self, name: str) -> None:
        """Unregister the check ``name`` and drop its metric series."""
        with self._lock:
            if self._checks.pop(name, None) is None:
                raise InstrumentationError(f"no health check named {name!r}")
        _metrics.forget(name, self._registry)

    @overload
    def check(self, function: _F, /) -> _F: ...

    @overload
    def check(
        self,
        /,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        required: bool = True,
    ) -> Callable[[_F], _F]: ...

    def check(
        self,
        function: CheckFunction | None = None,
        /,
        *,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        required: bool = True,
    ) -> Any:
        """Decorator form of :meth:`add_check`; the name defaults to the function's name."""

        def register(target: CheckFunction) -> CheckFunction:
            check_name = name or getattr(target, "__name__", None) or repr(target)
            self.add_check(check_name, target, timeout=timeout, required=required)
            return target

        return register if function is None else register(function)

    @property
    def names(self) -> list[str]:
        """The registered check names, in registration order."""
        with self._lock:
            return list(self._checks)

    @property
    def uptime_seconds(self) -> float:
        """Seconds since this registry was created (the default one: since vigie.health loaded)."""
        return time.monotonic() - self._started

    def _selected(self, required_only: bool) -> list[_Check]:
        with self._lock:
            checks = list(self._checks.values())
        return [check for check in checks if check.required] if required_only else checks

    def _report(self, results: tuple[CheckResult, ...], full: bool) -> HealthReport:
        report = HealthReport(
            HealthReport.status_of(results), self.version, self.uptime_seconds, results
        )
        _metrics.record(report, self._registry, overall=full)
        return report

    # -- running --------------------------------------------------------------------------------

    def run(self, *, required_only: bool = False) -> HealthReport:
        """Run the checks concurrently (each in a thread) and wait at most their timeouts."""
        start = time.monotonic()
        deadline_at = start + self.deadline if self.deadline is not None else math.inf
        started = [(check, *check.in_thread()) for check in self._selected(required_only)]
        results = []
        for check, future, since in started:
            remaining = min(since + check.timeout, deadline_at) - time.monotonic()
            try:
                outcome = future.result(timeout=max(remaining, 0.0))
            except TimeoutError:
                outcome = check.timed_out(since, time.monotonic())
            results.append(check.result(outcome))
        return self._report(tuple(results), full=not required_only)

    async def run_async(self, *, required_only: bool = False) -> HealthReport:
        """As :meth:`run` without blocking the loop: async checks as tasks, sync ones in threads."""
        import asyncio

        start = time.monotonic()
        deadline_at = start + self.deadline if self.deadline is not None else math.inf
        checks = self._selected(required_only)
        outcomes = await asyncio.gather(*(self._run_one(check, deadline_at) for check in checks))
        results = tuple(check.result(o) for check, o in zip(checks, outcomes, strict=True))
        return self._report(results, full=not required_only)

    async def _run_one(self, check: _Check, deadline_at: float) -> _Outcome:
        import asyncio

        if not check.is_async:
            return await self._await_thread(check, deadline_at)
        since = time.monotonic()
        try:
            value = check.function()
            if not inspect.isawaitable(value):
                ok, message = _interpret(value)
                return _Outcome(ok, message, time.monotonic() - since)
            task = asyncio.ensure_future(value)
        except Exception as error:
            return _Outcome(False, _describe(error), time.monotonic() - since)
        try:
            remaining = min(since + check.timeout, deadline_at) - time.monotonic()
            done, _ = await asyncio.wait({task}, timeout=max(remaining, 0.0))
        finally:
            if not task.done():  # timed out, or this request was cancelled: cut the check
                task.cancel()
                task.add_done_callback(_consume)
        if not done:
            return check.timed_out(since, time.monotonic())
        failure = task.exception()
        if failure is not None:
            return _Outcome(False, _describe(failure), time.monotonic() - since)
        ok, message = _interpret(task.result())
        return _Outcome(ok, message, time.monotonic() - since)

    @staticmethod
    async def _await_thread(check: _Check, deadline_at: float) -> _Outcome:
        import asyncio

        future, since = check.in_thread()
        if future.done():
            return future.result()
        remaining = min(since + check.timeout, deadline_at) - time.monotonic()
        waiter = asyncio.wrap_future(future)
        done, _ = await asyncio.wait({waiter}, timeout=max(remaining, 0.0))
        if not done:
            waiter.cancel()  # only the waiter: the thread's future is shared and runs on
            return check.timed_out(since, time.monotonic())
        return waiter.result()

    # -- HTTP -----------------------------------------------------------------------------------

    def _endpoint(self, path: str) -> str | None:
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        return self._paths.get(path)

    def _live(self) -> HealthResponse:
        body = {
            "status": "ok",
            "version": self.version,
            "uptime_seconds": round(self.uptime_seconds, 3),
        }
        return HealthResponse(200, json.dumps(body).encode("utf-8"))

    def respond(self, path: str) -> HealthResponse | None:
        """The response for a health ``path``, or None when ``path`` is not a health path.

        ``/health`` runs every check, ``/health/ready`` only the required ones, and both answer
        503 when a required check fails (200 otherwise, ``degraded`` included); ``/health/live``
        runs no check and answers 200 while the process serves.
        """
        endpoint = self._endpoint(path)
        if endpoint is None:
            return None
        try:
            if endpoint == "live":
                return self._live()
            return _response(self.run(required_only=endpoint == "ready"))
        except Exception:
            log_internal_error("vigie.health.respond")
            return _INTERNAL_ERROR

    async def respond_async(self, path: str) -> HealthResponse | None:
        """As :meth:`respond`, without blocking the event loop."""
        endpoint = self._endpoint(path)
        if endpoint is None:
            return None
        try:
            if endpoint == "live":
                return self._live()
            return _response(await self.run_async(required_only=endpoint == "ready"))
        except Exception:
            log_internal_error("vigie.health.respond_async")
            return _INTERNAL_ERROR


def _response(report: HealthReport) -> HealthResponse:
    return HealthResponse(503 if report.status == "down" else 200, report.to_json())


_INTERNAL_ERROR = HealthResponse(
    500,
    b'{"status": "down", "message": "internal error in vigie health; see the vigie.internal log"}',
)
