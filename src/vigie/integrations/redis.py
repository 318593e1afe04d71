"""Redis command metrics for a ``redis`` client (sync or asyncio): count, status and duration.

``vigie.instrument_redis(client)`` times every command the client sends into the same family the
SQLAlchemy integration uses, OpenTelemetry's database client duration under its Prometheus name:

======================================== ========= =================================================
name                                     type      labels
======================================== ========= =================================================
``db_client_operation_duration_seconds`` histogram ``db_system_name="redis"``,
                                                   ``pool_name``,
                                                   ``db_operation_name`` (the command: ``GET``,
                                                   ``SET``; ``MULTI`` or ``PIPELINE`` for a
                                                   pipeline), ``error_type`` (exception class,
                                                   empty on success)
======================================== ========= =================================================

Operations by command and status::

    sum by (db_operation_name, error_type) (
      rate(db_client_operation_duration_seconds_count{db_system_name="redis"}[5m]))

Keys and values never reach a label. A command name that does not look like one (or the 257th
distinct name) is recorded as ``OTHER``, so a misuse cannot blow up the number of series.

Example::

    import redis, vigie

    cache = vigie.instrument_redis(redis.Redis(host="localhost"), name="cache")
    cache.set("k", "v")
"""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Callable
from time import perf_counter
from typing import Any

from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk import instruments
from vigie.sdk.failsafe import guard

__all__ = ["instrument_redis"]

# Same family, labels and boundaries as vigie.integrations.sqlalchemy (a test checks they agree).
_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
_LABELS = ("db_system_name", "pool_name", "db_operation_name", "error_type")
_COMMAND = re.compile(r"[A-Z][A-Z0-9_.|-]{0,31}(?: [A-Z][A-Z0-9_.|-]{0,31})?\Z")
_MAX_COMMANDS = 256


def instrument_redis(
    client: Any, *, name: str | None = None, registry: CollectorRegistry | None = None
) -> Any:
    """Record the duration and outcome of each command ``client`` sends; return ``client``.

    ``name`` is the ``pool_name`` label (default ``host:port/db``).
    Pipelines created afterwards by ``client.pipeline()`` are recorded as one operation each.
    Instrumenting the same client twice is a no-op.
    """
    execute = getattr(client, "execute_command", None)
    if not callable(execute) or not callable(getattr(client, "pipeline", None)):
        raise InstrumentationError(
            f"instrument_redis expects a redis.Redis or redis.asyncio.Redis client, "
            f"got {type(client).__name__}"
        )
    if registry is not None and not isinstance(registry, CollectorRegistry):
        raise InstrumentationError("registry must be a prometheus_client CollectorRegistry")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InstrumentationError("name must be a non-empty string")
    if getattr(client, "_vigie_instrumented", False):
        return client
    metrics = _RedisMetrics(registry, name or _default_name(client))
    client.execute_command = _timed(execute, metrics, _command_of)
    original_pipeline = client.pipeline

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = original_pipeline(*args, **kwargs)
        with guard("redis.pipeline"):
            operation = "MULTI" if getattr(pipe, "transaction", False) else "PIPELINE"
            pipe.execute = _timed(pipe.execute, metrics, lambda *_a, **_k: operation)
        return pipe

    client.pipeline = pipeline
    client._vigie_instrumented = True
    return client


def _default_name(client: Any) -> str:
    try:
        kwargs = client.connection_pool.connection_kwargs
    except AttributeError:
        return "redis"
    if "path" in kwargs:
        return f"{kwargs['path']}/{kwargs.get('db', 0)}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def _command_of(*args: Any, **_options: Any) -> str:
    if not args:
        return "OTHER"
    command = args[0]
    if isinstance(command, bytes):
        command = command.decode("ascii", "replace")
    return command.upper() if isinstance(command, str) else "OTHER"


class _RedisMetrics:
    """The operation histogram of one client, with its children cached per (command, error)."""

    def __init__(self, registry: CollectorRegistry | None, pool_name: str) -> None:
        self._histogram = instruments.histogram(
            "db_client_operation_duration_seconds",
            "Duration of database client operations.",
            _LABELS,
            buckets=_BUCKETS,
            registry=registry,
        )
        self._pool_name = pool_name
        self._children: dict[tuple[str, str], Any] = {}
        self._commands: set[str] = set()
        self._lock = threading.Lock()

    def record(self, command: str, error_type: str, seconds: float) -> None:
        key = (command, error_type)
        child = self._children.get(key)
        if child is None:
            with self._lock:
                if not _COMMAND.match(command) or (
                    command not in self._commands and len(self._commands) >= _MAX_COMMANDS
                ):
                    key = ("OTHER", error_type)
                else:
                    self._commands.add(command)
                child = self._children.get(key)
                if child is None:
                    child = self._histogram.labels("redis", self._pool_name, *key)
                    self._children[key] = child
        child.observe(seconds)


def _timed(
    function: Callable[..., Any], metrics: _RedisMetrics, operation: Callable[..., str]
) -> Callable[..., Any]:
    """Wrap a client method (sync or async) so that each call is timed and recorded."""
    if inspect.iscoroutinefunction(function):

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = perf_counter()
            try:
                result = await function(*args, **kwargs)
            except Exception as error:
                with guard("redis.record"):
                    metrics.record(
                        operation(*args, **kwargs), type(error).__name__, perf_counter() - started
                    )
                raise
            with guard("redis.record"):
                metrics.record(operation(*args, **kwargs), "", perf_counter() - started)
            return result

        return timed_async

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = perf_counter()
        try:
            result = function(*args, **kwargs)
        except Exception as error:
            with guard("redis.record"):
                metrics.record(
                    operation(*args, **kwargs), type(error).__name__, perf_counter() - started
                )
            raise
        with guard("redis.record"):
            metrics.record(operation(*args, **kwargs), "", perf_counter() - started)
        return result

    return timed
