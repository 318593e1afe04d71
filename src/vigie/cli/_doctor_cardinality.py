"""Label cardinality of an exposition: the largest metrics and labels, and label values to fix.

Each series costs memory and disk in every Prometheus that scrapes the app, and a label whose
values are unbounded (user ids, raw URL paths, e-mails, free text) makes series grow without limit
and may leak personal data. The report lists the metrics with the most series and the labels with
the most distinct values, and flags labels whose values look like:

* ``id``: a UUID, a hex string of 12+ characters, or a number of 6+ digits;
* ``path``: a URL path with an id or a number in it (``/users/1234``) rather than a template
  (``/users/{user_id}``);
* ``email``: an e-mail address;
* ``free text``: text of 4+ words or longer than 80 characters.

``le`` and ``quantile`` (bucket bounds) are left out. A label with more than
:data:`HIGH_CARDINALITY` distinct values is flagged too, whatever its values look like.

Example::

    >>> classify("/users/8812/orders")
    'path'
    >>> classify("/users/{user_id}/orders") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from vigie.cli._doctor_lint import Family

__all__ = [
    "ADVICE",
    "HIGH_CARDINALITY",
    "LabelStats",
    "classify",
    "label_stats",
    "largest_labels",
    "largest_metrics",
]

#: Distinct values above which a label is flagged as high-cardinality.
HIGH_CARDINALITY = 100
_IGNORED = frozenset({"le", "quantile"})
_UUID = re.compile(
    r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
_HEX = re.compile(r"(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{12,}")
_DIGITS = re.compile(r"\d{6,}")
_EMAIL = re.compile(r"[^@\s/]+@[^@\s/]+\.[A-Za-z]{2,}")
_SEGMENT_ID = re.compile(r"\d+|[0-9a-fA-F-]{8,}")

#: What each kind of value means and what to do, for the warning.
ADVICE = {
    "id": (
        "looks like ids",
        "never put ids in labels: drop the label, or record the id in logs or trace attributes",
    ),
    "path": (
        "holds raw URL paths",
        "label with the route template (`/users/{user_id}`), as vigie.instrument_fastapi does",
    ),
    "email": (
        "holds e-mail addresses",
        "remove the label: e-mails are personal data and unbounded",
    ),
    "free text": (
        "holds free text",
        "use a small fixed set of values (an enum); keep text in logs, redacted",
    ),
}


def classify(value: str) -> str | None:
    """The kind of unbounded value ``value`` looks like: id, path, email or free text."""
    if _EMAIL.fullmatch(value):
        return "email"
    if value.startswith("/"):
        segments = [segment for segment in value.split("/") if segment]
        if any(_SEGMENT_ID.fullmatch(segment) for segment in segments):
            return "path"
        return None
    if _UUID.fullmatch(value) or _HEX.fullmatch(value) or _DIGITS.fullmatch(value):
        return "id"
    if len(value) > 80 or len(value.split()) >= 4:
        return "free text"
    return None


@dataclass(frozen=True)
class LabelStats:
    """Distinct values of one label of one metric, and the kinds of unbounded values seen."""

    metric: str
    label: str
    distinct: int
    kinds: tuple[str, ...]
    examples: tuple[str, ...]


def largest_metrics(families: Iterable[Family], limit: int = 10) -> list[tuple[str, int]]:
    """``(metric, series)`` of the ``limit`` metrics with the most series, largest first."""
    sizes = [(family.name, len(family.series)) for family in families if family.series]
    return sorted(sizes, key=lambda pair: (-pair[1], pair[0]))[:limit]


def label_stats(families: Iterable[Family]) -> list[LabelStats]:
    """Statistics of every label of every metric (bucket bounds excepted), largest first."""
    found: list[LabelStats] = []
    for family in families:
        values: dict[str, set[str]] = {}
        for series in family.series:
            for label, value in series.items():
                if label not in _IGNORED:
                    values.setdefault(label, set()).add(value)
        for label, seen in values.items():
            kinds: dict[str, list[str]] = {}
            for value in sorted(seen):
                kind = classify(value)
                if kind is not None:
                    kinds.setdefault(kind, []).append(value)
            examples = [value for kind in sorted(kinds) for value in kinds[kind][:1]]
            found.append(
                LabelStats(family.name, label, len(seen), tuple(sorted(kinds)), tuple(examples))
            )
    return sorted(found, key=lambda stats: (-stats.distinct, stats.metric, stats.label))


def largest_labels(stats: list[LabelStats], limit: int = 10) -> list[LabelStats]:
    """The ``limit`` labels with the most distinct values (``stats`` from :func:`label_stats`)."""
    return stats[:limit]
