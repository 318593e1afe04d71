"""Selectors: reading series from the store's querier for every step at once.

An instant vector selector takes, at each step ``t``, the newest sample in ``(t - lookback, t]``
unless it is a staleness marker. A range selector keeps every sample (markers removed) and lets
the function look at ``(end - range, end]`` per step. One ``select`` per selector serves all the
steps of a range query: windows are found with ``searchsorted``, never by re-selecting.

Example::

    >>> import numpy as np
    >>> from vigie.store.interface import Series
    >>> series = Series({"__name__": "x"}, np.array([0, 60_000]), np.array([1.0, 2.0]))
    >>> values, present, _ = instant_samples(series, np.array([30_000, 60_000, 400_000]), 300_000)
    >>> values.tolist(), present.tolist()
    ([1.0, 2.0, 2.0], [True, True, False])
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import numpy as np
import promql_parser

from vigie.exceptions import UnsupportedQueryError
from vigie.query.context import Context
from vigie.query.values import Floats, Ints, Mask, RangeSeries, RangeVector, StepVector, join
from vigie.store.interface import Matcher, MatchOp, Series, stale_mask

__all__ = [
    "at_time",
    "duration_ms",
    "eval_times",
    "instant_samples",
    "matchers_of",
    "select_range",
    "select_series",
    "select_vector",
]

_OPS: dict[str, MatchOp] = {
    "MatchOp.Equal": "=",
    "MatchOp.NotEqual": "!=",
    "MatchOp.Re": "=~",
    "MatchOp.NotRe": "!~",
}


def duration_ms(value: datetime.timedelta | None) -> int:
    """A parser duration in integer milliseconds (0 for none)."""
    if value is None:
        return 0
    return round(value / datetime.timedelta(milliseconds=1))


def at_time(node: Any, context: Context) -> int | None:
    """The ``@`` time of a selector or subquery in ms, or None without ``@``."""
    at = node.at
    if at is None:
        return None
    kind = str(at.type)
    if kind.endswith("Start"):
        return context.query_start
    if kind.endswith("End"):
        return context.query_end
    try:
        moment = at.at
    except BaseException as error:  # the Rust parser panics on times before 1970
        raise UnsupportedQueryError("@ timestamps before 1970 are not supported") from error
    seconds: float = moment.timestamp()
    return round(seconds * 1000)


def eval_times(node: Any, context: Context) -> tuple[Ints, Ints]:
    """Per step: the time the selector reads at (``@`` and offset applied), and the step time
    as the functions see it (the ``@`` time when there is one)."""
    at = at_time(node, context)
    offset = duration_ms(node.offset)
    base = context.times if at is None else np.full(context.steps, at, dtype=np.int64)
    return base - offset, base


_FLAGS = re.compile(r"\(\?([imsU-]+)\)")


def scoped_flags(regex: str) -> str:
    """RE2 lets ``(?i)`` appear anywhere and apply to the rest of its group; Python only takes
    scoped ``(?i:...)`` there: rewrite the first into the second."""
    out: list[str] = []
    pending: list[int] = [0]  # per open group: how many scoped groups to close with it
    index = 0
    in_class = False
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            out.append(regex[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
            out.append(char)
            index += 1
            continue
        if char == "[":
            in_class = True
        elif char == "(":
            flags = _FLAGS.match(regex, index)
            if flags:
                wanted = flags.group(1).replace("U", "")
                if wanted and wanted != "-":
                    out.append(f"(?{wanted}:")
                    pending[-1] += 1
                index = flags.end()
                continue
            pending.append(0)
        elif char == ")":
            out.append(")" * pending.pop())
            if not pending:
                pending.append(0)
        out.append(char)
        index += 1
    out.append(")" * sum(pending))
    return "".join(out)


_POSIX_CLASSES = {
    "[:alnum:]": "0-9A-Za-z",
    "[:alpha:]": "A-Za-z",
    "[:ascii:]": "\\x00-\\x7F",
    "[:blank:]": "\\t ",
    "[:cntrl:]": "\\x00-\\x1F\\x7F",
    "[:digit:]": "0-9",
    "[:graph:]": "!-~",
    "[:lower:]": "a-z",
    "[:print:]": " -~",
    "[:punct:]": "!-/:-@[-`{-~",
    "[:space:]": "\\t\\n\\v\\f\\r ",
    "[:upper:]": "A-Z",
    "[:word:]": "0-9A-Za-z_",
    "[:xdigit:]": "0-9A-Fa-f",
}


def go_regex(regex: str) -> str:
    """An RE2 (Go) regular expression in Python's ``re`` dialect: inline flags inside groups,
    POSIX classes (``[[:digit:]]``) and ``\\z``."""
    if "(?" in regex:
        regex = scoped_flags(regex)
    if "[:" in regex:
        for posix, ascii_range in _POSIX_CLASSES.items():
            regex = regex.replace(posix, ascii_range)
    return regex.replace("\\z", "\\Z")


def store_matcher(name: str, op: MatchOp, value: str) -> Matcher:
    """A store matcher, its regex rewritten from RE2 to Python's dialect."""
    if op in ("=~", "!~"):
        value = go_regex(value)
    return Matcher(name, op, value)


def matchers_of(selector: Any) -> list[list[Matcher]]:
    """The selector's matchers as store matchers; several lists for ``{a="1" or b="2"}``."""
    base = [store_matcher(m.name, _OPS[str(m.op)], m.value) for m in selector.matchers.matchers]
    if selector.name is not None and not any(m.name == "__name__" for m in base):
        base.insert(0, Matcher("__name__", "=", selector.name))
    alternatives = selector.matchers.or_matchers
    if not alternatives:
        return [base]
    groups = []
    for group in alternatives:
        extra = [store_matcher(m.name, _OPS[str(m.op)], m.value) for m in group]
        groups.append(base + extra)
    return groups


def select_series(
    selector: Any, context: Context, mint: int, maxt: int, *, charge: bool = True
) -> list[Series]:
    """Every series the selector matches with a sample in ``[mint, maxt]``; with ``charge``
    their samples count against the query's sample limit."""
    context.budget.check_time()
    groups = matchers_of(selector)
    if len(groups) == 1:  # the querier's series are distinct already
        result = context.querier.select(groups[0], mint, maxt)
    else:
        found: dict[tuple[tuple[str, str], ...], Series] = {}
        for matchers in groups:
            for series in context.querier.select(matchers, mint, maxt):
                found.setdefault(tuple(sorted(series.labels.items())), series)
        result = list(found.values())
    if charge:
        context.budget.charge(sum(len(series.timestamps) for series in result))
    return result


def instant_samples(series: Series, times: Ints, lookback_ms: int) -> tuple[Floats, Mask, Ints]:
    """Per time: the newest sample in ``(t - lookback, t]`` (value, present, sample time)."""
    index = np.searchsorted(series.timestamps, times, side="right") - 1
    valid = index >= 0
    safe = np.where(valid, index, 0)
    if len(series.timestamps) == 0:
        empty = np.zeros(len(times))
        return empty, np.zeros(len(times), dtype=bool), times.copy()
    sample_times = series.timestamps[safe]
    values = series.values[safe]
    valid &= sample_times > times - lookback_ms
    valid &= ~stale_mask(values)
    return values, valid, sample_times


def select_vector(selector: Any, context: Context) -> tuple[StepVector, Ints]:
    """Evaluate an instant vector selector at every step; also returns the sample times."""
    times, _ = eval_times(selector, context)
    if context.steps == 0:
        return StepVector.empty(0), np.zeros((0, 0), dtype=np.int64)
    mint = int(times.min()) - context.lookback_ms + 1
    maxt = int(times.max())
    rows_values: list[Floats] = []
    rows_present: list[Mask] = []
    rows_times: list[Ints] = []
    labels: list[dict[str, str]] = []
    for series in select_series(selector, context, mint, maxt, charge=False):
        values, present, sample_times = instant_samples(series, times, context.lookback_ms)
        points = int(present.sum())
        if not points:
            continue
        # as Prometheus: an instant selector costs the points it yields, one per step
        context.budget.charge(points)
        labels.append(series.labels)
        rows_values.append(values)
        rows_present.append(present)
        rows_times.append(sample_times)
    if not labels:
        return StepVector.empty(context.steps), np.zeros((0, context.steps), dtype=np.int64)
    vector = StepVector(labels, np.vstack(rows_values), np.vstack(rows_present))
    return vector, np.vstack(rows_times)


def _with_markers(found: list[Series]) -> set[int]:
    """Indices of the series holding a staleness marker, found with one vectorised pass (over
    the store's own buffer when it handed the series out back to back: no copy)."""
    if not found:
        return set()
    stale = np.flatnonzero(stale_mask(join([series.values for series in found])))
    if not stale.size:
        return set()
    lengths = np.fromiter((len(series.values) for series in found), np.int64, len(found))
    owners = np.searchsorted(np.cumsum(lengths), stale, side="right")
    return set(np.unique(owners).tolist())


def select_range(node: Any, context: Context) -> RangeVector:
    """Evaluate a matrix selector: raw samples and per-step window ends."""
    selector = node.vector_selector
    range_ms = duration_ms(node.range)
    ends, _ = eval_times(selector, context)
    result: list[RangeSeries] = []
    if context.steps:
        mint = int(ends.min()) - range_ms + 1
        maxt = int(ends.max())
        found = select_series(selector, context, mint, maxt)
        marked = _with_markers(found)
        for index, series in enumerate(found):
            timestamps, values = series.timestamps, series.values
            if index in marked:  # most series have no marker in the range: no copy for them
                keep = ~stale_mask(values)
                timestamps, values = timestamps[keep], values[keep]
            if len(timestamps) == 0:
                continue
            result.append(RangeSeries(series.labels, timestamps, values))
    return RangeVector(result, ends, range_ms, context.times, selector=selector)


def is_selector(node: Any) -> bool:
    """True for an instant vector selector."""
    return isinstance(node, promql_parser.VectorSelector)
