"""The one error hierarchy: every error is a VigieError and says where the problem is."""

from __future__ import annotations

import inspect

import vigie.exceptions as exceptions
from vigie.exceptions import (
    ConfigurationError,
    CorruptionError,
    PromQLParseError,
    RuleFileError,
    VigieError,
)


def test_every_error_derives_from_vigie_error() -> None:
    """Catching VigieError catches every error class of the module."""
    classes = [
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and issubclass(value, BaseException)
    ]
    assert len(classes) == len(exceptions.__all__)
    assert all(issubclass(cls, VigieError) for cls in classes)


def test_every_error_is_drawn_in_the_docstring_tree() -> None:
    """The module docstring's tree names every class, so a reader sees the whole hierarchy."""
    doc = exceptions.__doc__ or ""
    assert all(name in doc for name in exceptions.__all__)


def test_configuration_error_names_file_line_and_field() -> None:
    """A config error message starts with path:line and names the field."""
    error = ConfigurationError("must be a duration", path="vigie.yml", line=7, field="interval")
    assert str(error) == "vigie.yml:7: interval: must be a duration"
    assert (error.path, error.line, error.field) == ("vigie.yml", 7, "interval")


def test_promql_error_reads_like_prometheus() -> None:
    """Positions are reported as line:column, 1-based, as Prometheus prints them."""
    error = PromQLParseError("unexpected <by>", query="sum(x)\n by (a)", position=8)
    assert str(error) == "2:2: parse error: unexpected <by>"
    assert error.position == 8


def test_rule_file_error_names_rule() -> None:
    """A rule file error carries the file, the line and the rule name."""
    error = RuleFileError("could not parse expression", path="r.yml", line=4, rule="HighLatency")
    assert str(error) == "r.yml:4: could not parse expression (rule 'HighLatency')"
    assert error.rule == "HighLatency"


def test_corruption_error_names_file() -> None:
    """A checksum failure names the file that failed."""
    error = CorruptionError("checksum mismatch", path="chunks/1")
    assert str(error) == "chunks/1: checksum mismatch"
