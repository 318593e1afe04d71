"""``histogram_quantile`` and ``histogram_fraction`` over classic (``le``-labelled) buckets.

The bucket series of one histogram are grouped by their labels without ``le``; per step the
cumulative counts are sorted by upper bound, buckets with the same bound merged, and counts made
monotonic (a bucket smaller than the one before it is raised, with an info annotation, as
Prometheus does since counts scraped at slightly different times can go down).

Example::

    >>> bucket_quantile(0.5, [(1.0, 10.0), (2.0, 20.0), (float("inf"), 20.0)])[0]
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from vigie.query.annotations import Annotations
from vigie.query.values import Floats, Mask, StepVector

__all__ = [
    "almost_equal",
    "bucket_fraction",
    "bucket_quantile",
    "classic_histogram",
    "quantile_steps",
]

Buckets = list[tuple[float, float]]
_SMALL_DELTA = 1e-12
_MIN_NORMAL = 2.2250738585072014e-308


def almost_equal(a: float, b: float, epsilon: float) -> bool:
    """Prometheus's ``almost.Equal``: relative comparison, NaN equals NaN."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < epsilon


def _prepare(buckets: Buckets) -> tuple[Buckets, bool]:
    ordered = sorted(buckets, key=lambda bucket: bucket[0])
    merged: Buckets = []
    for bound, count in ordered:
        if merged and merged[-1][0] == bound:
            merged[-1] = (bound, merged[-1][1] + count)
        else:
            merged.append((bound, count))
    forced = False
    previous = merged[0][1]
    fixed: Buckets = [merged[0]]
    for bound, count in merged[1:]:
        if count == previous:
            fixed.append((bound, count))
            continue
        if almost_equal(previous, count, _SMALL_DELTA):
            fixed.append((bound, previous))
            continue
        if count < previous:
            fixed.append((bound, previous))
            forced = True
            continue
        previous = count
        fixed.append((bound, count))
    return fixed, forced


def _divide(a: float, b: float) -> float:
    """IEEE division as Go does it (x/0 is ±Inf or NaN, never an exception)."""
    with np.errstate(all="ignore"):
        return float(np.divide(np.float64(a), np.float64(b)))


def bucket_quantile(q: float, buckets: Buckets) -> tuple[float, bool]:
    """The ``q`` quantile of cumulative ``(upper bound, count)`` buckets; and whether the
    counts had to be forced monotonic."""
    if math.isnan(q):
        return math.nan, False
    if q < 0:
        return -math.inf, False
    if q > 1:
        return math.inf, False
    if not buckets or max(bound for bound, _ in buckets) != math.inf:
        return math.nan, False
    prepared, forced = _prepare(buckets)
    if len(prepared) < 2:
        return math.nan, forced
    observations = prepared[-1][1]
    if observations == 0:
        return math.nan, forced
    rank = q * observations
    index = len(prepared) - 1
    for position in range(len(prepared) - 1):
        if prepared[position][1] >= rank:
            index = position
            break
    if index == len(prepared) - 1:
        return prepared[-2][0], forced
    if index == 0 and prepared[0][0] <= 0:
        return prepared[0][0], forced
    start = 0.0
    end, count = prepared[index]
    if index > 0:
        start = prepared[index - 1][0]
        count -= prepared[index - 1][1]
        rank -= prepared[index - 1][1]
    return start + (end - start) * _divide(rank, count), forced


def bucket_fraction(lower: float, upper: float, buckets: Buckets) -> tuple[float, bool]:
    """The estimated fraction of observations between ``lower`` and ``upper``."""
    if not buckets or max(bound for bound, _ in buckets) != math.inf:
        return math.nan, False
    prepared, forced = _prepare(buckets)
    count = prepared[-1][1]
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan, forced
    if lower >= upper:
        return 0.0, forced
    rank = 0.0
    lower_rank = upper_rank = 0.0
    lower_set = upper_set = False
    for index, (bound, bucket_count) in enumerate(prepared):
        lower_bound = prepared[index - 1][0] if index else (0.0 if bound > 0 else -math.inf)

        def interpolate(
            value: float,
            *,
            is_lower: bool,
            lb: float = lower_bound,
            ub: float = bound,
            r: float = rank,
            c: float = bucket_count,
        ) -> float:
            if math.isinf(lb):
                # no interpolation in a bucket of infinite width: it contributes nothing
                return c if is_lower else r
            return r + (c - r) * _divide(value - lb, ub - lb)

        if not lower_set and lower_bound >= lower:
            lower_rank, lower_set = rank, True
        if not upper_set and lower_bound >= upper:
            upper_rank, upper_set = rank, True
        if lower_set and upper_set:
            break
        if not lower_set and lower_bound < lower < bound:
            lower_rank, lower_set = interpolate(lower, is_lower=True), True
        if not upper_set and lower_bound < upper < bound:
            upper_rank, upper_set = interpolate(upper, is_lower=False), True
        if lower_set and upper_set:
            break
        rank = bucket_count
    if not lower_set or lower_rank > count:
        lower_rank = count
    if not upper_set or upper_rank > count:
        upper_rank = count
    return _divide(upper_rank - lower_rank, count), forced


def _almost_equal_array(a: Floats, b: Floats, epsilon: float) -> Mask:
    """:func:`almost_equal` over finite arrays."""
    abs_sum = np.abs(a) + np.abs(b)
    diff = np.abs(a - b)
    small = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
    with np.errstate(all="ignore"):
        relative = diff / np.minimum(abs_sum, 1.7976931348623157e308) < epsilon
    return np.asarray((a == b) | np.where(small, diff < epsilon * _MIN_NORMAL, relative))


def quantile_steps(q: Floats, bounds: Floats, counts: Floats) -> tuple[Floats, Mask]:
    """:func:`bucket_quantile` for many steps at once: ``counts`` is (buckets x steps) with every
    bucket present and finite; returns the quantiles and where monotonicity was forced."""
    order = np.argsort(bounds, kind="stable")
    unique, inverse = np.unique(bounds[order], return_inverse=True)
    merged = np.zeros((len(unique), counts.shape[1]))
    np.add.at(merged, inverse, counts[order])
    steps = counts.shape[1]
    forced = np.zeros(steps, dtype=bool)
    previous = merged[0].copy()
    for index in range(1, len(unique)):
        current = merged[index]
        same = current == previous
        close = ~same & _almost_equal_array(previous, current, _SMALL_DELTA)
        down = ~same & ~close & (current < previous)
        merged[index] = np.where(close | down, previous, current)
        forced |= down
        previous = np.where(same | close | down, previous, current)
    result = np.full(steps, np.nan)
    size = len(unique)
    if unique[-1] == math.inf and size >= 2:
        observations = merged[-1]
        rank = q * observations
        reached = merged[: size - 1] >= rank
        bucket = np.where(reached.any(axis=0), reached.argmax(axis=0), size - 1)
        below = np.where(bucket > 0, merged[np.maximum(bucket - 1, 0), np.arange(steps)], 0.0)
        start = np.where(bucket > 0, unique[np.maximum(bucket - 1, 0)], 0.0)
        end = unique[np.minimum(bucket, size - 1)]
        count = merged[bucket, np.arange(steps)] - below
        with np.errstate(all="ignore"):
            inside = start + (end - start) * ((rank - below) / count)
        result = np.where(bucket == size - 1, unique[size - 2], inside)
        result = np.where((bucket == 0) & (unique[0] <= 0), unique[0], result)
        result = np.where(observations == 0, np.nan, result)
    else:
        forced[:] = False
    result = np.where(np.isnan(q), np.nan, result)
    result = np.where(q < 0, -math.inf, result)
    result = np.where(q > 1, math.inf, result)
    forced &= ~np.isnan(q) & (q >= 0) & (q <= 1)
    return result, forced


def classic_histogram(
    vector: StepVector,
    compute: Callable[[int, Buckets], tuple[float, bool]],
    annotations: Annotations,
    position: int | None,
    *,
    quantiles: Floats | None = None,
) -> StepVector:
    """Group bucket series by labels without ``le`` and apply ``compute(step, buckets)``.

    With ``quantiles`` (histogram_quantile), steps where every bucket of a histogram is present
    are computed for all steps at once by :func:`quantile_steps`.
    """
    steps = vector.steps
    groups: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[tuple[int, float]]]] = {}
    for row, labels in enumerate(vector.labels):
        raw = labels.get("le", "")
        try:
            bound = _parse_bound(raw)
        except ValueError:
            name = labels.get("__name__", "")
            annotations.warn(
                f'bucket label "le" is missing or has a malformed value of "{raw}" '
                f'for metric name "{name}"',
                position=position,
            )
            continue
        rest = {k: v for k, v in labels.items() if k != "le"}
        key = tuple(sorted(rest.items()))
        groups.setdefault(key, (rest, []))[1].append((row, bound))
    rows: list[tuple[dict[str, str], Floats, Mask, bool]] = []
    for rest, members in groups.values():
        values = np.zeros(steps)
        present = np.zeros(steps, dtype=bool)
        loop_steps: Iterable[int] = range(steps)
        if quantiles is not None:
            rows_index = [row for row, _ in members]
            counts = vector.values[rows_index]
            complete = vector.present[rows_index].all(axis=0) & np.isfinite(counts).all(axis=0)
            if complete.any():
                bounds = np.array([bound for _, bound in members])
                fast, forced = quantile_steps(quantiles[complete], bounds, counts[:, complete])
                values[complete] = fast
                present[complete] = True
                if forced.any():
                    _monotonicity_info(annotations, rest, position)
            loop_steps = np.flatnonzero(~complete).tolist()
        for step in loop_steps:
            buckets = [
                (bound, float(vector.values[row, step]))
                for row, bound in members
                if vector.present[row, step]
            ]
            if not buckets:
                continue
            result, was_forced = compute(step, buckets)
            if was_forced:
                _monotonicity_info(annotations, rest, position)
            values[step] = result
            present[step] = True
        if present.any():
            rows.append((rest, values, present, True))
    return StepVector.from_rows(steps, rows)


def _monotonicity_info(
    annotations: Annotations, labels: dict[str, str], position: int | None
) -> None:
    annotations.info(
        "input to histogram_quantile needed to be fixed for monotonicity "
        "(see https://prometheus.io/docs/prometheus/latest/querying/functions/"
        "#histogram_quantile) for metric name "
        f'"{labels.get("__name__", "")}"',
        position=position,
    )


def _parse_bound(raw: str) -> float:
    text = raw.strip()
    if not text or text.lower() in {"nan"}:
        raise ValueError(raw)
    lowered = text.lower()
    if lowered in {"+inf", "inf"}:
        return math.inf
    if lowered == "-inf":
        return -math.inf
    return float(text.replace("_", "x") if "_" in text else text)
