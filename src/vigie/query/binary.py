"""Binary operators: arithmetic, comparisons (with ``bool``), ``atan2``, set operators, and
vector matching (``on``, ``ignoring``, ``group_left``, ``group_right``).

Matching pairs series by their signature once; values are then combined for all steps with numpy.
A series may match at some steps only (series come and go), so the uniqueness rules of
Prometheus (one series per signature on the "one" side, per step) are checked per step.

Example::

    >>> import numpy as np
    >>> values, keep = arithmetic("+", np.array([1.0]), np.array([2.0]))
    >>> values.tolist(), keep.tolist()
    ([3.0], [True])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vigie.exceptions import QueryError
from vigie.query.values import Floats, Mask, StepVector, format_labels, label_key

__all__ = [
    "COMPARISONS",
    "SET_OPERATORS",
    "Matching",
    "arithmetic",
    "scalar_binop",
    "vector_binop",
    "vector_scalar_binop",
]

COMPARISONS = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})

Row = tuple[dict[str, str], Floats, Mask, bool]


@dataclass
class Matching:
    """A binary operator's vector matching."""

    card: str = "one-to-one"  # one-to-one, many-to-one, one-to-many, many-to-many
    on: bool = False
    labels: list[str] = field(default_factory=list)
    include: list[str] = field(default_factory=list)
    return_bool: bool = False


def arithmetic(op: str, left: Floats, right: Floats) -> tuple[Floats, Mask]:
    """``left op right`` element-wise: the values and, for comparisons, whether it holds."""
    with np.errstate(all="ignore"):
        if op == "+":
            return left + right, np.ones(left.shape, dtype=bool)
        if op == "-":
            return left - right, np.ones(left.shape, dtype=bool)
        if op == "*":
            return left * right, np.ones(left.shape, dtype=bool)
        if op == "/":
            return left / right, np.ones(left.shape, dtype=bool)
        if op == "%":
            return np.fmod(left, right), np.ones(left.shape, dtype=bool)
        if op == "^":
            return np.power(left, right), np.ones(left.shape, dtype=bool)
        if op == "atan2":
            return np.arctan2(left, right), np.ones(left.shape, dtype=bool)
        if op == "==":
            return left, left == right
        if op == "!=":
            return left, left != right
        if op == ">":
            return left, left > right
        if op == "<":
            return left, left < right
        if op == ">=":
            return left, left >= right
        if op == "<=":
            return left, left <= right
    raise QueryError(f"operator {op!r} not allowed for float operations")


def scalar_binop(op: str, left: Floats, right: Floats) -> Floats:
    """Scalar ``op`` scalar (comparisons need ``bool`` and yield 0 or 1)."""
    values, keep = arithmetic(op, left, right)
    if op in COMPARISONS:
        return keep.astype(np.float64)
    return values


def vector_scalar_binop(
    op: str, vector: StepVector, scalar: Floats, *, scalar_left: bool, return_bool: bool
) -> StepVector:
    """Vector ``op`` scalar (or scalar ``op`` vector when ``scalar_left``)."""
    scalars = np.broadcast_to(scalar, vector.values.shape)
    if scalar_left:
        values, keep = arithmetic(op, scalars, vector.values)
    else:
        values, keep = arithmetic(op, vector.values, scalars)
    if op in COMPARISONS:
        values = vector.values.copy()
        if return_bool:
            values = keep.astype(np.float64)
            present = vector.present.copy()
        else:
            present = vector.present & keep
    else:
        present = vector.present.copy()
    drop = op not in COMPARISONS or return_bool
    result = StepVector(
        list(vector.labels),
        np.asarray(values, dtype=np.float64),
        present,
        [flag or drop for flag in vector.drop_name],
    )
    return result.compact()


def _signature(labels: dict[str, str], matching: Matching) -> tuple[tuple[str, str], ...]:
    if matching.on:
        wanted = set(matching.labels)
        return label_key({k: v for k, v in labels.items() if k in wanted})
    ignored = set(matching.labels) | {"__name__"}
    return label_key({k: v for k, v in labels.items() if k not in ignored})


def _set_op(op: str, left: StepVector, right: StepVector, matching: Matching) -> StepVector:
    steps = left.steps
    right_by_sig: dict[tuple[tuple[str, str], ...], Mask] = {}
    for row, labels in enumerate(right.labels):
        sig = _signature(labels, matching)
        seen = right_by_sig.get(sig)
        right_by_sig[sig] = right.present[row] if seen is None else seen | right.present[row]
    none = np.zeros(steps, dtype=bool)
    if op in ("and", "unless"):
        present = left.present.copy()
        for row, labels in enumerate(left.labels):
            matched = right_by_sig.get(_signature(labels, matching), none)
            present[row] &= matched if op == "and" else ~matched
        return StepVector(list(left.labels), left.values, present, list(left.drop_name)).compact()
    left_by_sig: dict[tuple[tuple[str, str], ...], Mask] = {}
    for row, labels in enumerate(left.labels):
        sig = _signature(labels, matching)
        seen = left_by_sig.get(sig)
        left_by_sig[sig] = left.present[row] if seen is None else seen | left.present[row]
    rows: list[Row] = [
        (left.labels[row], left.values[row], left.present[row], left.drop_name[row])
        for row in range(len(left))
    ]
    for row, labels in enumerate(right.labels):
        blocked = left_by_sig.get(_signature(labels, matching), none)
        present = right.present[row] & ~blocked
        if present.any():
            rows.append((labels, right.values[row], present, right.drop_name[row]))
    return StepVector.from_rows(steps, rows)


def _result_labels(
    left: dict[str, str], right: dict[str, str], matching: Matching
) -> dict[str, str]:
    labels = dict(left)
    if matching.card == "one-to-one":
        if matching.on:
            wanted = set(matching.labels)
            labels = {k: v for k, v in labels.items() if k in wanted}
        else:
            for name in matching.labels:
                labels.pop(name, None)
    for name in matching.include:
        value = right.get(name, "")
        if value:
            labels[name] = value
        else:
            labels.pop(name, None)
    return labels


def vector_binop(op: str, left: StepVector, right: StepVector, matching: Matching) -> StepVector:
    """Vector ``op`` vector with Prometheus's matching rules."""
    steps = left.steps
    if op in SET_OPERATORS:
        return _set_op(op, left, right, matching)
    if len(left) == 0 or len(right) == 0:
        return StepVector.empty(steps)
    swapped = matching.card == "one-to-many"
    many, one = (right, left) if swapped else (left, right)
    one_by_sig: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for row in range(len(one)):
        one_by_sig.setdefault(_signature(one.labels[row], matching), []).append(row)
    for rows in one_by_sig.values():
        if len(rows) < 2:
            continue
        counts = one.present[rows].sum(axis=0)
        if (counts > 1).any():
            step = int(np.flatnonzero(counts > 1)[0])
            clash = [one.labels[r] for r in rows if one.present[r, step]][:2]
            side = "left" if swapped else "right"
            group = _match_group(clash[0], matching)
            raise QueryError(
                f"found duplicate series for the match group {group} on the {side} hand-side "
                f"of the operation: [{format_labels(clash[0])}, {format_labels(clash[1])}]"
                ";many-to-many matching not allowed: matching labels must be unique on one side"
            )
    rows_out: list[Row] = []
    signatures: list[tuple[tuple[str, str], ...]] = []
    matched: list[tuple[tuple[tuple[str, str], ...], Mask]] = []
    drop = op not in COMPARISONS or matching.return_bool
    for row in range(len(many)):
        sig = _signature(many.labels[row], matching)
        for partner in one_by_sig.get(sig, ()):
            both = many.present[row] & one.present[partner]
            if not both.any():
                continue
            if matching.card == "one-to-one":
                matched.append((sig, both))
            if swapped:
                values, keep = arithmetic(op, one.values[partner], many.values[row])
                if op in COMPARISONS:
                    values = many.values[row]
            else:
                values, keep = arithmetic(op, many.values[row], one.values[partner])
            if matching.return_bool:
                values = keep.astype(np.float64)
                present = both
            elif op in COMPARISONS:
                present = both & keep
            else:
                present = both
            if not present.any():
                continue
            labels = _result_labels(many.labels[row], one.labels[partner], matching)
            # a filtering comparison keeps the labels of the side they come from, and so that
            # side's pending name removal (delayed __name__ removal must equal eager removal)
            row_drop = drop or many.drop_name[row]
            rows_out.append((labels, np.asarray(values, dtype=np.float64), present, row_drop))
            signatures.append(sig)
    if matching.card == "one-to-one":
        _check_one_to_one(matched)
    else:
        _check_unique(rows_out, signatures, matching)
    return StepVector.from_rows(steps, rows_out).consolidate()


def _match_group(labels: dict[str, str], matching: Matching) -> str:
    if matching.on:
        wanted = set(matching.labels)
        return format_labels({k: v for k, v in labels.items() if k in wanted})
    ignored = set(matching.labels) | {"__name__"}
    return format_labels({k: v for k, v in labels.items() if k not in ignored})


def _check_one_to_one(matched: list[tuple[tuple[tuple[str, str], ...], Mask]]) -> None:
    """Two series of the left side matching one right series at the same step (checked before
    comparisons filter, as Prometheus does)."""
    seen: dict[tuple[tuple[str, str], ...], Mask] = {}
    for sig, both in matched:
        previous = seen.get(sig)
        if previous is not None and (previous & both).any():
            raise QueryError(
                "multiple matches for labels: many-to-one matching must be explicit "
                "(group_left/group_right)"
            )
        seen[sig] = both if previous is None else previous | both


def _check_unique(
    rows: list[Row], signatures: list[tuple[tuple[str, str], ...]], matching: Matching
) -> None:
    groups: dict[object, list[int]] = {}
    for index, sig in enumerate(signatures):
        if matching.card == "one-to-one":
            key: object = sig
        else:
            key = (sig, label_key(rows[index][0]))
        groups.setdefault(key, []).append(index)
    for members in groups.values():
        if len(members) < 2:
            continue
        counts = np.sum([rows[i][2] for i in members], axis=0)
        if (counts > 1).any():
            if matching.card == "one-to-one":
                raise QueryError(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
            raise QueryError(
                "multiple matches for labels: grouping labels must ensure unique matches"
            )
