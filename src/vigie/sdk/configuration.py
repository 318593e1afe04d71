"""``vigie.configure()``: structured logs and traces for the whole process, in one call.

Call it once at start-up; a later call warns and changes nothing (a library calling it again
must not undo the app's choices). Every option also has a ``VIGIE_*`` environment variable
(:mod:`vigie.environment_variables`); an argument wins over the variable, which wins over the
default. The SDK works before ``configure()``: metrics are recorded, ``vigie.span()`` is a no-op,
logging is whatever the app set up.

Options are given as a mapping (or :class:`LogsOptions` / :class:`TracesOptions`), or ``False``
to turn a pillar off:

Example::

    import vigie

    vigie.configure(
        service_name="faq-bot",
        environment="production",
        otlp_endpoint="http://localhost:4318",          # the vigie server or a collector
        logs={"level": "INFO", "file": "/var/log/faq-bot/app.log", "file_rotate_when": "midnight"},
        traces={"sample_ratio": 0.2},
    )

:func:`shutdown` flushes and undoes everything (it runs at exit; tests call it between cases).
"""

from __future__ import annotations

import atexit
import dataclasses
import importlib.util
import json
import logging
import sys
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from prometheus_client import CollectorRegistry

from vigie import environment_variables as env
from vigie.exceptions import ConfigurationError
from vigie.sdk import request_context, tracing
from vigie.sdk.log_format import ConsoleFormatter, JsonFormatter
from vigie.sdk.log_shipping import (
    DroppingQueueHandler,
    LogListener,
    OtlpLogHandler,
    RotatingFile,
    level_number,
    parse_rotation,
)
from vigie.sdk.redaction import Redactor

__all__ = ["Configuration", "LogsOptions", "TracesOptions", "configure", "current", "shutdown"]


@dataclass(frozen=True)
class LogsOptions:
    """How log records are formatted, redacted and written.

    Each option has a variable named after it: ``level`` is ``VIGIE_LOGS_LEVEL``, and so on.
    """

    enabled: bool = True
    level: str = "INFO"
    format: Literal["json", "console"] = "json"
    stream: Literal["stderr", "stdout", "none"] = "stderr"
    file: str | None = None
    file_max_bytes: int = 0
    file_rotate_when: str | None = None
    file_backup_count: int = 7
    queue_size: int = 10_000
    redaction: bool = True
    redaction_patterns: Mapping[str, str] = field(default_factory=dict)
    allow_fields: tuple[str, ...] = ()
    otlp: bool = False
    replace_handlers: bool = True


@dataclass(frozen=True)
class TracesOptions:
    """How spans are sampled and exported; ``sample_ratio`` is ``VIGIE_TRACES_SAMPLE_RATIO``, ...

    ``enabled=None`` means "on when opentelemetry-sdk is installed".
    """

    enabled: bool | None = None
    sample_ratio: float = 1.0
    capture_content: bool = False
    queue_size: int = 2048
    propagate_outgoing: bool = True


@dataclass(frozen=True)
class Configuration:
    """What :func:`configure` resolved from its arguments, the environment and the defaults."""

    service_name: str
    environment: str | None
    otlp_endpoint: str | None
    otlp_headers: Mapping[str, str]
    otlp_timeout: float
    logs: LogsOptions
    traces: TracesOptions


_Options = TypeVar("_Options", LogsOptions, TracesOptions)


def _int(variable: env.EnvironmentVariable, environ: Mapping[str, str] | None) -> int:
    raw = (variable.read(environ) or "").strip()
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"expected an integer, got {raw!r}", field=variable.name) from None


def _headers(raw: str | None, source: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"expected key=value, got {item.strip()!r}", field=source)
        headers[key.strip()] = value.strip()
    return headers


def _logs_from_env(environ: Mapping[str, str] | None) -> LogsOptions:
    raw_patterns = env.VIGIE_LOGS_REDACTION_PATTERNS.read(environ)
    patterns: dict[str, str] = {}
    if raw_patterns:
        try:
            loaded = json.loads(raw_patterns)
        except json.JSONDecodeError as error:
            raise ConfigurationError(
                f"not JSON: {error}", field=env.VIGIE_LOGS_REDACTION_PATTERNS.name
            ) from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ConfigurationError(
                "expected a JSON object of name to regular expression",
                field=env.VIGIE_LOGS_REDACTION_PATTERNS.name,
            )
        patterns = loaded
    return LogsOptions(
        enabled=env.VIGIE_LOGS_ENABLED.read_bool(environ),
        level=env.VIGIE_LOGS_LEVEL.read(environ) or "INFO",
        format=(env.VIGIE_LOGS_FORMAT.read(environ) or "json").strip().lower(),  # type: ignore[arg-type]
        stream=(env.VIGIE_LOGS_STREAM.read(environ) or "stderr").strip().lower(),  # type: ignore[arg-type]
        file=env.VIGIE_LOGS_FILE.read(environ) or None,
        file_max_bytes=_int(env.VIGIE_LOGS_FILE_MAX_BYTES, environ),
        file_rotate_when=env.VIGIE_LOGS_FILE_ROTATE_WHEN.read(environ) or None,
        file_backup_count=_int(env.VIGIE_LOGS_FILE_BACKUP_COUNT, environ),
        queue_size=_int(env.VIGIE_LOGS_QUEUE_SIZE, environ),
        redaction=env.VIGIE_LOGS_REDACTION.read_bool(environ),
        redaction_patterns=patterns,
        allow_fields=tuple(env.VIGIE_LOGS_ALLOW_FIELDS.read_list(environ)),
        otlp=env.VIGIE_LOGS_OTLP.read_bool(environ),
        replace_handlers=env.VIGIE_LOGS_REPLACE_HANDLERS.read_bool(environ),
    )


def _traces_from_env(environ: Mapping[str, str] | None) -> TracesOptions:
    enabled_raw = env.VIGIE_TRACES_ENABLED.read(environ)
    return TracesOptions(
        enabled=None if enabled_raw is None else env.VIGIE_TRACES_ENABLED.read_bool(environ),
        sample_ratio=env.VIGIE_TRACES_SAMPLE_RATIO.read_float(environ) or 0.0,
        capture_content=env.VIGIE_TRACES_CAPTURE_CONTENT.read_bool(environ),
        queue_size=_int(env.VIGIE_TRACES_QUEUE_SIZE, environ),
        propagate_outgoing=env.VIGIE_TRACES_PROPAGATE_OUTGOING.read_bool(environ),
    )


def _merge(
    base: _Options, given: _Options | Mapping[str, Any] | bool | None, section: str
) -> _Options:
    """Options from the environment overridden by what the caller passed."""
    if given is None:
        return base
    if isinstance(given, bool):
        return dataclasses.replace(base, enabled=given)
    if isinstance(given, LogsOptions | TracesOptions):
        if not isinstance(given, type(base)):
            raise ConfigurationError(f"expected {type(base).__name__}", field=section)
        return given
    known = {f.name for f in dataclasses.fields(base)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ConfigurationError(
            f"unknown option {unknown[0]!r} (known: {', '.join(sorted(known))})",
            field=f"{section}.{unknown[0]}",
        )
    values = dict(given)
    if "allow_fields" in values:
        values["allow_fields"] = tuple(values["allow_fields"])
    return dataclasses.replace(base, **values)


def _validate(config: Configuration) -> None:
    logs, traces = config.logs, config.traces
    level_number(logs.level)
    if logs.format not in ("json", "console"):
        raise ConfigurationError(
            f"expected json or console, got {logs.format!r}", field="logs.format"
        )
    if logs.stream not in ("stderr", "stdout", "none"):
        raise ConfigurationError(
            f"expected stderr, stdout or none, got {logs.stream!r}", field="logs.stream"
        )
    if logs.file_rotate_when:
        parse_rotation(logs.file_rotate_when)
    if logs.queue_size < 1:
        raise ConfigurationError("must be at least 1", field="logs.queue_size")
    if logs.otlp and not config.otlp_endpoint:
        raise ConfigurationError(
            "log shipping by OTLP needs otlp_endpoint (or VIGIE_OTLP_ENDPOINT)", field="logs.otlp"
        )
    if not 0.0 <= traces.sample_ratio <= 1.0:
        raise ConfigurationError(
            f"must be between 0 and 1, got {traces.sample_ratio}", field="traces.sample_ratio"
        )
    if traces.queue_size < 1:
        raise ConfigurationError("must be at least 1", field="traces.queue_size")
    if config.otlp_timeout <= 0:
        raise ConfigurationError("must be positive", field="otlp_timeout")


@dataclass
class _Installed:
    config: Configuration
    handler: DroppingQueueHandler | None = None
    listener: LogListener | None = None
    root_level: int = logging.WARNING
    removed_handlers: list[logging.Handler] = field(default_factory=list)


_lock = threading.Lock()
_installed: _Installed | None = None
_atexit_registered = False


def current() -> Configuration | None:
    """The configuration in force, or None before :func:`configure`."""
    installed = _installed
    return None if installed is None else installed.config


def configure(
    service_name: str | None = None,
    environment: str | None = None,
    *,
    logs: LogsOptions | Mapping[str, Any] | bool | None = None,
    traces: TracesOptions | Mapping[str, Any] | bool | None = None,
    otlp_endpoint: str | None = None,
    otlp_headers: Mapping[str, str] | None = None,
    otlp_timeout: float | None = None,
    registry: CollectorRegistry | None = None,
    environ: Mapping[str, str] | None = None,
) -> Configuration:
    """Set up structured logs and traces for this process; returns the resolved configuration.

    ``registry`` receives ``vigie_log_records_dropped_total`` (default: the SDK's registry);
    ``environ`` replaces ``os.environ`` as the source of ``VIGIE_*`` variables (for tests).
    A second call warns (:class:`RuntimeWarning`) and returns the first configuration.
    """
    global _installed, _atexit_registered
    with _lock:
        if _installed is not None:
            warnings.warn(
                "vigie.configure() was already called; this call changes nothing "
                "(call vigie.sdk.configuration.shutdown() first to reconfigure)",
                RuntimeWarning,
                stacklevel=2,
            )
            return _installed.config
        endpoint = otlp_endpoint or env.VIGIE_OTLP_ENDPOINT.read(environ) or None
        config = Configuration(
            service_name=service_name or env.VIGIE_SERVICE_NAME.read(environ) or "unknown_service",
            environment=environment or env.VIGIE_DEPLOYMENT_ENVIRONMENT.read(environ) or None,
            otlp_endpoint=endpoint,
            otlp_headers=dict(otlp_headers)
            if otlp_headers is not None
            else _headers(env.VIGIE_OTLP_HEADERS.read(environ), env.VIGIE_OTLP_HEADERS.name),
            otlp_timeout=otlp_timeout
            if otlp_timeout is not None
            else env.VIGIE_OTLP_TIMEOUT.read_float(environ) or 10.0,
            logs=_merge(_logs_from_env(environ), logs, "logs"),
            traces=_merge(_traces_from_env(environ), traces, "traces"),
        )
        _validate(config)
        installed = _Installed(config)
        try:
            _install_traces(config)
            if config.logs.enabled:
                _install_logs(installed, registry)
                request_context.automatic_ids.enabled = True  # log lines carry request ids
        except BaseException:
            _uninstall(installed)
            raise
        _installed = installed
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return config


def _install_traces(config: Configuration) -> None:
    traces = config.traces
    available = importlib.util.find_spec("opentelemetry.sdk") is not None
    if traces.enabled is False or (traces.enabled is None and not available):
        return
    if not available:
        raise ConfigurationError(
            "tracing needs OpenTelemetry: pip install 'vigie[tracing]'", field="traces.enabled"
        )
    tracing.install(
        service_name=config.service_name,
        environment=config.environment,
        endpoint=config.otlp_endpoint,
        headers=config.otlp_headers,
        sample_ratio=traces.sample_ratio,
        queue_size=traces.queue_size,
        export_timeout=config.otlp_timeout,
        capture_content=traces.capture_content,
        propagate_outgoing=traces.propagate_outgoing,
    )


def _install_logs(installed: _Installed, registry: CollectorRegistry | None) -> None:
    config = installed.config
    logs = config.logs
    redactor = Redactor(
        patterns=logs.redaction_patterns, allow_fields=logs.allow_fields, enabled=logs.redaction
    )
    json_formatter = JsonFormatter(
        service=config.service_name, environment=config.environment, redactor=redactor
    )
    sinks: list[logging.Handler] = []
    if logs.stream != "none":
        stream = sys.stdout if logs.stream == "stdout" else sys.stderr
        stream_handler = logging.StreamHandler(stream)
        stream_handler.setFormatter(
            json_formatter
            if logs.format == "json"
            else ConsoleFormatter(redactor=redactor, colors=stream.isatty())
        )
        sinks.append(stream_handler)
    if logs.file:
        file_handler = RotatingFile(
            logs.file,
            max_bytes=logs.file_max_bytes,
            when=logs.file_rotate_when,
            backup_count=logs.file_backup_count,
        )
        file_handler.setFormatter(json_formatter)
        sinks.append(file_handler)
    if logs.otlp and config.otlp_endpoint:
        sinks.append(
            OtlpLogHandler(
                config.otlp_endpoint,
                service=config.service_name,
                environment=config.environment,
                headers=config.otlp_headers,
                redactor=redactor,
                timeout=config.otlp_timeout,
            )
        )
    handler = DroppingQueueHandler(logs.queue_size, registry=registry)
    listener = LogListener(handler.queue, sinks)
    root = logging.getLogger()
    installed.root_level = root.level
    if logs.replace_handlers:
        installed.removed_handlers = list(root.handlers)
        for existing in installed.removed_handlers:
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level_number(logs.level))
    installed.handler, installed.listener = handler, listener
    listener.start()


def _uninstall(installed: _Installed) -> None:
    request_context.automatic_ids.enabled = False
    root = logging.getLogger()
    if installed.handler is not None:
        root.removeHandler(installed.handler)
        for existing in installed.removed_handlers:
            root.addHandler(existing)
        root.setLevel(installed.root_level)
    if installed.listener is not None:
        installed.listener.stop()
    tracing.uninstall()


def shutdown() -> None:
    """Flush queued logs and spans, restore the root logger, and allow :func:`configure` again."""
    global _installed
    with _lock:
        installed, _installed = _installed, None
        if installed is not None:
            _uninstall(installed)
