"""The series notation of rule unit tests: ``up{job="api"}`` and ``1+1x10 _ stale``.

``promtool test rules`` describes input series with a metric selector (name and ``=`` labels
only) and values in *expanding notation*: ``a+bxn`` is ``a, a+b, ..., a+n*b`` (n+1 values),
``a-bxn`` counts down, ``axn`` repeats ``a`` n+1 times, ``_`` is a missed scrape (``_xn``: n of
them) and ``stale`` a staleness marker. Native-histogram values (``{{...}}``) are recognised and
refused with :class:`UnsupportedNotation` so a runner can count the case as skipped.

Example::

    >>> parse_series_values("1+1x3 _x2 stale 7")[:5]
    [1.0, 2.0, 3.0, 4.0, None]
    >>> parse_metric('up{job="api", instance="a:9090"}')
    {'__name__': 'up', 'job': 'api', 'instance': 'a:9090'}
"""

from __future__ import annotations

import json
import re

from vigie.query.conformance import expand_values

__all__ = ["UnsupportedNotation", "parse_metric", "parse_series_values"]


class UnsupportedNotation(ValueError):  # noqa: N818 - a verdict ("skip"), not a failure
    """The values use notation vigie does not evaluate (native histograms)."""


def parse_series_values(text: str) -> list[float | None]:
    """Expand a values string; ``None`` is a missing sample, STALE_NAN a staleness marker.

    The expansion itself is the query engine's test-script reader (the same notation), so the two
    runners cannot drift apart.
    """
    try:
        values, histograms = expand_values(str(text))
    except ValueError as error:
        raise ValueError(f"bad sample value in series values {text!r}: {error}") from None
    if histograms:
        raise UnsupportedNotation("native histogram samples are not supported")
    return values


_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\s*(,|\})')
_NAME = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*")


def parse_metric(text: str) -> dict[str, str]:
    """``name{label="value", ...}`` as a label set; ``""`` is the empty set."""
    text = str(text).strip()
    labels: dict[str, str] = {}
    match = _NAME.match(text)
    assert match is not None
    position = match.end()
    if match.group(1):
        labels["__name__"] = match.group(1)
    if position < len(text):
        if text[position] != "{":
            raise ValueError(f"1:{position + 1}: parse error: unexpected character in {text!r}")
        position += 1
        if text[position:].strip() == "}":
            return labels
        while True:
            label = _LABEL.match(text, position)
            if label is None:
                if text[position:].strip().startswith("}"):
                    position = text.index("}", position) + 1
                    break
                raise ValueError(f"1:{position + 1}: parse error: bad label matcher in {text!r}")
            name, quoted, end = label.groups()
            if name in labels:
                raise ValueError(f"label {name!r} repeated in {text!r}")
            labels[name] = quoted[1:-1] if quoted.startswith("`") else json.loads(quoted)
            position = label.end()
            if end == "}":
                break
        if text[position:].strip():
            raise ValueError(f"1:{position + 1}: parse error: unexpected text in {text!r}")
    return labels
