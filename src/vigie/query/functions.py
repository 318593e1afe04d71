"""Functions over instant vectors: math, clamping, rounding, dates, labels, sorting, ``absent``.

Functions over range vectors live in :mod:`vigie.query.range_functions`; ``histogram_quantile``
in :mod:`vigie.query.histograms`. Every function here takes evaluated arguments (a
:class:`~vigie.query.values.StepVector`, per-step scalars, strings) and returns a new vector.

Example::

    >>> import numpy as np
    >>> from vigie.query.values import StepVector
    >>> vector = StepVector([{"__name__": "x"}], np.array([[-2.0]]), np.array([[True]]))
    >>> math_function("abs", vector).values.tolist()
    [[2.0]]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import promql_parser

from vigie.exceptions import QueryError
from vigie.query.selectors import go_regex
from vigie.query.values import Floats, Mask, StepVector, label_key

__all__ = [
    "DATE_FUNCTIONS",
    "MATH_FUNCTIONS",
    "absent_labels",
    "clamp",
    "date_function",
    "label_join",
    "label_replace",
    "math_function",
    "present_rows",
    "round_vector",
    "sort_by_label",
    "sort_by_value",
]

MATH_FUNCTIONS: dict[str, Callable[[Floats], Floats]] = {
    "abs": np.abs,
    "ceil": np.ceil,
    "floor": np.floor,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "log2": np.log2,
    "log10": np.log10,
    "sgn": np.sign,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "deg": np.degrees,
    "rad": np.radians,
}

DATE_FUNCTIONS = frozenset(
    {
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
    }
)


def _mapped(vector: StepVector, values: Floats) -> StepVector:
    return StepVector(
        list(vector.labels),
        np.asarray(values, dtype=np.float64),
        vector.present.copy(),
        [True] * len(vector),
    )


def math_function(name: str, vector: StepVector) -> StepVector:
    """An element-wise math function; the result drops the metric name."""
    with np.errstate(all="ignore"):
        return _mapped(vector, MATH_FUNCTIONS[name](vector.values))


def round_vector(vector: StepVector, to_nearest: Floats) -> StepVector:
    """``round(v, to_nearest)``: half rounds up, as Go's ``math.Floor(x + 0.5)``."""
    with np.errstate(all="ignore"):
        inverse = 1.0 / to_nearest
        return _mapped(vector, np.floor(vector.values * inverse + 0.5) / inverse)


def clamp(vector: StepVector, low: Floats, high: Floats) -> StepVector:
    """``clamp(v, min, max)``; no result at steps where ``max < min``."""
    with np.errstate(all="ignore"):
        values = np.maximum(low, np.minimum(high, vector.values))
    result = _mapped(vector, values)
    result.present &= ~(high < low)
    return result.compact()


def date_function(name: str, vector: StepVector) -> StepVector:
    """Calendar fields (UTC) of timestamps given in seconds."""
    values = vector.values
    finite = np.isfinite(values)
    seconds = np.where(finite, np.trunc(np.where(finite, values, 0.0)), 0).astype(np.int64)
    moments = seconds.astype("datetime64[s]")
    days = moments.astype("datetime64[D]")
    months = moments.astype("datetime64[M]")
    years = moments.astype("datetime64[Y]")
    if name == "year":
        result = years.astype(np.int64) + 1970
    elif name == "month":
        result = months.astype(np.int64) % 12 + 1
    elif name == "day_of_month":
        result = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "day_of_year":
        result = (days - years.astype("datetime64[D]")).astype(np.int64) + 1
    elif name == "day_of_week":
        result = (days.astype(np.int64) + 4) % 7
    elif name == "days_in_month":
        result = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(
            np.int64
        )
    elif name == "hour":
        result = (seconds // 3600) % 24
    else:
        result = (seconds // 60) % 60
    return _mapped(vector, np.where(finite, result.astype(np.float64), np.nan))


def _valid_label_name(name: str) -> bool:
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's ``regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    index = 0
    while index < len(template):
        char = template[index]
        if char != "$" or index + 1 >= len(template):
            out.append(char)
            index += 1
            continue
        rest = template[index + 1 :]
        if rest[0] == "$":
            out.append("$")
            index += 2
            continue
        if rest[0] == "{":
            end = rest.find("}")
            name = rest[1:end] if end > 0 else ""
            if end <= 0 or not re.fullmatch(r"\w+", name):
                out.append("$")
                index += 1
                continue
            index += end + 2
        else:
            found = re.match(r"\w+", rest)
            if not found:
                out.append("$")
                index += 1
                continue
            name = found.group(0)
            index += len(name) + 1
        out.append(_group(match, name))
    return "".join(out)


def _group(match: re.Match[str], name: str) -> str:
    try:
        value = match.group(int(name)) if name.isdigit() else match.group(name)
    except IndexError:  # an unknown group expands to nothing, as in Go
        return ""
    return value or ""


def label_replace(
    vector: StepVector, destination: str, replacement: str, source: str, regex: str
) -> StepVector:
    """``label_replace``: when ``regex`` matches the whole source value, set ``destination``."""
    try:
        pattern = re.compile(f"(?s:{go_regex(regex)})\\Z")
    except re.error as error:
        raise QueryError(f"invalid regular expression in label_replace(): {regex}") from error
    if not _valid_label_name(destination):
        raise QueryError(f"invalid destination label name in label_replace(): {destination}")
    labels: list[dict[str, str]] = []
    drop = list(vector.drop_name)
    for row, row_labels in enumerate(vector.labels):
        match = pattern.match(row_labels.get(source, ""))
        if match is None:
            labels.append(row_labels)
            continue
        new = dict(row_labels)
        value = _expand(replacement, match)
        if value:
            new[destination] = value
        else:
            new.pop(destination, None)
        if destination == "__name__":
            drop[row] = False
        labels.append(new)
    return StepVector(labels, vector.values, vector.present, drop).consolidate()


def label_join(
    vector: StepVector, destination: str, separator: str, sources: Sequence[str]
) -> StepVector:
    """``label_join``: ``destination`` is the ``sources`` values joined by ``separator``."""
    if not _valid_label_name(destination):
        raise QueryError(f"invalid destination label name in label_join(): {destination}")
    for source in sources:
        if not _valid_label_name(source):
            raise QueryError(f"invalid source label name in label_join(): {source}")
    labels: list[dict[str, str]] = []
    drop = list(vector.drop_name)
    for row, row_labels in enumerate(vector.labels):
        value = separator.join(row_labels.get(source, "") for source in sources)
        new = dict(row_labels)
        if value:
            new[destination] = value
        else:
            new.pop(destination, None)
        if destination == "__name__":
            drop[row] = False
        labels.append(new)
    return StepVector(labels, vector.values, vector.present, drop).consolidate()


def sort_by_value(vector: StepVector, *, descending: bool) -> StepVector:
    """``sort`` / ``sort_desc`` (meaningful for instant queries): NaN last."""
    if vector.steps != 1 or len(vector) < 2:
        return vector
    values = vector.values[:, 0]

    def key(row: int) -> tuple[bool, float]:
        value = float(values[row])
        if np.isnan(value):
            return (True, 0.0)
        return (False, -value if descending else value)

    return vector.select(sorted(range(len(vector)), key=key))


def _natural_key(value: str) -> list[tuple[int, int | str]]:
    parts = re.findall(r"\d+|\D+", value)
    return [(0, int(part)) if part.isdigit() else (1, part) for part in parts]


def sort_by_label(vector: StepVector, names: Sequence[str], *, descending: bool) -> StepVector:
    """``sort_by_label`` / ``sort_by_label_desc``: natural order of the label values, then the
    whole label set."""
    if len(vector) < 2:
        return vector
    keys = [
        (
            [_natural_key(vector.labels[row].get(name, "")) for name in names],
            [(name, value) for name, value in label_key(vector.labels[row])],
        )
        for row in range(len(vector))
    ]
    order = sorted(range(len(vector)), key=lambda row: keys[row], reverse=descending)
    return vector.select(order)


def absent_labels(node: Any) -> dict[str, str]:
    """Labels ``absent()`` gives its result: the selector's equality matchers, once each."""
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    if isinstance(node, promql_parser.MatrixSelector):
        node = node.vector_selector
    if not isinstance(node, promql_parser.VectorSelector):
        return {}
    labels: dict[str, str] = {}
    seen: set[str] = set()
    matchers = list(node.matchers.matchers)
    duplicated: set[str] = set()
    for matcher in matchers:
        if matcher.name == "__name__":
            continue
        if str(matcher.op) != "MatchOp.Equal":
            if matcher.name in seen:
                duplicated.add(matcher.name)
            seen.add(matcher.name)
            continue
        if matcher.name in seen:
            duplicated.add(matcher.name)
        seen.add(matcher.name)
        labels[matcher.name] = matcher.value
    for name in duplicated:
        labels.pop(name, None)
    return labels


def present_rows(vector: StepVector) -> Mask:
    """Per step, whether the vector has any element."""
    if len(vector) == 0:
        return np.zeros(vector.steps, dtype=bool)
    return np.asarray(vector.present.any(axis=0))
