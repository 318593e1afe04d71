"""vigie.configure(): once per process, environment variables for every option, clean shutdown."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

import vigie
from support.otlp_receiver import OtlpReceiver, reset_opentelemetry
from vigie import environment_variables
from vigie.exceptions import ConfigurationError
from vigie.sdk import configuration, tracing
from vigie.sdk.configuration import LogsOptions, TracesOptions
from vigie.sdk.log_shipping import DroppingQueueHandler


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    """Every test starts and ends unconfigured, with the root logger as it was."""
    root = logging.getLogger()
    level = root.level
    yield
    configuration.shutdown()
    reset_opentelemetry()
    assert root.level == level
    assert not any(isinstance(h, DroppingQueueHandler) for h in root.handlers)


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_usable_before_configure() -> None:
    """Before configure() nothing is set up and the SDK entry points still work."""
    assert configuration.current() is None
    assert not tracing.is_enabled()
    with vigie.span("stage"):
        pass
    assert tracing.start_server_span("GET", "/", {}) is None


def test_configure_logs_to_a_file_and_shutdown_restores(
    tmp_path: Path, registry: CollectorRegistry
) -> None:
    """Root-logger records become redacted JSON lines; shutdown flushes and restores the root."""
    path = tmp_path / "app.log"
    root = logging.getLogger()
    before = list(root.handlers)
    config = vigie.configure(
        "faq-bot",
        "staging",
        logs={"file": str(path), "stream": "none", "level": "DEBUG"},
        traces=False,
        registry=registry,
        environ={},
    )
    assert config.service_name == "faq-bot"
    assert root.level == logging.DEBUG
    assert all(handler not in root.handlers for handler in before)
    logging.getLogger("some.library").debug("reset link sent to %s", "a@example.com")
    logging.getLogger("app").info("done", extra={"order": 7})
    configuration.shutdown()
    lines = read_lines(path)
    assert [(line["logger"], line["level"], line["message"]) for line in lines] == [
        ("some.library", "DEBUG", "reset link sent to [REDACTED:email]"),
        ("app", "INFO", "done"),
    ]
    assert lines[1]["service"] == "faq-bot"
    assert lines[1]["environment"] == "staging"
    assert lines[1]["order"] == 7
    assert root.handlers == before


def test_second_call_warns_and_changes_nothing(registry: CollectorRegistry) -> None:
    """configure() is once per process: a later call warns and returns the first configuration."""
    first = vigie.configure("one", logs={"stream": "none"}, traces=False, registry=registry)
    with pytest.warns(RuntimeWarning, match="already called"):
        second = vigie.configure("two", traces=False)
    assert second is first
    assert configuration.current() is first
    configuration.shutdown()
    assert configuration.current() is None


def test_environment_variables_and_argument_precedence(registry: CollectorRegistry) -> None:
    """Variables fill every option; an argument wins over its variable."""
    environ = {
        "VIGIE_SERVICE_NAME": "from-env",
        "VIGIE_DEPLOYMENT_ENVIRONMENT": "prod",
        "VIGIE_LOGS_LEVEL": "warning",
        "VIGIE_LOGS_FORMAT": "console",
        "VIGIE_LOGS_STREAM": "none",
        "VIGIE_LOGS_QUEUE_SIZE": "50",
        "VIGIE_LOGS_FILE_MAX_BYTES": "1000",
        "VIGIE_LOGS_FILE_ROTATE_WHEN": "6H",
        "VIGIE_LOGS_FILE_BACKUP_COUNT": "3",
        "VIGIE_LOGS_REDACTION_PATTERNS": '{"ticket": "TCK-\\\\d+"}',
        "VIGIE_LOGS_ALLOW_FIELDS": "support_phone, internal_id",
        "VIGIE_TRACES_ENABLED": "false",
        "VIGIE_TRACES_SAMPLE_RATIO": "0.25",
        "VIGIE_OTLP_HEADERS": "x-api-key=abc, tenant=t1",
    }
    config = vigie.configure(logs={"level": "ERROR"}, registry=registry, environ=environ)
    assert (config.service_name, config.environment) == ("from-env", "prod")
    assert config.logs == LogsOptions(
        level="ERROR",
        format="console",
        stream="none",
        queue_size=50,
        file_max_bytes=1000,
        file_rotate_when="6H",
        file_backup_count=3,
        redaction_patterns={"ticket": "TCK-\\d+"},
        allow_fields=("support_phone", "internal_id"),
    )
    assert config.traces == TracesOptions(enabled=False, sample_ratio=0.25)
    assert config.otlp_headers == {"x-api-key": "abc", "tenant": "t1"}
    assert logging.getLogger().level == logging.ERROR
    assert not tracing.is_enabled()


def test_every_option_has_an_environment_variable() -> None:
    """Each option field has its variable: logs.level is VIGIE_LOGS_LEVEL, and so on."""
    declared = {variable.name for variable in environment_variables.ALL_VARIABLES}
    for prefix, options in (("VIGIE_LOGS_", LogsOptions), ("VIGIE_TRACES_", TracesOptions)):
        for option in dataclasses.fields(options):
            assert f"{prefix}{option.name.upper()}" in declared


@pytest.mark.parametrize(
    ("kwargs", "environ", "message"),
    [
        ({"logs": {"colour": True}}, {}, r"logs\.colour: unknown option 'colour'"),
        ({"traces": {"sample_ratio": 2.0}}, {}, r"traces\.sample_ratio: must be between 0 and 1"),
        ({"logs": {"level": "LOUD"}}, {}, r"logs\.level: unknown level 'LOUD'"),
        ({"logs": {"format": "xml"}}, {}, r"logs\.format: expected json or console"),
        ({"logs": {"otlp": True}}, {}, r"logs\.otlp: log shipping by OTLP needs otlp_endpoint"),
        ({}, {"VIGIE_LOGS_QUEUE_SIZE": "many"}, r"VIGIE_LOGS_QUEUE_SIZE: expected an integer"),
        (
            {},
            {"VIGIE_LOGS_REDACTION_PATTERNS": "{oops"},
            r"VIGIE_LOGS_REDACTION_PATTERNS: not JSON",
        ),
        ({}, {"VIGIE_OTLP_HEADERS": "novalue"}, r"VIGIE_OTLP_HEADERS: expected key=value"),
        ({}, {"VIGIE_LOGS_FILE_ROTATE_WHEN": "weekly"}, r"logs\.file_rotate_when: expected"),
    ],
)
def test_bad_options_name_the_field(
    kwargs: dict[str, object], environ: dict[str, str], message: str
) -> None:
    """A wrong option fails at configure() with the option or variable name, nothing installed."""
    with pytest.raises(ConfigurationError, match=message):
        vigie.configure("svc", environ=environ, **kwargs)  # type: ignore[arg-type]
    assert configuration.current() is None


def test_traces_and_logs_shipped_by_otlp(tmp_path: Path, registry: CollectorRegistry) -> None:
    """With an endpoint, spans and log records reach it; the log lines carry the span's ids."""
    path = tmp_path / "app.log"
    with OtlpReceiver() as receiver:
        vigie.configure(
            "shop",
            otlp_endpoint=receiver.endpoint,
            logs={"otlp": True, "file": str(path), "stream": "none"},
            traces={"sample_ratio": 1.0},
            registry=registry,
            environ={},
        )
        with vigie.span("checkout"):
            ids = tracing.current_trace_ids()
            logging.getLogger("shop").warning("paid with 4111 1111 1111 1111")
        configuration.shutdown()
        spans = receiver.wait_for_spans(1)
        logs = receiver.wait_for_logs(1)
    assert ids is not None
    assert spans[0]["name"] == "checkout"
    assert spans[0]["trace_id"] == ids[0]
    assert logs[0]["body"] == "paid with [REDACTED:card]"
    assert (logs[0]["trace_id"], logs[0]["span_id"]) == ids
    line = read_lines(path)[0]
    assert (line["trace_id"], line["span_id"]) == ids


def test_traces_on_by_default_without_export(registry: CollectorRegistry) -> None:
    """With opentelemetry-sdk installed, tracing is on even with no endpoint (ids in logs)."""
    vigie.configure("svc", logs=False, registry=registry, environ={})
    assert tracing.is_enabled()
    with vigie.span("x") as stage:
        assert stage.recording
    configuration.shutdown()
    assert not tracing.is_enabled()


def test_logging_reconfigured_by_uvicorn_keeps_shipping(registry: CollectorRegistry) -> None:
    """uvicorn's dictConfig after configure() neither ends OTLP log shipping nor blocks on it."""
    import uvicorn

    with OtlpReceiver() as receiver:
        vigie.configure(
            "shop",
            otlp_endpoint=receiver.endpoint,
            logs={"otlp": True, "stream": "none"},
            registry=registry,
            environ={},
        )
        logging.getLogger("shop").warning("before uvicorn")
        uvicorn.Config("shop:app", log_level="warning")  # runs logging.config.dictConfig
        logging.getLogger("shop").warning("after uvicorn")
        logs = receiver.wait_for_logs(2)
    assert [record["body"] for record in logs] == ["before uvicorn", "after uvicorn"]


def test_unreachable_collector_does_not_block_logging_reconfiguration(
    registry: CollectorRegistry,
) -> None:
    """With the collector down, dictConfig returns at once instead of waiting out the export."""
    import socket
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    vigie.configure(
        "shop",
        otlp_endpoint=f"http://127.0.0.1:{closed_port}",
        otlp_timeout=10.0,
        logs={"otlp": True, "stream": "none"},
        registry=registry,
        environ={},
    )
    for number in range(20):
        logging.getLogger("shop").warning("record %d", number)
    time.sleep(1.5)  # the batch worker (1 s schedule) is now retrying the dead collector
    started = time.monotonic()
    uvicorn.Config("shop:app", log_level="warning")
    # Flushing to the dead collector would wait for the worker's retries (about 7 s).
    assert time.monotonic() - started < 3.0
