"""Health checks of the user's app: ``/health``, ``/health/live``, ``/health/ready``, and metrics.

The app registers checks (a database, an HTTP dependency, an index, the Alembic schema, free disk,
any callable) on the process-wide registry through the functions of this module, which is
``vigie.health``. The HTTP middleware (``vigie.instrument_fastapi``, ``instrument_asgi``,
``instrument_wsgi``) answers the three paths by calling :meth:`HealthRegistry.respond_async` or
:meth:`HealthRegistry.respond`:

* ``/health``: every check, run concurrently with a timeout each; JSON with ``status``
  (``ok``, ``degraded`` when an optional check fails, ``down`` when a required one fails),
  ``version``, ``uptime_seconds`` and ``checks`` (each with ``status``, ``required``,
  ``latency_ms``, ``message``); 503 when ``down``, else 200.
* ``/health/ready``: the required checks only; 503 when one fails.
* ``/health/live``: no check; 200 while the process serves.

A check that hangs is cut at its timeout and reported failed: the endpoint never hangs. Messages
are stripped of URL credentials and ``password=...`` values. Results are also exported as the
metrics ``vigie_health_check_status``, ``vigie_health_check_duration_seconds``,
``vigie_health_check_failures_total`` and ``vigie_health_status``.

Example::

    import vigie
    from sqlalchemy import create_engine

    engine = create_engine("sqlite:///faq.db")
    vigie.health.set_version("1.4.2")
    vigie.health.add_check("db", vigie.health.database_check(engine), timeout=1.0)
    vigie.health.add_check("disk", vigie.health.disk_check("/var/lib/faq", min_free_percent=10))

    @vigie.health.check(timeout=0.5, required=False)
    async def llm_backend() -> str:
        return "reachable"
"""

from __future__ import annotations

import typing as _typing
from collections.abc import Callable as _Callable

from vigie.sdk.health._checks import (
    alembic_check,
    database_check,
    disk_check,
    http_check,
    index_check,
)
from vigie.sdk.health._registry import (
    DEFAULT_TIMEOUT,
    CheckFunction,
    CheckResult,
    HealthRegistry,
    HealthReport,
    HealthResponse,
    HealthStatus,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "CheckFunction",
    "CheckResult",
    "HealthRegistry",
    "HealthReport",
    "HealthResponse",
    "HealthStatus",
    "add_check",
    "alembic_check",
    "check",
    "database_check",
    "default_health",
    "disk_check",
    "http_check",
    "index_check",
    "remove_check",
    "run",
    "set_version",
]

_F = _typing.TypeVar("_F", bound=CheckFunction)

_default = HealthRegistry()


def default_health() -> HealthRegistry:
    """The process-wide registry that ``vigie.health`` functions add checks to."""
    return _default


def add_check(
    name: str, function: CheckFunction, *, timeout: float = DEFAULT_TIMEOUT, required: bool = True
) -> None:
    """Register a check on the default registry (see :meth:`HealthRegistry.add_check`)."""
    _default.add_check(name, function, timeout=timeout, required=required)


def remove_check(name: str) -> None:
    """Unregister the check ``name`` from the default registry."""
    _default.remove_check(name)


@_typing.overload
def check(function: _F, /) -> _F: ...


@_typing.overload
def check(
    *, name: str | None = None, timeout: float = DEFAULT_TIMEOUT, required: bool = True
) -> _Callable[[_F], _F]: ...


def check(
    function: CheckFunction | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    required: bool = True,
) -> _typing.Any:
    """Decorator registering a function as a check of the default registry.

    Example::

        @vigie.health.check(timeout=1.0)
        def index_loaded() -> bool:
            return app.state.index is not None
    """
    if function is not None:
        return _default.check(function)
    return _default.check(name=name, timeout=timeout, required=required)


def set_version(version: str | None) -> None:
    """Set the app version ``/health`` shows."""
    _default.version = version


def run() -> HealthReport:
    """Run the default registry's checks now (what ``/health`` shows)."""
    return _default.run()
