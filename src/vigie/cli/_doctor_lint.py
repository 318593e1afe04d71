"""Lint an exposition the way ``promtool check metrics`` does, plus what to do about each problem.

The rules mirror Prometheus's ``util/promlint`` (promtool 2.42) one for one, with the same wording,
so a problem reported here is reported by promtool too (a test runs both on the same bodies):
help text present; counters end in ``_total`` and nothing else does; base units (``seconds``,
``bytes``...) rather than ``milliseconds`` or ``hours``; no abbreviated units (``_ms``, ``_kb``); no
camelCase in metric or label names; no ``:`` (reserved for recording rules); no type name in the
metric name; ``_bucket`` / ``_sum`` / ``_count`` suffixes and ``le`` / ``quantile`` labels only on
histograms and summaries.

Metric families are grouped as the Go text parser groups them: a sample belongs to the family
a ``# TYPE`` line declared for its name, or, for ``_bucket``/``_sum``/``_count`` samples, to the
histogram or summary declared for the name without that suffix; otherwise it is its own untyped
family.

Example::

    >>> [str(p) for p in lint_text("# TYPE requests counter\\nrequests 1\\n")]
    ['requests counter metrics should have "_total" suffix', 'requests no help text']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from vigie.server.exposition import Exposition, ExpositionParser

__all__ = ["Family", "LintProblem", "families_of", "lint_families", "lint_text"]

_UNITS = {
    "amperes": "amperes",
    "bytes": "bytes",
    "celsius": "celsius",
    "grams": "grams",
    "joules": "joules",
    "kelvin": "kelvin",
    "meters": "meters",
    "metres": "metres",
    "seconds": "seconds",
    "volts": "volts",
    "minutes": "seconds",
    "hours": "seconds",
    "days": "seconds",
    "weeks": "seconds",
    "kelvins": "kelvin",
    "fahrenheit": "celsius",
    "rankine": "celsius",
    "inches": "meters",
    "yards": "meters",
    "miles": "meters",
    "bits": "bytes",
    "calories": "joules",
    "pounds": "grams",
    "ounces": "grams",
}
_UNIT_PREFIXES = (
    "pico", "nano", "micro", "milli", "centi", "deci", "deca", "hecto", "kilo", "kibi", "mega",
    "mibi", "giga", "gibi", "tera", "tebi", "peta", "pebi",
)  # fmt: skip
_UNIT_ABBREVIATIONS = (
    "s",
    "ms",
    "us",
    "ns",
    "sec",
    "b",
    "kb",
    "mb",
    "gb",
    "tb",
    "pb",
    "m",
    "h",
    "d",
)
_CAMEL_CASE = re.compile(r"[a-z][A-Z]")
_HELP_LINE = re.compile(r"^[ \t]*#[ \t]+HELP[ \t]+([^ \t\n]+)", re.MULTILINE)
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


@dataclass
class Family:
    """One metric family: its name, type, whether it has help text, and its samples' labels."""

    name: str
    type: str = "untyped"
    has_help: bool = False
    help: str = ""
    series: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class LintProblem:
    """A promtool lint problem on ``metric``; ``text`` is promtool's wording, ``action`` ours."""

    metric: str
    text: str
    action: str

    def __str__(self) -> str:
        return f"{self.metric} {self.text}"


def families_of(exposition: Exposition, text: str) -> dict[str, Family]:
    """Group the samples of a parsed text exposition into families, as the Go text parser does."""
    helped = set(_HELP_LINE.findall(text))
    families: dict[str, Family] = {}
    for name, metadata in exposition.metadata.items():
        kind = "untyped" if metadata.type == "unknown" else metadata.type
        families[name] = Family(name, kind, name in helped, metadata.help)
    for _, labels, _, _ in exposition.samples:
        sample_name = labels["__name__"]
        family = families.get(sample_name)
        if family is None or family.type in _SUFFIXES:
            family = _owner(families, sample_name) or family
        if family is None:
            family = families[sample_name] = Family(sample_name)
        family.series.append({k: v for k, v in labels.items() if k != "__name__"})
    return families


def _owner(families: dict[str, Family], sample_name: str) -> Family | None:
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            family = families.get(sample_name[: -len(suffix)])
            if family is not None and suffix in _SUFFIXES.get(family.type, ()):
                return family
    return None


def lint_text(text: str) -> list[LintProblem]:
    """Parse a text exposition and lint it; ``ExpositionError`` if it does not parse."""
    exposition = ExpositionParser().parse(text, "text/plain")
    return lint_families(families_of(exposition, text).values())


def lint_families(families: Iterable[Family]) -> list[LintProblem]:
    """Every promtool lint problem of ``families``, in the order and number promtool prints them."""
    problems: list[LintProblem] = []
    for family in families:
        if not family.series:
            continue  # the Go text parser drops families without samples: promtool skips them
        problems += _lint(family)
    # Like promtool: sorted by metric then text, each occurrence kept (callers may deduplicate).
    return sorted(problems, key=lambda problem: (problem.metric, problem.text))


def _lint(family: Family) -> list[LintProblem]:
    name, kind = family.name, family.type
    found: list[LintProblem] = []

    def problem(text: str, action: str) -> None:
        found.append(LintProblem(name, text, action))

    if not family.has_help:
        problem("no help text", f"add a `# HELP {name} ...` line (the metric's description)")
    unit = _unit_of(name)
    if unit is not None and unit[0] != unit[1]:
        problem(
            f'use base unit "{unit[1]}" instead of "{unit[0]}"',
            f"record {unit[1]} and rename the metric with the `_{unit[1]}` unit",
        )
    if kind == "counter" and not name.endswith("_total"):
        problem(
            'counter metrics should have "_total" suffix', f"rename it {name}_total (a counter)"
        )
    elif kind not in ("untyped", "counter") and name.endswith("_total"):
        problem(
            'non-counter metrics should not have "_total" suffix',
            f"drop `_total` from the name of this {kind}, or make it a counter",
        )
    if kind != "untyped":
        found += _reserved(family)
        if f"_{kind}_" in name.lower() or name.lower().endswith(f"_{kind}"):
            problem(
                f"metric name should not include type '{kind}'",
                f"remove `{kind}` from the name: the TYPE line already says it",
            )
    if ":" in name:
        problem(
            "metric names should not contain ':'",
            "colons are reserved for recording rules: use `_`",
        )
    if _CAMEL_CASE.search(name):
        problem(
            "metric names should be written in 'snake_case' not 'camelCase'",
            "rename the metric in snake_case",
        )
    for series in family.series:  # promtool reports each occurrence
        for label in series:
            if _CAMEL_CASE.search(label):
                problem(
                    "label names should be written in 'snake_case' not 'camelCase'",
                    f"rename the label {label} in snake_case",
                )
    lowered = name.lower()
    if any(
        f"_{short}_" in lowered or lowered.endswith(f"_{short}") for short in _UNIT_ABBREVIATIONS
    ):
        problem(
            "metric names should not contain abbreviated units",
            "spell the base unit out (`_seconds`, `_bytes`)",
        )
    return found


def _reserved(family: Family) -> list[LintProblem]:
    name, kind = family.name, family.type
    found: list[LintProblem] = []
    histogram, summary = kind == "histogram", kind == "summary"
    if not histogram and name.endswith("_bucket"):
        found.append(
            LintProblem(
                name,
                'non-histogram metrics should not have "_bucket" suffix',
                "`_bucket` is reserved for histogram buckets: rename it or make it a histogram",
            )
        )
    for suffix in ("_count", "_sum"):
        if not histogram and not summary and name.endswith(suffix):
            found.append(
                LintProblem(
                    name,
                    f'non-histogram and non-summary metrics should not have "{suffix}" suffix',
                    f"`{suffix}` is reserved for histograms and summaries: rename it",
                )
            )
    for series in family.series:  # promtool reports each occurrence
        if not histogram and "le" in series:
            found.append(
                LintProblem(
                    name,
                    'non-histogram metrics should not have "le" label',
                    "`le` is reserved for histogram buckets: rename the label",
                )
            )
        if not summary and "quantile" in series:
            found.append(
                LintProblem(
                    name,
                    'non-summary metrics should not have "quantile" label',
                    "`quantile` is reserved for summaries: rename the label",
                )
            )
    return found


def _unit_of(name: str) -> tuple[str, str] | None:
    for word in name.split("_"):
        if word in _UNITS:
            return word, _UNITS[word]
        for prefix in _UNIT_PREFIXES:
            if word.startswith(prefix) and word[len(prefix) :] in _UNITS:
                return word, _UNITS[word[len(prefix) :]]
    return None
