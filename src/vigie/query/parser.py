"""PromQL syntax: a thin layer over the ``promql-parser`` package.

The package (a Rust parser) builds the syntax tree; this module translates its errors into
:class:`~vigie.exceptions.PromQLParseError` reading like Prometheus's (``1:7: parse error: ...``)
and rejects, before any evaluation, what vigie does not evaluate: experimental functions and
aggregations (Prometheus hides them behind ``--enable-feature=promql-experimental-functions``) and
functions that only exist for native histograms.

Example::

    >>> expr = parse('sum by (job) (rate(http_requests_total[5m]))')
    >>> type(expr).__name__
    'AggregateExpr'
    >>> parse("sum(x))")
    Traceback (most recent call last):
    ...
    vigie.exceptions.PromQLParseError: 1:7: parse error: unexpected right parenthesis ')'
"""

from __future__ import annotations

import re
from typing import Any

import promql_parser

from vigie.exceptions import PromQLParseError, UnsupportedQueryError

__all__ = [
    "EXPERIMENTAL_AGGREGATIONS",
    "EXPERIMENTAL_FUNCTIONS",
    "NATIVE_HISTOGRAM_FUNCTIONS",
    "check_supported",
    "parse",
    "parse_unchecked",
    "used_names",
]

#: Functions Prometheus 3.x only accepts with ``promql-experimental-functions`` (or the
#: ``promql-duration-expr`` flag): out of scope, they fail with UnsupportedQueryError.
EXPERIMENTAL_FUNCTIONS = frozenset(
    {
        "double_exponential_smoothing",
        "holt_winters",
        "info",
        "mad_over_time",
        "first_over_time",
        "ts_of_first_over_time",
        "ts_of_last_over_time",
        "ts_of_max_over_time",
        "ts_of_min_over_time",
        "histogram_quantiles",
        "step",
        "range",
        "min_of",
        "max_of",
        "start",
        "end",
    }
)

#: Aggregations behind the same flag.
EXPERIMENTAL_AGGREGATIONS = frozenset({"limitk", "limit_ratio"})

#: Functions that only apply to native histograms, which vigie does not store.
NATIVE_HISTOGRAM_FUNCTIONS = frozenset(
    {
        "histogram_avg",
        "histogram_count",
        "histogram_sum",
        "histogram_stddev",
        "histogram_stdvar",
    }
)

_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")


def parse_unchecked(expr: str) -> Any:
    """The syntax tree of ``expr``, whatever functions it calls; raises PromQLParseError."""
    if not expr.strip():
        raise PromQLParseError("no expression found in input", query=expr, position=0)
    try:
        return promql_parser.parse(expr)
    except (ValueError, TypeError) as error:
        message = str(error)
        raise PromQLParseError(message, query=expr, position=_position(expr, message)) from None


def parse(expr: str) -> Any:
    """Parse and validate ``expr``: syntax errors raise PromQLParseError, out-of-scope features
    raise UnsupportedQueryError."""
    tree = parse_unchecked(expr)
    check_supported(tree)
    return tree


def used_names(tree: Any) -> tuple[set[str], set[str]]:
    """The function names and aggregation operators used anywhere in ``tree``."""
    functions: set[str] = set()
    aggregations: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.Call):
            functions.add(node.func.name)
        elif isinstance(node, promql_parser.AggregateExpr):
            aggregations.add(str(node.op).lower())
        return True

    promql_parser.walk(tree, visit)
    return functions, aggregations


def check_supported(tree: Any) -> None:
    """Raise UnsupportedQueryError when ``tree`` uses an experimental or native-only feature."""
    functions, aggregations = used_names(tree)
    for name in sorted(functions):
        if name in EXPERIMENTAL_FUNCTIONS:
            raise UnsupportedQueryError(
                f"function {name!r} is experimental in Prometheus and not supported by vigie"
            )
        if name in NATIVE_HISTOGRAM_FUNCTIONS:
            raise UnsupportedQueryError(
                f"function {name!r} applies to native histograms, which vigie does not support"
            )
    for name in sorted(aggregations):
        if name in EXPERIMENTAL_AGGREGATIONS:
            raise UnsupportedQueryError(
                f"aggregation {name!r} is experimental in Prometheus and not supported by vigie"
            )


def _position(expr: str, message: str) -> int:
    """Best guess of where the parser stopped: the quoted token it names, else the end."""
    if message.startswith("unclosed left"):
        index = _unclosed(expr, "(" if "parenthesis" in message else "[")
        if index is not None:
            return index
    if "end of input" in message or message == "invalid promql query":
        return len(expr.rstrip())
    match = _QUOTED.search(message)
    if match:
        token = match.group(1) or match.group(2)
        if token in {")", "]", "}"}:
            index = _unbalanced(expr, token)
            if index is not None:
                return index
        index = expr.find(token)
        if index >= 0:
            return index
    return 0


def _unclosed(expr: str, opening: str) -> int | None:
    """Index of the last ``opening`` bracket never closed."""
    closing = {"(": ")", "[": "]", "{": "}"}[opening]
    stack: list[int] = []
    for index, char in enumerate(expr):
        if char == opening:
            stack.append(index)
        elif char == closing and stack:
            stack.pop()
    return stack[-1] if stack else None


def _unbalanced(expr: str, closing: str) -> int | None:
    """Index of the first ``closing`` bracket without an opening one."""
    opening = {")": "(", "]": "[", "}": "{"}[closing]
    depth = 0
    for index, char in enumerate(expr):
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth < 0:
                return index
    return None
