"""Every ``VIGIE_*`` environment variable, declared and documented in one place.

Code reads a variable only through its declaration here, so the list below is the complete list a
user can set (a test checks that no other ``VIGIE_`` name appears in the source). Each declaration
carries its default and a one-line description; ``vigie doctor`` and the docs print them.

Example::

    >>> from vigie.environment_variables import VIGIE_SERVICE_NAME
    >>> VIGIE_SERVICE_NAME.read({"VIGIE_SERVICE_NAME": "faq-bot"})
    'faq-bot'
    >>> VIGIE_SERVICE_NAME.read({})
    'unknown_service'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from vigie.exceptions import ConfigurationError

__all__ = [
    "ALL_VARIABLES",
    "VIGIE_CONFORMANCE_DIR",
    "VIGIE_COST_CURRENCY",
    "VIGIE_COST_EXCHANGE_RATE",
    "VIGIE_DEMO_PASSWORD",
    "VIGIE_DEPLOYMENT_ENVIRONMENT",
    "VIGIE_EXCLUDED_PATHS",
    "VIGIE_FUZZ_EXAMPLES",
    "VIGIE_LOGS_ALLOW_FIELDS",
    "VIGIE_LOGS_ENABLED",
    "VIGIE_LOGS_FILE",
    "VIGIE_LOGS_FILE_BACKUP_COUNT",
    "VIGIE_LOGS_FILE_MAX_BYTES",
    "VIGIE_LOGS_FILE_ROTATE_WHEN",
    "VIGIE_LOGS_FORMAT",
    "VIGIE_LOGS_LEVEL",
    "VIGIE_LOGS_OTLP",
    "VIGIE_LOGS_QUEUE_SIZE",
    "VIGIE_LOGS_REDACTION",
    "VIGIE_LOGS_REDACTION_PATTERNS",
    "VIGIE_LOGS_REPLACE_HANDLERS",
    "VIGIE_LOGS_STREAM",
    "VIGIE_LOW_CONFIDENCE_THRESHOLD",
    "VIGIE_OTLP_ENDPOINT",
    "VIGIE_OTLP_HEADERS",
    "VIGIE_OTLP_TIMEOUT",
    "VIGIE_SERVICE_NAME",
    "VIGIE_TOKEN",
    "VIGIE_TRACES_CAPTURE_CONTENT",
    "VIGIE_TRACES_ENABLED",
    "VIGIE_TRACES_PROPAGATE_OUTGOING",
    "VIGIE_TRACES_QUEUE_SIZE",
    "VIGIE_TRACES_SAMPLE_RATIO",
    "EnvironmentVariable",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class EnvironmentVariable:
    """One ``VIGIE_*`` knob: its name, default and meaning."""

    name: str
    default: str | None
    description: str

    def read(self, environ: Mapping[str, str] | None = None) -> str | None:
        """Return the value from ``environ`` (default: the process environment) or the default."""
        source = os.environ if environ is None else environ
        return source.get(self.name, self.default)

    def read_bool(self, environ: Mapping[str, str] | None = None) -> bool:
        """Read the variable as a boolean (``1/true/yes/on`` or ``0/false/no/off``)."""
        raw = (self.read(environ) or "").strip().lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise ConfigurationError(f"expected true or false, got {raw!r}", field=self.name)

    def read_float(self, environ: Mapping[str, str] | None = None) -> float | None:
        """Read the variable as a number; ``None`` when unset and without default."""
        raw = self.read(environ)
        if raw is None or raw.strip() == "":
            return None
        try:
            return float(raw)
        except ValueError:
            raise ConfigurationError(f"expected a number, got {raw!r}", field=self.name) from None

    def read_list(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """Read the variable as a comma-separated list, blanks dropped."""
        raw = self.read(environ) or ""
        return [item.strip() for item in raw.split(",") if item.strip()]


VIGIE_SERVICE_NAME = EnvironmentVariable(
    "VIGIE_SERVICE_NAME",
    "unknown_service",
    "Name of the instrumented service (OpenTelemetry service.name), used in logs and traces.",
)
VIGIE_DEPLOYMENT_ENVIRONMENT = EnvironmentVariable(
    "VIGIE_DEPLOYMENT_ENVIRONMENT",
    None,
    "Deployment environment (production, staging, ...), OpenTelemetry deployment.environment.name.",
)
VIGIE_EXCLUDED_PATHS = EnvironmentVariable(
    "VIGIE_EXCLUDED_PATHS",
    None,
    "Comma-separated URL paths the HTTP middleware does not record; a trailing * matches a prefix.",
)
VIGIE_LOW_CONFIDENCE_THRESHOLD = EnvironmentVariable(
    "VIGIE_LOW_CONFIDENCE_THRESHOLD",
    "0.5",
    "Predictions with a confidence below this count as low-confidence.",
)
VIGIE_CONFORMANCE_DIR = EnvironmentVariable(
    "VIGIE_CONFORMANCE_DIR",
    None,
    "Folder of the Prometheus conformance corpus (default: ../shared/conformance beside the repo).",
)
VIGIE_COST_CURRENCY = EnvironmentVariable(
    "VIGIE_COST_CURRENCY",
    "EUR",
    "Second currency of LLM cost counters (ISO 4217 code); USD is always recorded too.",
)
VIGIE_COST_EXCHANGE_RATE = EnvironmentVariable(
    "VIGIE_COST_EXCHANGE_RATE",
    "0.86",
    "Units of VIGIE_COST_CURRENCY per US dollar, a fixed rate (never fetched) for LLM costs.",
)

VIGIE_OTLP_ENDPOINT = EnvironmentVariable(
    "VIGIE_OTLP_ENDPOINT",
    None,
    "OTLP/HTTP base URL for traces and logs (http://host:4318); unset: nothing is exported.",
)
VIGIE_OTLP_HEADERS = EnvironmentVariable(
    "VIGIE_OTLP_HEADERS",
    None,
    "Comma-separated key=value headers sent with OTLP exports (for example an API key).",
)
VIGIE_OTLP_TIMEOUT = EnvironmentVariable(
    "VIGIE_OTLP_TIMEOUT", "10", "Seconds an OTLP export may take, retries included."
)
VIGIE_LOGS_ENABLED = EnvironmentVariable(
    "VIGIE_LOGS_ENABLED", "true", "Let configure() set up structured logging on the root logger."
)
VIGIE_LOGS_LEVEL = EnvironmentVariable(
    "VIGIE_LOGS_LEVEL", "INFO", "Level of the root logger: DEBUG, INFO, WARNING, ERROR."
)
VIGIE_LOGS_FORMAT = EnvironmentVariable(
    "VIGIE_LOGS_FORMAT", "json", "Log line format on the stream and in the file: json or console."
)
VIGIE_LOGS_STREAM = EnvironmentVariable(
    "VIGIE_LOGS_STREAM", "stderr", "Where log lines are printed: stderr, stdout or none."
)
VIGIE_LOGS_FILE = EnvironmentVariable(
    "VIGIE_LOGS_FILE", None, "Path of a log file (JSON lines); unset: no file."
)
VIGIE_LOGS_FILE_MAX_BYTES = EnvironmentVariable(
    "VIGIE_LOGS_FILE_MAX_BYTES", "0", "Rotate the log file past this size in bytes; 0: never."
)
VIGIE_LOGS_FILE_ROTATE_WHEN = EnvironmentVariable(
    "VIGIE_LOGS_FILE_ROTATE_WHEN",
    None,
    "Rotate the log file by time: midnight (UTC), D, H, or a count and unit like 6H; unset: never.",
)
VIGIE_LOGS_FILE_BACKUP_COUNT = EnvironmentVariable(
    "VIGIE_LOGS_FILE_BACKUP_COUNT", "7", "Rotated log files kept; older ones are deleted."
)
VIGIE_LOGS_QUEUE_SIZE = EnvironmentVariable(
    "VIGIE_LOGS_QUEUE_SIZE",
    "10000",
    "Log records waiting for the writer thread; beyond, records are dropped and counted.",
)
VIGIE_LOGS_REDACTION = EnvironmentVariable(
    "VIGIE_LOGS_REDACTION",
    "true",
    "Mask e-mails, phones, cards, IBANs, keys and passwords in log lines (keep it on).",
)
VIGIE_LOGS_REDACTION_PATTERNS = EnvironmentVariable(
    "VIGIE_LOGS_REDACTION_PATTERNS",
    None,
    'Extra redaction rules as a JSON object of name to regex: {"ticket": "TCK-\\\\d{6}"}.',
)
VIGIE_LOGS_ALLOW_FIELDS = EnvironmentVariable(
    "VIGIE_LOGS_ALLOW_FIELDS", None, "Comma-separated extra-field names never redacted."
)
VIGIE_LOGS_OTLP = EnvironmentVariable(
    "VIGIE_LOGS_OTLP", "false", "Also ship log records by OTLP to VIGIE_OTLP_ENDPOINT."
)
VIGIE_LOGS_REPLACE_HANDLERS = EnvironmentVariable(
    "VIGIE_LOGS_REPLACE_HANDLERS",
    "true",
    "Remove the root logger's existing handlers (restored by shutdown) to avoid double lines.",
)
VIGIE_TRACES_ENABLED = EnvironmentVariable(
    "VIGIE_TRACES_ENABLED",
    None,
    "Set up OpenTelemetry tracing; unset: on when opentelemetry-sdk is installed.",
)
VIGIE_TRACES_SAMPLE_RATIO = EnvironmentVariable(
    "VIGIE_TRACES_SAMPLE_RATIO",
    "1.0",
    "Share of new traces recorded (0 to 1); a request with a parent follows the parent's choice.",
)
VIGIE_TRACES_CAPTURE_CONTENT = EnvironmentVariable(
    "VIGIE_TRACES_CAPTURE_CONTENT",
    "false",
    "Record LLM prompts and answers (redacted) on GenAI spans.",
)
VIGIE_TRACES_QUEUE_SIZE = EnvironmentVariable(
    "VIGIE_TRACES_QUEUE_SIZE",
    "2048",
    "Finished spans waiting for export; beyond, spans are dropped (bounded memory).",
)
VIGIE_TRACES_PROPAGATE_OUTGOING = EnvironmentVariable(
    "VIGIE_TRACES_PROPAGATE_OUTGOING",
    "true",
    "Add traceparent to outgoing httpx and requests calls.",
)
VIGIE_DEMO_PASSWORD = EnvironmentVariable(
    "VIGIE_DEMO_PASSWORD",
    None,
    "Password of the demo app's 'demo' user (POST /login); unset: generated and printed at start.",
)
VIGIE_FUZZ_EXAMPLES = EnvironmentVariable(
    "VIGIE_FUZZ_EXAMPLES",
    "300",
    "Inputs tried per parser by the fuzz tests (tests/fuzz); raise it for a longer campaign.",
)
VIGIE_TOKEN = EnvironmentVariable(
    "VIGIE_TOKEN",
    None,
    "Access token `vigie query`, `vigie doctor --server` and `vigie feedback` send to a server "
    "with auth on (--token-file is preferred on shared hosts).",
)

ALL_VARIABLES: tuple[EnvironmentVariable, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, EnvironmentVariable)
)
