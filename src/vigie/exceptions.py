"""The one error hierarchy of vigie.

Every error vigie raises on purpose is a :class:`VigieError`, so a caller can catch them all at
once, or pick the branch it cares about. Foreign errors (``sqlite3``, ``yaml``, ``httpx``, protobuf)
are translated into these at the boundary, with the context a user needs to fix the input: the
file, the line, the field, the position in a query.

::

    VigieError
    ├── ConfigurationError          a config file, option or environment variable is wrong
    ├── InstrumentationError        the SDK was misused at definition time (bad metric name)
    ├── ParseError                  outside text that does not parse
    │   ├── ExpositionError         Prometheus text / OpenMetrics exposition
    │   ├── PromQLParseError        a PromQL expression ("1:14: parse error: unexpected ...")
    │   ├── RuleFileError           a Prometheus rule file or rule unit-test file
    │   ├── RoutingConfigError      an Alertmanager-style routing configuration
    │   └── PayloadError            an OTLP or remote-write payload
    ├── QueryError                  a query that parsed but cannot be evaluated
    │   ├── QueryTimeoutError
    │   ├── QueryLimitError         too many samples or series
    │   └── UnsupportedQueryError   native histograms, experimental functions
    ├── StoreError                  the time-series store
    │   ├── OutOfOrderSampleError
    │   ├── DuplicateSampleError
    │   ├── CorruptionError         a checksum mismatch in a file of the store
    │   └── StorageFullError        the disk is full
    ├── ScrapeError                 a target could not be scraped
    ├── HealthCheckError            a health check found its dependency failing
    ├── NotificationError           a receiver could not be reached
    └── TelemetryError              the traces and logs database (locked, corrupted, full)

Example::

    >>> from vigie.exceptions import PromQLParseError, VigieError
    >>> error = PromQLParseError("unexpected right parenthesis ')'", query="sum(x))", position=6)
    >>> str(error)
    "1:7: parse error: unexpected right parenthesis ')'"
    >>> isinstance(error, VigieError)
    True
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "CorruptionError",
    "DuplicateSampleError",
    "ExpositionError",
    "HealthCheckError",
    "InstrumentationError",
    "NotificationError",
    "OutOfOrderSampleError",
    "ParseError",
    "PayloadError",
    "PromQLParseError",
    "QueryError",
    "QueryLimitError",
    "QueryTimeoutError",
    "RoutingConfigError",
    "RuleFileError",
    "ScrapeError",
    "StorageFullError",
    "StoreError",
    "TelemetryError",
    "UnsupportedQueryError",
    "VigieError",
]


class VigieError(Exception):
    """Base of every error vigie raises on purpose."""


class ConfigurationError(VigieError):
    """A configuration file, option or environment variable is invalid.

    ``path``, ``line`` and ``field`` say where, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        super().__init__(_located(message, path, line, field))


class InstrumentationError(VigieError):
    """The SDK was misused when a metric or instrument was defined (raised immediately)."""


class ParseError(VigieError):
    """Text from outside vigie does not parse.

    ``source`` names where the text came from (a file path, a target URL); ``line`` is 1-based.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        super().__init__(_located(message, source, line, None))


class ExpositionError(ParseError):
    """Prometheus text format or OpenMetrics exposition that does not parse."""


class PromQLParseError(ParseError):
    """A PromQL expression that does not parse; reads like Prometheus: ``1:14: parse error: ...``.

    ``position`` is the 0-based character offset in ``query`` where the problem was found.
    """

    def __init__(self, message: str, *, query: str = "", position: int | None = None) -> None:
        self.query = query
        self.position = position
        ParseError.__init__(self, message)
        self.args = (self._formatted(),)

    def _formatted(self) -> str:
        if self.position is None:
            return f"parse error: {self.message}"
        line = self.query.count("\n", 0, self.position) + 1
        column = self.position - (self.query.rfind("\n", 0, self.position) + 1) + 1
        return f"{line}:{column}: parse error: {self.message}"

    def __str__(self) -> str:
        return self._formatted()


class RuleFileError(ParseError):
    """A rule file (or rule unit-test file) that is invalid; ``rule`` names the offending rule."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        rule: str | None = None,
    ) -> None:
        self.path = path
        self.rule = rule
        detail = f"{message} (rule {rule!r})" if rule else message
        super().__init__(detail, source=path, line=line)


class RoutingConfigError(ParseError):
    """An Alertmanager-style routing configuration that is invalid."""


class PayloadError(ParseError):
    """An OTLP or remote-write payload that cannot be decoded or is over a limit."""


class QueryError(VigieError):
    """A query that parsed but cannot be evaluated (Prometheus ``errorType: execution``)."""


class QueryTimeoutError(QueryError):
    """The query ran longer than the configured timeout (Prometheus ``errorType: timeout``)."""


class QueryLimitError(QueryError):
    """The query would load more samples or series than allowed."""


class UnsupportedQueryError(QueryError):
    """The query uses a feature vigie does not support (native histograms, experimental ones)."""


class StoreError(VigieError):
    """The time-series store could not do what was asked."""


class OutOfOrderSampleError(StoreError):
    """A sample is older than the newest one of its series and out-of-order ingestion is off."""


class DuplicateSampleError(StoreError):
    """A sample has the timestamp of an existing one but a different value."""


class CorruptionError(StoreError):
    """A file of the store failed its checksum; ``path`` names it."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class StorageFullError(StoreError):
    """The disk holding the data directory is full."""


class ScrapeError(VigieError):
    """A target could not be scraped; the message is what the targets API shows."""


class HealthCheckError(VigieError):
    """A health check found what it checks failing; ``/health`` shows the message as is.

    Raise it from a custom check to report a failure without the exception type in the message.
    """


class NotificationError(VigieError):
    """A receiver could not be reached or refused a notification."""


class TelemetryError(VigieError):
    """The traces and logs database could not do what was asked; ``path`` names its file.

    Raised for a database locked by another process, a corrupted file or a full disk.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


def _located(message: str, path: str | None, line: int | None, field: str | None) -> str:
    """Prefix ``message`` with ``path:line:`` and the field, as compilers and promtool do."""
    where = ""
    if path:
        where = path if line is None else f"{path}:{line}"
    elif line is not None:
        where = f"line {line}"
    if field:
        message = f"{field}: {message}"
    return f"{where}: {message}" if where else message
