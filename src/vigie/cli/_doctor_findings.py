"""What ``vigie doctor`` reports: findings with a severity, and their text and JSON renderings.

A finding says what was checked, what is wrong (or that all is well) and what to do about it. The
worst severity decides the exit code, so scripts and CI can gate on ``vigie doctor``: 0 when every
finding is ``ok`` or ``info``, 1 when the worst is a ``warning``, 2 when one is an ``error``.

Example::

    >>> finding = Finding("metrics.lint", Severity.WARNING, "requests: counter lacks _total",
    ...                   "rename it requests_total")
    >>> exit_code([finding])
    1
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "Severity", "exit_code", "render_json", "render_text", "worst"]


class Severity(enum.IntEnum):
    """How bad a finding is; ordered, so ``max()`` gives the worst."""

    OK = 0
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        """The lower-case name shown to users (``ok``, ``info``, ``warning``, ``error``)."""
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    """One result of a check.

    ``check`` is a dotted identifier (``health.check.db``, ``metrics.lint``), ``message`` says what
    was found, ``action`` what to do (empty when there is nothing to do), ``details`` carries
    machine-readable context for ``--format json`` (a metric name, a line number, a table).
    """

    check: str
    severity: Severity
    message: str
    action: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of the finding."""
        return {
            "check": self.check,
            "severity": self.severity.label,
            "message": self.message,
            "action": self.action,
            "details": self.details,
        }


_EXIT_CODES = {Severity.OK: 0, Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


def worst(findings: Iterable[Finding]) -> Severity:
    """The worst severity among ``findings`` (``ok`` when there are none)."""
    return max((finding.severity for finding in findings), default=Severity.OK)


def exit_code(findings: Iterable[Finding]) -> int:
    """0 for ok/info, 1 when the worst finding is a warning, 2 when it is an error."""
    return _EXIT_CODES[worst(findings)]


def _summary(findings: Sequence[Finding]) -> dict[str, int]:
    counts = {severity.label: 0 for severity in Severity}
    for finding in findings:
        counts[finding.severity.label] += 1
    return counts


def render_json(findings: Sequence[Finding], *, target: dict[str, str | None]) -> str:
    """The whole report as one JSON document: target, findings, summary counts, exit code."""
    document = {
        "target": target,
        "findings": [finding.to_dict() for finding in findings],
        "summary": _summary(findings),
        "worst": worst(findings).label,
        "exit_code": exit_code(findings),
    }
    return json.dumps(document, indent=2, sort_keys=False)


def render_text(findings: Sequence[Finding], *, title: str) -> str:
    """A report for a terminal: one line per finding, its action and table lines indented below."""
    lines = [title, ""]
    width = max((len(finding.check) for finding in findings), default=0)
    for finding in findings:
        lines.append(f"{finding.severity.label:<8} {finding.check:<{width}}  {finding.message}")
        indent = " " * (8 + 1 + width + 2)
        for row in finding.details.get("table", []):
            lines.append(f"{indent}{row}")
        if finding.action:
            lines.append(f"{indent}-> {finding.action}")
    counts = _summary(findings)
    lines.append("")
    lines.append(
        f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} info, "
        f"{counts['ok']} ok; exit code {exit_code(findings)}"
    )
    return "\n".join(lines) + "\n"
