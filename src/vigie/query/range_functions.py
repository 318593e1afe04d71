"""Functions over range vectors: ``rate``, ``increase``, ``delta``, ``deriv``, ``*_over_time``, ...

Each is computed for all steps of a series at once: the samples of every window are gathered into
a (steps x window length) matrix and reduced along the window axis, with Prometheus's own
arithmetic where it matters (Kahan-compensated sums, its extrapolation rules for ``rate``).

Example::

    >>> import numpy as np
    >>> from vigie.query.values import RangeSeries, RangeVector
    >>> series = RangeSeries({"__name__": "c_total"}, np.arange(0, 300_001, 60_000),
    ...                      np.arange(6, dtype=float) * 60)
    >>> vector = RangeVector([series], np.array([300_000]), 300_000, np.array([300_000]))
    >>> float(evaluate("rate", vector, [])[0][1][0])
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from vigie.query.values import Floats, Ints, Mask, RangeSeries, RangeVector, join

__all__ = [
    "KEEPS_NAME",
    "RANGE_FUNCTIONS",
    "all_bounds",
    "average_columns",
    "compensated_sum",
    "evaluate",
    "kahan_inc",
    "quantile_of",
    "quantile_rows",
]

Result = tuple[Floats, Mask]
Impl = Callable[[RangeSeries, Ints, Ints, RangeVector, Sequence[Floats]], Result]

#: Range functions whose result keeps the metric name.
KEEPS_NAME = frozenset({"last_over_time"})


def kahan_inc(inc: Floats, total: Floats, comp: Floats) -> tuple[Floats, Floats]:
    """Prometheus's ``kahanSumInc`` (Neumaier's variant) over arrays."""
    new_total = total + inc
    bigger = np.abs(total) >= np.abs(inc)
    comp = np.where(
        np.isinf(new_total),
        0.0,
        np.where(bigger, comp + ((total - new_total) + inc), comp + ((inc - new_total) + total)),
    )
    return new_total, comp


def _windows(values: Floats, lo: Ints, hi: Ints) -> tuple[Floats, Mask]:
    """Gather each step's window into a row: (steps x longest window) values and validity."""
    counts = hi - lo
    width = int(counts.max()) if len(counts) else 0
    index = lo[:, None] + np.arange(width)[None, :]
    valid = index < hi[:, None]
    if len(values) == 0:
        return np.zeros(index.shape), valid
    index = np.minimum(index, len(values) - 1)
    return values[index], valid


def _extrapolated(
    series: RangeSeries,
    lo: Ints,
    hi: Ints,
    vector: RangeVector,
    *,
    counter: bool,
    rate: bool,
) -> Result:
    values, times = series.values, series.timestamps
    count = hi - lo
    present = count >= 2
    first_i = np.minimum(lo, len(values) - 1)
    last_i = np.maximum(hi - 1, 0)
    first, last = values[first_i], values[last_i]
    first_t, last_t = times[first_i], times[last_i]
    result = last - first
    if counter and len(values) > 1:
        # Counter resets: add back the value before each reset inside the window. Resets are
        # rare, so the running sum is over them only (the same partial sums as over every
        # sample, zeros included), found for each window by a search among their positions.
        before_reset = np.flatnonzero(values[1:] < values[:-1])
        if before_reset.size:
            cumulative = np.concatenate(([0.0], np.cumsum(values[before_reset])))
            through_last = np.searchsorted(before_reset, last_i, side="left")
            through_first = np.searchsorted(before_reset, first_i, side="left")
            result = result + cumulative[through_last] - cumulative[through_first]
    range_start = vector.ends - vector.range_ms
    to_start = (first_t - range_start) / 1000.0
    to_end = (vector.ends - last_t) / 1000.0
    sampled = (last_t - first_t) / 1000.0
    average = sampled / np.maximum(count - 1, 1)
    threshold = average * 1.1
    to_start = np.where(to_start >= threshold, average / 2, to_start)
    if counter:
        with np.errstate(all="ignore"):
            to_zero = np.where((result > 0) & (first >= 0), sampled * (first / result), to_start)
        to_start = np.where(to_zero < to_start, to_zero, to_start)
    to_end = np.where(to_end >= threshold, average / 2, to_end)
    factor = (sampled + to_start + to_end) / sampled
    if rate:
        factor = factor / (vector.range_ms / 1000.0)
    return result * factor, present


def _rate(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _extrapolated(s, lo, hi, v, counter=True, rate=True)


def _increase(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _extrapolated(s, lo, hi, v, counter=True, rate=False)


def _delta(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _extrapolated(s, lo, hi, v, counter=False, rate=False)


def _instant(s: RangeSeries, lo: Ints, hi: Ints, *, rate: bool) -> Result:
    present = (hi - lo) >= 2
    last_i = np.maximum(hi - 1, 0)
    prev_i = np.maximum(hi - 2, 0)
    last, prev = s.values[last_i], s.values[prev_i]
    if rate:
        result = np.where(last < prev, last, last - prev)
        interval = (s.timestamps[last_i] - s.timestamps[prev_i]) / 1000.0
        present = present & (interval != 0)
        result = result / np.where(interval == 0, 1.0, interval)
    else:
        result = last - prev
    return result, present


def _irate(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _instant(s, lo, hi, rate=True)


def _idelta(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _instant(s, lo, hi, rate=False)


def _regression(
    s: RangeSeries, lo: Ints, hi: Ints, intercept_times: Ints
) -> tuple[Floats, Floats, Mask]:
    """Prometheus's ``linearRegression`` per window: slope and intercept at ``intercept_times``."""
    values, valid = _windows(s.values, lo, hi)
    times, _ = _windows(s.timestamps.astype(np.float64), lo, hi)
    steps = len(lo)
    n = np.zeros(steps)
    sums = {name: (np.zeros(steps), np.zeros(steps)) for name in ("x", "y", "xy", "x2")}
    first = values[:, 0] if values.shape[1] else np.zeros(steps)
    constant = np.ones(steps, dtype=bool)
    for column in range(values.shape[1]):
        ok = valid[:, column]
        y = np.where(ok, values[:, column], 0.0)
        x = np.where(ok, (times[:, column] - intercept_times) / 1e3, 0.0)
        constant &= ~ok | (values[:, column] == first)
        n += ok
        for name, term in (("x", x), ("y", y), ("xy", x * y), ("x2", x * x)):
            total, comp = sums[name]
            new_total, new_comp = kahan_inc(term, total, comp)
            sums[name] = (np.where(ok, new_total, total), np.where(ok, new_comp, comp))
    sum_x, sum_y, sum_xy, sum_x2 = (sums[k][0] + sums[k][1] for k in ("x", "y", "xy", "x2"))
    with np.errstate(all="ignore"):
        cov_xy = sum_xy - sum_x * sum_y / n
        var_x = sum_x2 - sum_x * sum_x / n
        slope = cov_xy / var_x
        intercept = sum_y / n - slope * sum_x / n
    infinite = np.isinf(first)
    slope = np.where(constant, np.where(infinite, np.nan, 0.0), slope)
    intercept = np.where(constant, np.where(infinite, np.nan, first), intercept)
    return slope, intercept, (hi - lo) >= 2


def _deriv(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    first_times = s.timestamps[np.minimum(lo, len(s.timestamps) - 1)]
    slope, _, present = _regression(s, lo, hi, first_times)
    return slope, present


def _predict_linear(
    s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]
) -> Result:
    slope, intercept, present = _regression(s, lo, hi, v.eval_times)
    return slope * a[0] + intercept, present


def _counts(s: RangeSeries, lo: Ints, hi: Ints, changed: Mask) -> Result:
    """Per window, how many consecutive pairs inside it satisfy ``changed``."""
    cumulative = np.concatenate([[0], np.cumsum(changed)])
    # pairs (k-1, k) with lo < k < hi; changed[k-1] describes pair ending at k. An empty window
    # after the last sample has lo == hi == len(values): clamped, its result is not used.
    last = len(cumulative) - 1
    upper = np.minimum(np.maximum(hi - 1, lo), last)
    result = cumulative[upper] - cumulative[np.minimum(lo, last)]
    return result.astype(np.float64), (hi - lo) >= 1


def _resets(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    changed = s.values[1:] < s.values[:-1]
    return _counts(s, lo, hi, changed)


def _changes(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    prev, cur = s.values[:-1], s.values[1:]
    changed = ~((prev == cur) | (np.isnan(prev) & np.isnan(cur)))
    return _counts(s, lo, hi, changed)


def compensated_sum(values: Floats, valid: Mask) -> Floats:
    """Sum along axis 1 with error-free transformations (TwoSum), pairwise.

    As accurate as Prometheus's sequential Kahan-Neumaier sum (``sum``, ``sum_over_time``), but
    in log2(n) numpy passes instead of n: compensation terms are carried beside each partial sum
    and added at the end. As in Prometheus, the compensation is dropped where a sum is infinite.
    """
    with np.errstate(all="ignore"):
        return _compensated_sum(values, valid)


def _compensated_sum(values: Floats, valid: Mask) -> Floats:
    totals = np.where(valid, values, 0.0)
    comps = np.zeros_like(totals)
    while totals.shape[1] > 1:
        if totals.shape[1] % 2:
            pad = np.zeros((totals.shape[0], 1))
            totals = np.hstack([totals, pad])
            comps = np.hstack([comps, pad])
        left, right = totals[:, 0::2], totals[:, 1::2]
        total = left + right
        virtual = total - left
        error = (left - (total - virtual)) + (right - virtual)
        comps = comps[:, 0::2] + comps[:, 1::2] + np.where(np.isfinite(total), error, 0.0)
        totals = total
    if totals.shape[1] == 0:
        return np.zeros(totals.shape[0])
    result: Floats = np.where(np.isfinite(totals[:, 0]), totals[:, 0] + comps[:, 0], totals[:, 0])
    return result


def _sum(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    values, valid = _windows(s.values, lo, hi)
    return compensated_sum(values, valid), hi > lo


def average_columns(values: Floats, valid: Mask) -> Floats:
    """Prometheus's mean (avg, avg_over_time): Kahan sum, incremental mean on overflow.

    ``values``/``valid`` are (groups x members); the mean is taken along axis 1. Where every
    value is finite and the sum cannot overflow, the compensated sum divided by the count is
    the answer; the sequential algorithm (switching to an incremental mean when the sum would
    overflow) runs only for the other rows.
    """
    with np.errstate(all="ignore"):
        return _average(values, valid)


def _average(values: Floats, valid: Mask) -> Floats:
    count = valid.sum(axis=1)
    finite = np.where(valid, np.abs(values), 0.0)
    safe_rows = (np.isfinite(finite).all(axis=1)) & (finite.sum(axis=1) < 1e300)
    if safe_rows.all():
        total = compensated_sum(values, valid)
        return np.asarray(total / np.where(count == 0, 1, count), dtype=np.float64)
    result = np.empty(values.shape[0])
    if safe_rows.any():
        total = compensated_sum(values[safe_rows], valid[safe_rows])
        result[safe_rows] = total / np.maximum(count[safe_rows], 1)
    others = ~safe_rows
    result[others] = _average_sequential(values[others], valid[others])
    return result


def _average_sequential(values: Floats, valid: Mask) -> Floats:
    steps = values.shape[0]
    total = np.zeros(steps)
    comp = np.zeros(steps)
    mean = np.zeros(steps)
    count = np.zeros(steps)
    incremental = np.zeros(steps, dtype=bool)
    for column in range(values.shape[1]):
        ok = valid[:, column]
        f = values[:, column]
        first = ok & (count == 0)
        later = ok & (count > 0)
        count = count + ok
        total = np.where(first, f, total)
        new_total, new_comp = kahan_inc(f, total, comp)
        fits = later & ~incremental & ~np.isinf(new_total)
        total = np.where(fits, new_total, total)
        comp = np.where(fits, new_comp, comp)
        switch = later & ~incremental & np.isinf(new_total)
        previous = np.where(count > 1, count - 1, 1.0)
        mean = np.where(switch, total / previous, mean)
        comp = np.where(switch, comp / previous, comp)
        incremental = incremental | switch
        step = later & incremental
        q = (count - 1) / np.where(count == 0, 1.0, count)
        new_mean, new_comp = kahan_inc(f / np.where(count == 0, 1.0, count), q * mean, q * comp)
        mean = np.where(step, new_mean, mean)
        comp = np.where(step, new_comp, comp)
    safe = np.where(count == 0, 1.0, count)
    return np.where(incremental, mean + comp, total / safe + comp / safe)


def _avg(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    values, valid = _windows(s.values, lo, hi)
    return average_columns(values, valid), hi > lo


def _count(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return (hi - lo).astype(np.float64), hi > lo


def _extreme(s: RangeSeries, lo: Ints, hi: Ints, *, smallest: bool) -> Result:
    values, valid = _windows(s.values, lo, hi)
    masked = np.where(valid, values, np.nan)
    if masked.shape[1] == 0:
        return np.zeros(len(lo)), hi > lo
    with np.errstate(all="ignore"):
        result = np.fmin.reduce(masked, axis=1) if smallest else np.fmax.reduce(masked, axis=1)
    return result, hi > lo


def _min(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _extreme(s, lo, hi, smallest=True)


def _max(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _extreme(s, lo, hi, smallest=False)


def _last(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return s.values[np.maximum(hi - 1, 0)], hi > lo


def _present(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return np.ones(len(lo)), hi > lo


def _variance(s: RangeSeries, lo: Ints, hi: Ints) -> Result:
    values, valid = _windows(s.values, lo, hi)
    steps = len(lo)
    count = np.zeros(steps)
    mean, c_mean = np.zeros(steps), np.zeros(steps)
    aux, c_aux = np.zeros(steps), np.zeros(steps)
    for column in range(values.shape[1]):
        ok = valid[:, column]
        f = values[:, column]
        count = count + ok
        delta = f - (mean + c_mean)
        new_mean, new_c_mean = kahan_inc(delta / np.where(count == 0, 1.0, count), mean, c_mean)
        new_aux, new_c_aux = kahan_inc(delta * (f - (new_mean + new_c_mean)), aux, c_aux)
        mean = np.where(ok, new_mean, mean)
        c_mean = np.where(ok, new_c_mean, c_mean)
        aux = np.where(ok, new_aux, aux)
        c_aux = np.where(ok, new_c_aux, c_aux)
    return (aux + c_aux) / np.where(count == 0, 1.0, count), hi > lo


def _stdvar(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    return _variance(s, lo, hi)


def _stddev(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    variance, present = _variance(s, lo, hi)
    return np.sqrt(variance), present


def quantile_of(q: float, values: Floats) -> float:
    """Prometheus's ``quantile``: linear interpolation between ranks, NaN sorted first."""
    if len(values) == 0 or math.isnan(q):
        return float("nan")
    if q < 0:
        return float("-inf")
    if q > 1:
        return float("inf")
    ordered = sorted(values.tolist(), key=lambda f: (not math.isnan(f), f))
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return float(ordered[lower] * (1 - weight) + ordered[upper] * weight)


def quantile_rows(q: Floats, values: Floats, valid: Mask) -> Floats:
    """:func:`quantile_of` for every row at once (``q`` per row; ``valid`` marks members).

    NaN members sort first, as in Prometheus, so the ordered row is the NaNs followed by the
    other values sorted ascending.
    """
    with np.errstate(all="ignore"):
        count = valid.sum(axis=1)
        is_nan = valid & np.isnan(values)
        nans = is_nan.sum(axis=1)
        ordered = np.sort(np.where(valid & ~is_nan, values, np.inf), axis=1)
        rank = q * (count - 1)
        lower = np.maximum(0, np.floor(np.nan_to_num(rank, nan=0.0))).astype(np.int64)
        upper = np.minimum(np.maximum(count - 1, 0), lower + 1)
        weight = rank - np.floor(rank)

        def pick(index: Ints) -> Floats:
            if ordered.shape[1] == 0:
                return np.full(len(index), np.nan)
            position = np.clip(index - nans, 0, ordered.shape[1] - 1)
            taken = np.take_along_axis(ordered, position[:, None], axis=1)[:, 0]
            return np.where(index < nans, np.nan, taken)

        result = pick(lower) * (1 - weight) + pick(upper) * weight
        result = np.where(q < 0, -np.inf, result)
        result = np.where(q > 1, np.inf, result)
        return np.where(np.isnan(q) | (count == 0), np.nan, result)


def _quantile(s: RangeSeries, lo: Ints, hi: Ints, v: RangeVector, a: Sequence[Floats]) -> Result:
    values, valid = _windows(s.values, lo, hi)
    return quantile_rows(a[0], values, valid), hi > lo


RANGE_FUNCTIONS: dict[str, Impl] = {
    "rate": _rate,
    "increase": _increase,
    "delta": _delta,
    "irate": _irate,
    "idelta": _idelta,
    "deriv": _deriv,
    "predict_linear": _predict_linear,
    "resets": _resets,
    "changes": _changes,
    "sum_over_time": _sum,
    "avg_over_time": _avg,
    "count_over_time": _count,
    "min_over_time": _min,
    "max_over_time": _max,
    "last_over_time": _last,
    "present_over_time": _present,
    "stddev_over_time": _stddev,
    "stdvar_over_time": _stdvar,
    "quantile_over_time": _quantile,
}


_BATCH_CELLS = 4_000_000


#: From this many samples per series on average, one ``searchsorted`` per series costs less
#: than shifting every sample into one sorted key array (see :func:`all_bounds`).
_SEARCH_EACH = 256


def all_bounds(vector: RangeVector) -> tuple[Ints, Floats, Ints, Ints]:
    """Every series' samples concatenated, and per (series, step) the ``[lo, hi)`` indices of its
    window in them.

    Two ways, whichever is cheaper: for short series (an instant query over thousands of them)
    one ``searchsorted`` for all series, each series' timestamps shifted into a block of its own
    so the concatenation is sorted; for long series (a 24 h range) one search per series, which
    never touches the samples themselves. The concatenation is free when the store handed the
    series out back to back in one buffer (see :func:`vigie.query.values.join`).
    """
    series = vector.series
    steps = len(vector.ends)
    lengths = np.fromiter(
        (len(item.timestamps) for item in series), dtype=np.int64, count=len(series)
    )
    timestamps = join([item.timestamps for item in series])
    values = join([item.values for item in series])
    offsets = np.zeros(len(series), dtype=np.int64)
    np.cumsum(lengths[:-1], out=offsets[1:])
    starts = vector.ends - vector.range_ms
    low = min(int(timestamps.min()), int(starts.min())) if len(timestamps) else 0
    high = max(int(timestamps.max()), int(vector.ends.max())) if len(timestamps) else 0
    span = high - low + 2
    shape = (len(series), steps)
    if len(timestamps) >= _SEARCH_EACH * len(series) or span * (len(series) + 1) >= 2**62:
        lo = np.empty(shape, dtype=np.int64)
        hi = np.empty(shape, dtype=np.int64)
        for row, item in enumerate(series):
            lo[row] = np.searchsorted(item.timestamps, starts, side="right")
            hi[row] = np.searchsorted(item.timestamps, vector.ends, side="right")
        lo += offsets[:, None]
        hi += offsets[:, None]
        return timestamps, values, lo, hi
    blocks = np.arange(len(series), dtype=np.int64)[:, None] * span
    keys = (timestamps - low) + np.repeat(blocks[:, 0], lengths)
    lo = np.searchsorted(keys, (blocks + (starts - low)[None, :]).ravel(), side="right")
    hi = np.searchsorted(keys, (blocks + (vector.ends - low)[None, :]).ravel(), side="right")
    return (
        timestamps,
        values,
        lo.reshape(shape).astype(np.int64),
        hi.reshape(shape).astype(np.int64),
    )


def evaluate(
    name: str,
    vector: RangeVector,
    scalar_args: Sequence[Floats],
    *,
    check: Callable[[], None] | None = None,
) -> list[tuple[dict[str, str], Floats, Mask, bool]]:
    """Apply range function ``name`` to every series: rows ``(labels, values, present, drop)``.

    Series are processed in batches: their samples are concatenated and their windows stacked,
    so one pass of numpy operations serves many series (the per-call overhead of numpy would
    otherwise dominate instant queries over thousands of series).
    """
    if not vector.series:
        return []
    timestamps, values, lo, hi = all_bounds(vector)
    combined = RangeSeries({}, timestamps, values)
    widths = (hi - lo).max(axis=1)
    active = np.flatnonzero(widths > 0)
    steps = len(vector.ends)
    rows: list[tuple[dict[str, str], Floats, Mask, bool]] = []
    batch: list[int] = []
    cells = 0
    for index in active.tolist():
        batch.append(index)
        cells += steps * int(widths[index])
        if cells >= _BATCH_CELLS:
            if check is not None:
                check()  # a timeout interrupts a long function between batches
            rows.extend(_run_batch(name, combined, lo, hi, batch, vector, scalar_args))
            batch, cells = [], 0
    if batch:
        rows.extend(_run_batch(name, combined, lo, hi, batch, vector, scalar_args))
    return rows


def _run_batch(
    name: str,
    combined: RangeSeries,
    all_lo: Ints,
    all_hi: Ints,
    batch: list[int],
    vector: RangeVector,
    scalar_args: Sequence[Floats],
) -> list[tuple[dict[str, str], Floats, Mask, bool]]:
    impl = RANGE_FUNCTIONS[name]
    keep_name = name in KEEPS_NAME
    count = len(batch)
    steps = len(vector.ends)
    lo = all_lo[batch].ravel()
    hi = all_hi[batch].ravel()
    ends = np.tile(vector.ends, count)
    eval_times = np.tile(vector.eval_times, count)
    args = [np.tile(arg, count) for arg in scalar_args]
    # windows are gathered into (positions x width) matrices: bound their size by splitting the
    # positions, so one huge window (``[30d]`` over thousands of steps) cannot exhaust memory
    width = max(int((hi - lo).max()), 1) if len(lo) else 1
    span = max(1, _BATCH_CELLS // width)
    total = len(combined.timestamps)
    values_parts: list[Floats] = []
    present_parts: list[Mask] = []
    with np.errstate(all="ignore"):
        for begin in range(0, len(lo), span):
            part = slice(begin, begin + span)
            # Only the samples of this part's windows: a function's whole-array passes (rate's
            # counter resets, changes, resets) then read each sample once per query, not once
            # per batch.
            first = min(int(lo[part].min()), total - 1)
            last = max(int(hi[part].max()), first + 1)
            samples = RangeSeries({}, combined.timestamps[first:last], combined.values[first:last])
            window = RangeVector([], ends[part], vector.range_ms, eval_times[part])
            part_values, part_present = impl(
                samples, lo[part] - first, hi[part] - first, window, [arg[part] for arg in args]
            )
            values_parts.append(np.asarray(part_values, dtype=np.float64))
            present_parts.append(np.asarray(part_present, dtype=bool))
    values = np.concatenate(values_parts).reshape(count, steps)
    present = np.concatenate(present_parts).reshape(count, steps)
    rows = []
    for position, index in enumerate(batch):
        if present[position].any():
            series = vector.series[index]
            drop = series.drop_name if keep_name else True
            rows.append((series.labels, values[position], present[position], drop))
    return rows
