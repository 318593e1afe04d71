"""Aggregation operators: ``sum avg min max count group stddev stdvar topk bottomk quantile
count_values``, with ``by`` / ``without``.

Series are grouped once per query (labels do not change between steps); the reduction then runs
over each group's (members x steps) matrix, so a range query costs one pass, not one per step.

Example::

    >>> import numpy as np
    >>> from vigie.query.values import StepVector
    >>> vector = StepVector([{"job": "a"}, {"job": "b"}], np.array([[1.0], [2.0]]),
    ...                     np.array([[True], [True]]))
    >>> aggregate("sum", vector, None, "by", []).values.tolist()
    [[3.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from vigie.exceptions import QueryError
from vigie.query.range_functions import average_columns, compensated_sum, quantile_rows
from vigie.query.values import Floats, Mask, StepVector, go_float, label_key

__all__ = ["AGGREGATIONS", "aggregate", "group_labels"]

AGGREGATIONS = frozenset(
    {
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    }
)

Row = tuple[dict[str, str], Floats, Mask, bool]


def group_labels(labels: dict[str, str], mode: str, names: Sequence[str]) -> dict[str, str]:
    """The labels of the group a series falls in (``by`` keeps, ``without`` drops and drops
    the metric name)."""
    if mode == "without":
        dropped = set(names) | {"__name__"}
        return {name: value for name, value in labels.items() if name not in dropped}
    return {name: labels[name] for name in names if labels.get(name, "") != ""}


def _groups(
    vector: StepVector, mode: str, names: Sequence[str]
) -> list[tuple[dict[str, str], list[int]]]:
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[int]]] = {}
    for row in range(len(vector)):
        labels = group_labels(vector.effective_labels(row), mode, names)
        groups.setdefault(label_key(labels), (labels, []))[1].append(row)
    return list(groups.values())


def aggregate(
    op: str,
    vector: StepVector,
    param: Floats | str | None,
    mode: str,
    names: Sequence[str],
    *,
    check: Callable[[], None] | None = None,
) -> StepVector:
    """Apply aggregation ``op`` (``param``: k, q or the count_values label) over ``vector``.

    ``check`` is called once per group (the query's timeout check).
    """
    steps = vector.steps
    if op == "count_values":
        assert isinstance(param, str)
        return _count_values(vector, param, mode, names)
    if op in ("topk", "bottomk"):
        assert isinstance(param, np.ndarray)
        _check_k(param)
    rows: list[Row] = []
    for labels, members in _groups(vector, mode, names):
        if check is not None:
            check()
        values = vector.values[members]
        present = vector.present[members]
        any_present: Mask = np.asarray(present.any(axis=0), dtype=bool)
        if not any_present.any():
            continue
        if op in ("topk", "bottomk"):
            assert isinstance(param, np.ndarray)
            rows.extend(_top(vector, members, param, largest=op == "topk"))
            continue
        with np.errstate(all="ignore"):
            result = _reduce(op, values, present, param)
        rows.append((labels, result, any_present, False))
    return StepVector.from_rows(steps, rows)


def _reduce(op: str, values: Floats, present: Mask, param: Floats | str | None) -> Floats:
    if op == "sum":
        return compensated_sum(values.T, present.T)
    if op == "avg":
        return average_columns(values.T, present.T)
    if op == "count":
        counted: Floats = present.sum(axis=0).astype(np.float64)
        return counted
    if op == "group":
        return np.ones(values.shape[1])
    if op in ("min", "max"):
        masked = np.where(present, values, np.nan)
        reducer = np.fmin if op == "min" else np.fmax
        reduced: Floats = reducer.reduce(masked, axis=0)
        return reduced
    if op in ("stddev", "stdvar"):
        count = np.zeros(values.shape[1])
        mean = np.zeros(values.shape[1])
        total = np.zeros(values.shape[1])
        for member in range(values.shape[0]):
            ok = present[member]
            f = values[member]
            count = count + ok
            delta = f - mean
            new_mean = mean + delta / np.where(count == 0, 1.0, count)
            new_total = total + delta * (f - new_mean)
            mean = np.where(ok, new_mean, mean)
            total = np.where(ok, new_total, total)
        variance = total / np.where(count == 0, 1.0, count)
        return np.asarray(np.sqrt(variance) if op == "stddev" else variance)
    if op == "quantile":
        assert isinstance(param, np.ndarray)
        return quantile_rows(param, values.T, present.T)
    raise QueryError(f"unknown aggregation {op!r}")


def _top(vector: StepVector, members: list[int], k_values: Floats, *, largest: bool) -> list[Row]:
    """topk / bottomk: the selected members keep their own labels; NaN ranks last."""
    steps = vector.steps
    selected = np.zeros((len(members), steps), dtype=bool)
    rank = np.full(len(members), len(members))
    for step in range(steps):
        k = int(k_values[step])
        if k < 1:
            continue
        candidates = [i for i, row in enumerate(members) if vector.present[row, step]]
        values = [float(vector.values[members[i], step]) for i in candidates]
        kept = _heap_select(values, k, largest=largest)
        order = [
            (True, 0.0) if math.isnan(values[p]) else (False, -values[p] if largest else values[p])
            for p in kept
        ]
        chosen = [kept[i] for i in sorted(range(len(kept)), key=order.__getitem__)]
        for place, position in enumerate(chosen):
            selected[candidates[position], step] = True
            if steps == 1:
                rank[candidates[position]] = place
    rows: list[Row] = []
    for index in np.argsort(rank, kind="stable") if steps == 1 else range(len(members)):
        if not selected[index].any():
            continue
        row = members[int(index)]
        rows.append(
            (
                vector.labels[row],
                vector.values[row],
                vector.present[row] & selected[index],
                vector.drop_name[row],
            )
        )
    return rows


def _heap_select(values: list[float], k: int, *, largest: bool) -> list[int]:
    """The positions topk (``largest``) or bottomk keeps, chosen exactly as Prometheus does:
    a Go ``container/heap`` of k elements fed in input order, so ties are broken the same way.
    """

    def less(a: int, b: int) -> bool:
        first, second = values[heap[a]], values[heap[b]]
        if math.isnan(first):
            return True
        return first < second if largest else first > second

    def up(j: int) -> None:
        while j > 0:
            parent = (j - 1) // 2
            if not less(j, parent):
                break
            heap[parent], heap[j] = heap[j], heap[parent]
            j = parent

    def down(i: int) -> bool:
        start, n = i, len(heap)
        while True:
            left = 2 * i + 1
            if left >= n:
                break
            child = left
            if left + 1 < n and less(left + 1, left):
                child = left + 1
            if not less(child, i):
                break
            heap[i], heap[child] = heap[child], heap[i]
            i = child
        return i > start

    heap: list[int] = []
    for position, value in enumerate(values):
        if len(heap) < k:
            heap.append(position)
            up(len(heap) - 1)
            continue
        top = values[heap[0]]
        better = top < value if largest else top > value
        if better or (math.isnan(top) and not math.isnan(value)):
            heap[0] = position
            if k > 1 and not down(0):
                up(0)
    return heap


def _valid_label_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(name)


def _go_quote(value: str) -> str:
    """Go's ``%q``: invalid UTF-8 bytes (kept as lone surrogates) shown as ``\\xNN``."""
    out = []
    for char in value:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char in '"\\':
            out.append("\\" + char)
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _check_k(k_values: Floats) -> None:
    for k_float in k_values.tolist():
        if math.isnan(k_float):
            raise QueryError("Parameter value is NaN")
        if abs(k_float) >= 2.0**63:
            raise QueryError(f"Scalar value {go_float(k_float)} overflows int64")


def _count_values(vector: StepVector, label: str, mode: str, names: Sequence[str]) -> StepVector:
    """count_values: the value (as Go formats it) becomes label ``label``, set before grouping
    as in Prometheus: ``by`` keeps it, ``without`` keeps it unless listed."""
    if not _valid_label_name(label):
        raise QueryError(f"invalid label name {_go_quote(label)}")
    steps = vector.steps
    grouping = [*names, label] if mode == "by" else list(names)
    counts: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], Floats]] = {}
    for row in range(len(vector)):
        metric = dict(vector.effective_labels(row))
        for step in np.flatnonzero(vector.present[row]):
            metric[label] = go_float(float(vector.values[row, step]))
            labels = group_labels(metric, mode, grouping)
            key = label_key(labels)
            if key not in counts:
                counts[key] = (labels, np.zeros(steps))
            counts[key][1][step] += 1
    rows: list[Row] = [(labels, values, values > 0, False) for labels, values in counts.values()]
    return StepVector.from_rows(steps, rows)
