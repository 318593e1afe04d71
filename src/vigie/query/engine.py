"""The PromQL engine: evaluates an expression over the store's querier, all steps at once.

Prometheus 3.x semantics for floats: 5 minute lookback, left-open windows ``(t - range, t]``,
staleness markers, ``offset``, ``@`` (with ``start()`` / ``end()``), subqueries, delayed removal of
the metric name, every aggregation, binary operator and float function. An instant query is a
range query of one step, so both share one code path.

Example::

    >>> from vigie.store.memory import MemoryStorage
    >>> storage = MemoryStorage()
    >>> appender = storage.appender()
    >>> for minute in range(6):
    ...     appender.append({"__name__": "requests_total", "job": "api"}, minute * 60_000,
    ...                     minute * 60.0)
    >>> appender.commit()
    >>> engine = Engine(storage)
    >>> result = engine.instant("sum by (job) (rate(requests_total[5m]))", 300_000)
    >>> [(s.labels, s.value) for s in result.samples]
    [({'job': 'api'}, 1.0)]

Rules (recording and alerting) receive a query *function*, not the engine::

    >>> query = engine.query_function()
    >>> query("requests_total > 100", 300_000).samples[0].value
    300.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import promql_parser

from vigie.exceptions import QueryError, QueryLimitError
from vigie.query import range_functions
from vigie.query.aggregations import aggregate
from vigie.query.binary import (
    SET_OPERATORS,
    Matching,
    scalar_binop,
    vector_binop,
    vector_scalar_binop,
)
from vigie.query.context import Context
from vigie.query.functions import (
    DATE_FUNCTIONS,
    MATH_FUNCTIONS,
    absent_labels,
    clamp,
    date_function,
    label_join,
    label_replace,
    math_function,
    present_rows,
    round_vector,
    sort_by_label,
    sort_by_value,
)
from vigie.query.histograms import bucket_fraction, bucket_quantile, classic_histogram
from vigie.query.parser import parse
from vigie.query.result import InstantVector, Matrix, QueryResult, Sample, Scalar, String
from vigie.query.selectors import (
    at_time,
    duration_ms,
    is_selector,
    select_range,
    select_vector,
)
from vigie.query.values import (
    Floats,
    RangeSeries,
    RangeVector,
    ScalarSteps,
    StepVector,
    StringValue,
    go_float,
)
from vigie.store.interface import Querier, Series

__all__ = ["Engine", "Evaluation", "QueryFunction"]

Value = StepVector | ScalarSteps | StringValue | RangeVector

#: What rules receive: evaluate ``expr`` at ``time_ms``.
QueryFunction = Callable[[str, int], QueryResult]

_SORTS = frozenset({"sort", "sort_desc", "sort_by_label", "sort_by_label_desc"})
_COUNTER_SUFFIXES = ("_total", "_sum", "_count", "_bucket")


@dataclass
class Evaluation:
    """A query's result with the warnings and infos Prometheus would attach to it."""

    result: QueryResult
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)


class Engine:
    """Evaluates PromQL over a store.

    ``querier_source`` is a Storage (anything with ``.querier()``); a fresh querier is taken per
    query so each query sees what is committed when it starts.
    """

    def __init__(
        self,
        querier_source: Any,
        *,
        lookback_delta_ms: int = 300_000,
        max_samples: int = 50_000_000,
        timeout_s: float = 120.0,
        subquery_step_ms: int = 60_000,
    ) -> None:
        self._source = querier_source
        self.lookback_delta_ms = lookback_delta_ms
        self.max_samples = max_samples
        self.timeout_s = timeout_s
        self.subquery_step_ms = subquery_step_ms

    def _querier(self) -> Querier:
        if hasattr(self._source, "querier"):
            querier: Querier = self._source.querier()
            return querier
        source: Querier = self._source
        return source

    def instant(self, expr: str, time_ms: int) -> QueryResult:
        """Evaluate ``expr`` at ``time_ms``: a vector, scalar, string, or a matrix for a range
        selector."""
        return self.evaluate(expr, time_ms, time_ms, 0, instant=True).result

    def range(self, expr: str, start_ms: int, end_ms: int, step_ms: int) -> Matrix:
        """Evaluate ``expr`` at every step from ``start_ms`` to ``end_ms``."""
        result = self.evaluate(expr, start_ms, end_ms, step_ms, instant=False).result
        assert isinstance(result, Matrix)
        return result

    def query_function(self) -> QueryFunction:
        """A ``(expr, time_ms) -> result`` callable: what rule evaluation is given."""
        return self.instant

    def evaluate(
        self, expr: str, start_ms: int, end_ms: int, step_ms: int, *, instant: bool
    ) -> Evaluation:
        """Evaluate with annotations. Raises PromQLParseError, QueryError and subclasses."""
        tree = parse(expr)
        if not instant:
            if step_ms <= 0:
                raise QueryError("zero or negative query resolution step widths are not accepted")
            if end_ms < start_ms:
                raise QueryError("end timestamp must not be before start time")
            if (end_ms - start_ms) // step_ms + 1 > self.max_samples:
                raise QueryLimitError(
                    "query would evaluate more steps than the sample limit "
                    f"({self.max_samples}): increase the step"
                )
        context = Context.create(
            self._querier(),
            expr,
            start_ms,
            end_ms if not instant else start_ms,
            step_ms if not instant else 1,
            lookback_ms=self.lookback_delta_ms,
            max_samples=self.max_samples,
            timeout_s=self.timeout_s,
            is_range_query=not instant,
        )
        context.subquery_default_step_ms = self.subquery_step_ms
        with np.errstate(all="ignore"):
            value = Evaluator(context).eval(tree)
            result = _to_result(value, context, instant=instant)
        notes = context.annotations
        return Evaluation(result, list(notes.warnings), list(notes.infos))


def _to_result(value: Value, context: Context, *, instant: bool) -> QueryResult:
    times = context.times
    if isinstance(value, StringValue):
        if not instant:
            raise QueryError(
                'invalid expression type "string" for range query, must be Scalar or instant Vector'
            )
        return String(int(times[0]), value.value)
    if isinstance(value, ScalarSteps):
        if instant:
            return Scalar(int(times[0]), float(value.values[0]))
        return Matrix([Series({}, times.copy(), value.values.copy())])
    if isinstance(value, RangeVector):
        if not instant:
            raise QueryError(
                'invalid expression type "range vector" for range query, '
                "must be Scalar or instant Vector"
            )
        return _range_result(value)
    vector = value.consolidate(drop_names=True)
    if instant:
        return InstantVector(
            [
                Sample(vector.labels[row], int(times[0]), float(vector.values[row, 0]))
                for row in range(len(vector))
                if vector.present[row, 0]
            ]
        )
    series = []
    for row in range(len(vector)):
        present = vector.present[row]
        if present.any():
            series.append(Series(vector.labels[row], times[present], vector.values[row][present]))
    series.sort(key=lambda s: sorted(s.labels.items()))
    return Matrix(series)


def _range_result(value: RangeVector) -> Matrix:
    end = int(value.ends[0])
    series = []
    for item in value.series:
        keep = (item.timestamps > end - value.range_ms) & (item.timestamps <= end)
        if keep.any():
            labels = item.labels
            if item.drop_name:
                labels = {k: v for k, v in labels.items() if k != "__name__"}
            series.append(Series(labels, item.timestamps[keep], item.values[keep]))
    series.sort(key=lambda s: sorted(s.labels.items()))
    return Matrix(series)


class Evaluator:
    """Walks the syntax tree; each method returns the value of a node at every step."""

    def __init__(self, context: Context) -> None:
        self.root = context

    def eval(self, node: Any, context: Context | None = None) -> Value:
        context = context or self.root
        context.budget.check_time()
        if isinstance(node, promql_parser.NumberLiteral):
            return ScalarSteps(np.full(context.steps, float(node.val)))
        if isinstance(node, promql_parser.StringLiteral):
            return StringValue(node.val)
        if isinstance(node, promql_parser.ParenExpr):
            return self.eval(node.expr, context)
        if isinstance(node, promql_parser.UnaryExpr):
            return self._negate(self.eval(node.expr, context))
        if isinstance(node, promql_parser.VectorSelector):
            return select_vector(node, context)[0]
        if isinstance(node, promql_parser.MatrixSelector):
            return select_range(node, context)
        if isinstance(node, promql_parser.SubqueryExpr):
            return self._subquery(node, context)
        if isinstance(node, promql_parser.Call):
            return self._call(node, context)
        if isinstance(node, promql_parser.AggregateExpr):
            return self._aggregate(node, context)
        if isinstance(node, promql_parser.BinaryExpr):
            return self._binary(node, context)
        raise QueryError(f"unsupported expression {type(node).__name__}")

    # -- helpers -----------------------------------------------------------------------------

    def _vector(self, node: Any, context: Context) -> StepVector:
        value = self.eval(node, context)
        if not isinstance(value, StepVector):
            raise QueryError(f"expected instant vector, got {type(value).__name__}")
        return value

    def _scalar(self, node: Any, context: Context) -> Floats:
        value = self.eval(node, context)
        if not isinstance(value, ScalarSteps):
            raise QueryError(f"expected scalar, got {type(value).__name__}")
        return value.values

    def _string(self, node: Any, *, label_name: bool = False) -> str:
        while isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        if not isinstance(node, promql_parser.StringLiteral):
            raise QueryError("expected string literal")
        value = str(node.val)
        query = self.root.annotations.query
        if label_name and "\\x" in query:
            # Go's "\xff" is one invalid UTF-8 byte; the Rust parser decodes it as U+00FF.
            # A lone surrogate keeps it invalid so label name checks reject it.
            value = "".join(
                chr(0xDC00 + ord(c))
                if 0x80 <= ord(c) <= 0xFF and f"\\x{ord(c):02x}" in query.lower()
                else c
                for c in value
            )
        return value

    def _range(self, node: Any, context: Context) -> RangeVector:
        value = self.eval(node, context)
        if not isinstance(value, RangeVector):
            raise QueryError(f"expected range vector, got {type(value).__name__}")
        return value

    def _position(self, node: Any) -> int | None:
        notes = self.root.annotations
        while isinstance(node, promql_parser.ParenExpr):
            node = node.expr
        if isinstance(node, promql_parser.MatrixSelector):
            node = node.vector_selector
        if isinstance(node, promql_parser.SubqueryExpr):
            return self._position(node.expr)
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                return notes.position_of(node.name, name=True)
            return notes.position_of("{")
        if isinstance(node, promql_parser.Call):
            return notes.position_of(f"{node.func.name}(")
        if isinstance(node, promql_parser.AggregateExpr):
            return notes.position_of(str(node.op).lower())
        if isinstance(node, promql_parser.NumberLiteral):
            return None
        return None

    def _negate(self, value: Value) -> Value:
        if isinstance(value, ScalarSteps):
            return ScalarSteps(-value.values)
        if isinstance(value, StepVector):
            return StepVector(
                list(value.labels), -value.values, value.present.copy(), [True] * len(value)
            )
        raise QueryError("unary negation applies to scalars and instant vectors only")

    # -- subqueries ---------------------------------------------------------------------------

    def _subquery(self, node: Any, context: Context) -> RangeVector:
        range_ms = duration_ms(node.range)
        step_ms = duration_ms(node.step) or context.subquery_default_step_ms
        offset_ms = duration_ms(node.offset)
        at = at_time(node, context)
        base = context.times if at is None else np.full(context.steps, at, dtype=np.int64)
        ends = base - offset_ms
        if context.steps == 0:
            return RangeVector([], ends, range_ms, base)
        first = int(ends.min()) - range_ms
        start = step_ms * int(first / step_ms)  # Go's integer division truncates
        if start <= first:
            start += step_ms
        inner_times = np.arange(start, int(ends.max()) + 1, step_ms, dtype=np.int64)
        inner = self.eval(node.expr, context.at_steps(inner_times, step_ms))
        if isinstance(inner, StepVector):
            inner = inner.consolidate()  # one series per label set, as in a Prometheus matrix
        series: list[RangeSeries] = []
        if isinstance(inner, ScalarSteps):
            series.append(RangeSeries({}, inner_times.copy(), inner.values.copy()))
        elif isinstance(inner, StepVector):
            for row in range(len(inner)):
                present = inner.present[row]
                if present.any():
                    series.append(
                        RangeSeries(
                            inner.labels[row],
                            inner_times[present],
                            inner.values[row][present],
                            inner.drop_name[row],
                        )
                    )
        else:
            raise QueryError("subquery is only allowed on instant vector or scalar")
        return RangeVector(series, ends, range_ms, context.times)

    # -- aggregations --------------------------------------------------------------------------

    def _aggregate(self, node: Any, context: Context) -> StepVector:
        op = str(node.op).lower()
        vector = self._vector(node.expr, context)
        mode, names = "by", []
        if node.modifier is not None:
            mode = "without" if str(node.modifier.type).endswith("Without") else "by"
            names = list(node.modifier.labels)
        param: Floats | str | None = None
        if op == "count_values":
            param = self._string(node.param, label_name=True)
        elif op in ("topk", "bottomk", "quantile"):
            param = self._scalar(node.param, context)
            if op == "quantile":
                self._check_quantile(param, node)
        return aggregate(op, vector, param, mode, names, check=context.budget.check_time)

    def _check_quantile(self, q: Floats, node: Any) -> None:
        bad = q[np.isnan(q) | (q < 0) | (q > 1)]
        if len(bad):
            self.root.annotations.warn(
                f"quantile value should be between 0 and 1, got {go_float(float(bad[0]))}",
                position=self._first_argument_position(node),
            )

    def _first_argument_position(self, node: Any) -> int | None:
        """Where the first argument of a call or aggregation starts (the quantile)."""
        start = self._position(node)
        if start is None:
            return None
        query = self.root.annotations.query
        index = query.find("(", start)
        if index < 0:
            return start
        index += 1
        while index < len(query) and query[index].isspace():
            index += 1
        return index

    # -- binary operators ----------------------------------------------------------------------

    def _binary(self, node: Any, context: Context) -> Value:
        op = str(node.op)
        matching = _matching(node.modifier, op)
        left = self.eval(node.lhs, context)
        right = self.eval(node.rhs, context)
        if isinstance(left, ScalarSteps) and isinstance(right, ScalarSteps):
            return ScalarSteps(scalar_binop(op, left.values, right.values))
        if isinstance(left, StepVector) and isinstance(right, ScalarSteps):
            return vector_scalar_binop(
                op, left, right.values, scalar_left=False, return_bool=matching.return_bool
            )
        if isinstance(left, ScalarSteps) and isinstance(right, StepVector):
            return vector_scalar_binop(
                op, right, left.values, scalar_left=True, return_bool=matching.return_bool
            )
        if isinstance(left, StepVector) and isinstance(right, StepVector):
            return vector_binop(op, left, right, matching)
        raise QueryError(f"binary operator {op!r} not allowed on these operands")

    # -- functions -----------------------------------------------------------------------------

    def _call(self, node: Any, context: Context) -> Value:
        name = node.func.name
        args = list(node.args)
        steps = context.steps
        if name in range_functions.RANGE_FUNCTIONS:
            scalar_args: list[Floats] = []
            if name == "quantile_over_time":
                scalar_args.append(self._scalar(args[0], context))
                self._check_quantile(scalar_args[0], node)
                range_arg = args[1]
            else:
                range_arg = args[0]
                if name == "predict_linear":
                    scalar_args.append(self._scalar(args[1], context))
            matrix = self._range(range_arg, context)
            rows = range_functions.evaluate(
                name, matrix, scalar_args, check=context.budget.check_time
            )
            if name in ("rate", "increase"):
                self._counter_info(matrix, range_arg)
            return StepVector.from_rows(steps, rows)
        if name in MATH_FUNCTIONS:
            return math_function(name, self._vector(args[0], context))
        if name in DATE_FUNCTIONS:
            vector = self._vector(args[0], context) if args else _time_vector(context)
            return date_function(name, vector)
        if name == "time":
            return ScalarSteps(context.times / 1000.0)
        if name == "pi":
            return ScalarSteps(np.full(steps, np.pi))
        if name == "vector":
            values = self._scalar(args[0], context)
            return StepVector([{}], values[None, :].copy(), np.ones((1, steps), dtype=bool))
        if name == "scalar":
            vector = self._vector(args[0], context)
            counts = vector.present.sum(axis=0) if len(vector) else np.zeros(steps)
            values = np.full(steps, np.nan)
            for row in range(len(vector)):
                values = np.where(vector.present[row] & (counts == 1), vector.values[row], values)
            return ScalarSteps(values)
        if name == "timestamp":
            return self._timestamp(args[0], context)
        if name == "round":
            vector = self._vector(args[0], context)
            to_nearest = self._scalar(args[1], context) if len(args) > 1 else np.ones(steps)
            return round_vector(vector, to_nearest)
        if name in ("clamp", "clamp_min", "clamp_max"):
            vector = self._vector(args[0], context)
            low = np.full(steps, -np.inf)
            high = np.full(steps, np.inf)
            if name == "clamp":
                low, high = self._scalar(args[1], context), self._scalar(args[2], context)
            elif name == "clamp_min":
                low = self._scalar(args[1], context)
            else:
                high = self._scalar(args[1], context)
            return clamp(vector, low, high)
        if name == "absent":
            vector = self._vector(args[0], context)
            return _absent(present_rows(vector), absent_labels(args[0]), steps)
        if name == "absent_over_time":
            range_vector = self._range(args[0], context)
            present = np.zeros(steps, dtype=bool)
            for series in range_vector.series:
                lo, hi = range_vector.bounds(series)
                present |= hi > lo
            return _absent(present, absent_labels(args[0]), steps)
        if name == "label_replace":
            vector = self._vector(args[0], context)
            destination = self._string(args[1], label_name=True)
            replacement, source, regex = (self._string(arg) for arg in args[2:5])
            return label_replace(vector, destination, replacement, source, regex)
        if name == "label_join":
            vector = self._vector(args[0], context)
            destination = self._string(args[1], label_name=True)
            separator = self._string(args[2])
            sources = [self._string(arg, label_name=True) for arg in args[3:]]
            return label_join(vector, destination, separator, sources)
        if name in _SORTS:
            vector = self._vector(args[0], context)
            if context.steps > 1:  # Prometheus: whenever start != end, subqueries included
                self.root.annotations.warn(
                    "sort is ineffective for range queries since results are always ordered "
                    "by labels",
                    position=self._position(node),
                )
            if name in ("sort", "sort_desc"):
                return sort_by_value(vector, descending=name == "sort_desc")
            labels = [self._string(arg) for arg in args[1:]]
            return sort_by_label(vector, labels, descending=name == "sort_by_label_desc")
        if name == "histogram_quantile":
            q = self._scalar(args[0], context)
            vector = self._vector(args[1], context)
            self._check_quantile(q, node)
            return classic_histogram(
                vector,
                lambda step, buckets: bucket_quantile(float(q[step]), buckets),
                self.root.annotations,
                self._position(args[1]),
                quantiles=q,
            ).consolidate()
        if name == "histogram_fraction":
            lower = self._scalar(args[0], context)
            upper = self._scalar(args[1], context)
            vector = self._vector(args[2], context)
            return classic_histogram(
                vector,
                lambda step, buckets: bucket_fraction(
                    float(lower[step]), float(upper[step]), buckets
                ),
                self.root.annotations,
                self._position(args[2]),
            ).consolidate()
        raise QueryError(f"function {name!r} is not supported")

    def _counter_info(self, vector: RangeVector, node: Any) -> None:
        for series in vector.series:
            metric = series.labels.get("__name__", "")
            if metric and not metric.endswith(_COUNTER_SUFFIXES):
                self.root.annotations.info(
                    "metric might not be a counter, name does not end in "
                    f'_total/_sum/_count/_bucket: "{metric}"',
                    position=self._position(node),
                )

    def _timestamp(self, arg: Any, context: Context) -> StepVector:
        inner = arg
        while isinstance(inner, promql_parser.ParenExpr):
            inner = inner.expr
        if is_selector(inner):
            vector, sample_times = select_vector(inner, context)
            values = sample_times / 1000.0
        else:
            vector = self._vector(arg, context)
            values = np.broadcast_to(context.times / 1000.0, vector.values.shape).copy()
        return StepVector(
            list(vector.labels),
            values.astype(np.float64),
            vector.present.copy(),
            [True] * len(vector),
        )


def _time_vector(context: Context) -> StepVector:
    return StepVector(
        [{}], (context.times / 1000.0)[None, :], np.ones((1, context.steps), dtype=bool)
    )


def _absent(present: Any, labels: dict[str, str], steps: int) -> StepVector:
    missing = ~np.asarray(present, dtype=bool)
    if not missing.any():
        return StepVector.empty(steps)
    return StepVector([labels], np.ones((1, steps)), missing[None, :].copy())


def _matching(modifier: Any, op: str) -> Matching:
    if modifier is None:
        card = "many-to-many" if op in SET_OPERATORS else "one-to-one"
        return Matching(card=card)
    card_name = str(modifier.card)
    card = {
        "VectorMatchCardinality.OneToOne": "one-to-one",
        "VectorMatchCardinality.ManyToOne": "many-to-one",
        "VectorMatchCardinality.OneToMany": "one-to-many",
        "VectorMatchCardinality.ManyToMany": "many-to-many",
    }[card_name]
    matching = Matching(card=card, return_bool=bool(modifier.return_bool))
    if modifier.matching is not None:
        matching.on = str(modifier.matching.type).endswith("Include")
        matching.labels = list(modifier.matching.labels)
    if modifier.group_labels:
        matching.include = list(modifier.group_labels)
    return matching
