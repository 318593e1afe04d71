"""The engine's working values: every expression is evaluated at all steps of a query at once.

An instant query is a range query of one step. An instant vector over the steps is a
:class:`StepVector`: one row per output series, a ``values`` matrix (series x steps) and a
``present`` mask of the same shape, because a series can exist at some steps only. A range vector
(the argument of ``rate`` or ``*_over_time``) is a :class:`RangeVector`: each series' raw samples
plus, per step, where its window ends.

Example::

    >>> import numpy as np
    >>> vector = StepVector.empty(3)
    >>> vector.values.shape
    (0, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from vigie.exceptions import QueryError

__all__ = [
    "Floats",
    "Ints",
    "Mask",
    "RangeSeries",
    "RangeVector",
    "ScalarSteps",
    "StepVector",
    "StringValue",
    "format_labels",
    "join",
    "label_key",
    "without_name",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

NAME = "__name__"


def label_key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """A hashable identity of a label set (empty values dropped, as Prometheus does)."""
    if "" in labels.values():
        return tuple(sorted((name, value) for name, value in labels.items() if value != ""))
    return tuple(sorted(labels.items()))


def _address(array: npt.NDArray[Any]) -> int:
    return int(array.__array_interface__["data"][0])


def join(arrays: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    """``np.concatenate(arrays)``, without the copy when the arrays already lie back to back in
    one buffer: a store's ``select`` hands out each series as a slice of one big array, and the
    engine would otherwise copy every sample of a wide range query once more.

    The result may be a view of that buffer: callers must not write into it.

    Example::

        >>> import numpy as np
        >>> whole = np.arange(6.0)
        >>> joined = join([whole[0:2], whole[2:5]])
        >>> joined.tolist(), joined.base is whole
        ([0.0, 1.0, 2.0, 3.0, 4.0], True)
    """
    if not arrays:
        return np.empty(0)
    first = arrays[0]
    if len(arrays) == 1:
        return first
    base = first.base
    if (
        not isinstance(base, np.ndarray)
        or base.ndim != 1
        or base.dtype != first.dtype
        or not base.flags.c_contiguous
    ):
        return np.concatenate(arrays)
    itemsize = base.itemsize
    start = position = _address(first)
    for array in arrays:
        if array.size == 0 and array.dtype == base.dtype and array.ndim == 1:
            continue  # adds nothing (and numpy may place an empty view anywhere)
        if (
            array.base is not base
            or array.dtype != base.dtype
            or array.ndim != 1
            or (array.strides[0] != itemsize and array.size > 1)
            or _address(array) != position
        ):
            return np.concatenate(arrays)
        position += array.size * itemsize
    offset = (start - _address(base)) // itemsize
    return base[offset : offset + (position - start) // itemsize]


def without_name(labels: dict[str, str]) -> dict[str, str]:
    """``labels`` without ``__name__``."""
    return {name: value for name, value in labels.items() if name != NAME}


def format_labels(labels: dict[str, str]) -> str:
    """Labels as Prometheus prints them in errors: ``{__name__="x", job="a"}``."""
    pairs = ", ".join(f"{name}={_go_quote(value)}" for name, value in label_key(labels))
    return "{" + pairs + "}"


def _go_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass
class StepVector:
    """An instant vector at every step: rows are series, columns are steps."""

    labels: list[dict[str, str]]
    values: Floats
    present: Mask
    drop_name: list[bool] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.drop_name) != len(self.labels):
            self.drop_name = [False] * len(self.labels)

    @classmethod
    def empty(cls, steps: int) -> StepVector:
        """No series."""
        return cls([], np.zeros((0, steps)), np.zeros((0, steps), dtype=bool), [])

    @classmethod
    def from_rows(
        cls,
        steps: int,
        rows: Sequence[tuple[dict[str, str], Floats, Mask, bool]],
    ) -> StepVector:
        """Build from ``(labels, values, present, drop_name)`` rows."""
        if not rows:
            return cls.empty(steps)
        return cls(
            [row[0] for row in rows],
            np.vstack([row[1] for row in rows]).astype(np.float64, copy=False),
            np.vstack([row[2] for row in rows]).astype(bool, copy=False),
            [row[3] for row in rows],
        )

    @property
    def steps(self) -> int:
        return int(self.values.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> StepVector:
        """A vector of the given rows."""
        index = np.asarray(rows, dtype=np.intp)
        return StepVector(
            [self.labels[i] for i in index],
            self.values[index],
            self.present[index],
            [self.drop_name[i] for i in index],
        )

    def compact(self) -> StepVector:
        """Drop rows present at no step."""
        keep = np.flatnonzero(self.present.any(axis=1))
        if len(keep) == len(self.labels):
            return self
        return self.select(keep)

    def effective_labels(self, row: int) -> dict[str, str]:
        """Row labels as they will be output: without ``__name__`` when it is to be dropped."""
        labels = self.labels[row]
        return without_name(labels) if self.drop_name[row] else labels

    def consolidate(self, *, drop_names: bool = False) -> StepVector:
        """Merge rows with identical labels (present at different steps); two of them present
        at the same step is Prometheus's "vector cannot contain metrics with the same labelset".
        With ``drop_names``, names marked for removal are removed first (end of evaluation)."""
        if drop_names:
            labels = [self.effective_labels(i) for i in range(len(self))]
            drop = [False] * len(self)
        else:
            labels = self.labels
            drop = self.drop_name
        groups: dict[tuple[tuple[str, str], ...], list[int]] = {}
        for index, row_labels in enumerate(labels):
            groups.setdefault(label_key(row_labels), []).append(index)
        if len(groups) == len(labels):
            if drop_names:
                return StepVector(labels, self.values, self.present, drop)
            return self
        out_labels: list[dict[str, str]] = []
        out_values: list[Floats] = []
        out_present: list[Mask] = []
        out_drop: list[bool] = []
        for rows in groups.values():
            if len(rows) == 1:
                row = rows[0]
                out_labels.append(labels[row])
                out_values.append(self.values[row])
                out_present.append(self.present[row])
                out_drop.append(drop[row])
                continue
            present = self.present[rows]
            if (present.sum(axis=0) > 1).any():
                raise QueryError("vector cannot contain metrics with the same labelset")
            values = np.full(self.steps, np.nan)
            for row in rows:
                values = np.where(self.present[row], self.values[row], values)
            out_labels.append(labels[rows[0]])
            out_values.append(values)
            out_present.append(np.asarray(present.any(axis=0), dtype=bool))
            out_drop.append(all(drop[row] for row in rows))
        return StepVector(
            out_labels,
            np.vstack(out_values) if out_values else np.zeros((0, self.steps)),
            np.vstack(out_present) if out_present else np.zeros((0, self.steps), dtype=bool),
            out_drop,
        )


@dataclass
class ScalarSteps:
    """A scalar at every step."""

    values: Floats


@dataclass
class StringValue:
    """A string literal (the same at every step)."""

    value: str


@dataclass
class RangeSeries:
    """One series' raw samples, oldest first, staleness markers removed."""

    labels: dict[str, str]
    timestamps: Ints
    values: Floats
    drop_name: bool = False


@dataclass
class RangeVector:
    """A range vector at every step: per step ``t``, each series' samples in ``(end - range, end]``.

    ``ends`` is the window end per step (the step time minus the offset, or the ``@`` time);
    ``eval_times`` the evaluation time per step (``predict_linear`` extrapolates from it).
    ``selector`` is the selector's syntax node when the range vector comes straight from one.
    """

    series: list[RangeSeries]
    ends: Ints
    range_ms: int
    eval_times: Ints
    selector: object | None = None

    def bounds(self, series: RangeSeries) -> tuple[Ints, Ints]:
        """Per step, the index range ``[lo, hi)`` of ``series`` samples inside the window."""
        lo = np.searchsorted(series.timestamps, self.ends - self.range_ms, side="right")
        hi = np.searchsorted(series.timestamps, self.ends, side="right")
        return lo.astype(np.int64), hi.astype(np.int64)


def go_float(value: float) -> str:
    """A float as Go's ``strconv.FormatFloat(f, 'f', -1, 64)`` writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return np.format_float_positional(value, trim="-")
