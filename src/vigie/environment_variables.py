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
    "VIGIE_DEPLOYMENT_ENVIRONMENT",
    "VIGIE_EXCLUDED_PATHS",
    "VIGIE_LOW_CONFIDENCE_THRESHOLD",
    "VIGIE_SERVICE_NAME",
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

ALL_VARIABLES: tuple[EnvironmentVariable, ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, EnvironmentVariable)
)
