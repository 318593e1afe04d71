"""A runner for Prometheus's PromQL test-script format (``load`` / ``clear`` / ``eval``).

The scripts are the specification the engine is measured against. :func:`parse_script` turns a
file into :class:`Case` objects (each ``eval`` with the data loaded before it);
:func:`run_case` loads that data into a fresh :class:`~vigie.store.memory.MemoryStorage`,
evaluates the query with :class:`~vigie.query.engine.Engine`, and compares the result the way
Prometheus's ``promqltest`` does (float tolerance 1e-6 relative, NaN equals NaN, ordering only
with ``expect ordered``). Cases over native histograms or experimental functions are skipped,
with the reason.

Example::

    >>> script = '''
    ... load 1m
    ...     up{job="a"} 1+1x5
    ... eval instant at 2m up
    ...     up{job="a"} 3
    ... '''
    >>> [run_case(case).status for case in parse_script(script, "demo.test")]
    ['passed']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import promql_parser

from vigie.exceptions import PromQLParseError, QueryError, VigieError
from vigie.query.engine import Engine
from vigie.query.histograms import almost_equal
from vigie.query.parser import (
    EXPERIMENTAL_AGGREGATIONS,
    EXPERIMENTAL_FUNCTIONS,
    NATIVE_HISTOGRAM_FUNCTIONS,
    parse_unchecked,
    used_names,
)
from vigie.query.result import InstantVector, Matrix, Scalar, String
from vigie.query.selectors import matchers_of
from vigie.query.values import format_labels, label_key
from vigie.store.interface import STALE_NAN, matching
from vigie.store.memory import MemoryStorage

__all__ = [
    "Case",
    "CaseResult",
    "FileReport",
    "ScriptError",
    "parse_duration",
    "parse_script",
    "run_case",
    "run_file",
]

EPSILON = 1e-6
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}
_INSTANT = re.compile(r"^eval(_\w+)?\s+instant\s+at\s+(\S+)\s+(.+)$")
_RANGE = re.compile(r"^eval(_\w+)?\s+range\s+from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)\s+(.+)$")
_EXPECT = re.compile(r"^expect\s+(\w+)(?:\s+(msg|regex))?\s*(?::\s?(.*))?$")


class ScriptError(VigieError):
    """A test script line that does not parse; the message names the file and line."""


def parse_duration(text: str) -> int:
    """``1m30s`` → 90000 (ms); a bare number is seconds."""
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return round(float(text) * 1000)
    total, position = 0, 0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            raise ValueError(f"invalid duration {text!r}")
        total += round(float(match.group(1)) * _UNITS[match.group(2)])
        position = match.end()
    if position != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}")
    return total


@dataclass
class LoadedSeries:
    """A series of a ``load`` command: labels and ``(timestamp, value)`` points."""

    labels: dict[str, str]
    points: list[tuple[int, float]]
    native: bool = False


@dataclass
class Expected:
    """One expected series (or scalar): labels and values per step (None for ``_``)."""

    labels: dict[str, str] | None
    values: list[float | None]
    native: bool = False


@dataclass
class Case:
    """One ``eval`` command and the data loaded before it."""

    file: str
    line: int
    query: str
    start_ms: int
    end_ms: int
    step_ms: int
    instant: bool
    data: tuple[LoadedSeries, ...]
    expected: list[Expected] = field(default_factory=list)
    expect_fail: bool = False
    fail_message: str | None = None
    fail_regex: str | None = None
    ordered: bool = False
    expect_string: str | None = None
    expect_range: tuple[int, int, int] | None = None
    annotations: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``file:line`` of the eval command."""
        return f"{self.file}:{self.line}"


@dataclass
class CaseResult:
    """The outcome of one case: ``passed``, ``failed`` (with details) or ``skipped`` (reason)."""

    case: Case
    status: str
    detail: str = ""


@dataclass
class FileReport:
    """Every case result of one file."""

    path: str
    results: list[CaseResult]

    def count(self, status: str) -> int:
        """How many cases ended with ``status``."""
        return sum(1 for result in self.results if result.status == status)

    def summary(self) -> str:
        """``FILE: N passed, N failed, N skipped``."""
        return (
            f"{self.path}: {self.count('passed')} passed, {self.count('failed')} failed, "
            f"{self.count('skipped')} skipped"
        )


# -- parsing ---------------------------------------------------------------------------------


def _split_series(text: str) -> tuple[str, str]:
    """Split ``metric{labels} values`` at the end of the series description."""
    depth = 0
    quote: str | None = None
    for index, char in enumerate(text):
        if quote:
            if char == "\\":
                continue
            if char == quote and text[index - 1] != "\\":
                quote = None
            continue
        if char in "\"'`":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char.isspace() and depth == 0:
            return text[:index], text[index:].strip()
    return text, ""


def _parse_labels(description: str) -> dict[str, str]:
    if description.startswith("{") and description.endswith("}") and description == "{}":
        return {}
    node = parse_unchecked(description)
    if not isinstance(node, promql_parser.VectorSelector):
        raise ValueError(f"not a series description: {description}")
    labels: dict[str, str] = {}
    if node.name:
        labels["__name__"] = node.name
    for matcher in node.matchers.matchers:
        labels[matcher.name] = matcher.value
    return labels


def _number(token: str) -> float:
    lowered = token.lower()
    if lowered in ("inf", "+inf"):
        return math.inf
    if lowered == "-inf":
        return -math.inf
    if lowered == "nan":
        return math.nan
    if lowered.startswith(("0x", "-0x", "+0x")):
        return float(int(token, 16))
    return float(token)


_EXPAND = re.compile(r"^([^x]+?)(?:([+-])([^x]+))?x(\d+)$")


def expand_values(text: str) -> tuple[list[float | None], bool]:
    """Expand ``1 2+3x2 _ stale -1x3``; returns the values (None for ``_``) and whether native
    histograms (``{{...}}``) appear."""
    if "{{" in text:
        return [], True
    values: list[float | None] = []
    for token in text.split():
        if token == "_":  # noqa: S105 - a blank, not a secret
            values.append(None)
            continue
        if token == "stale":  # noqa: S105
            values.append(STALE_NAN)
            continue
        match = _EXPAND.match(token)
        if match and match.group(1) not in ("", "-"):
            start_text, sign, step_text, times = match.groups()
            count = int(times)
            if start_text == "_":
                values.extend([None] * count)
                continue
            if start_text == "stale":
                values.extend([STALE_NAN] * count)
                continue
            start = _number(start_text)
            step = _number(step_text) if step_text else 0.0
            if sign == "-":
                step = -step
            values.extend(start + step * i for i in range(count + 1))
            continue
        values.append(_number(token))
    return values, False


def parse_script(text: str, name: str = "<script>") -> list[Case]:
    """Every ``eval`` of a script, each carrying the data loaded before it."""
    lines = text.splitlines()
    data: list[LoadedSeries] = []
    snapshot: tuple[LoadedSeries, ...] = ()
    cases: list[Case] = []
    index = 0

    def block(start: int) -> tuple[list[tuple[int, str]], int]:
        body: list[tuple[int, str]] = []
        position = start
        while position < len(lines):
            raw = lines[position]
            stripped = raw.strip()
            if not stripped:
                break
            if stripped.startswith("#"):
                position += 1
                continue
            if not raw[0].isspace() and re.match(r"^(load|clear|eval)", stripped):
                break
            body.append((position + 1, stripped))
            position += 1
        return body, position

    while index < len(lines):
        stripped = lines[index].strip()
        line_number = index + 1
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        try:
            if stripped == "clear":
                data = []
                snapshot = ()
                index += 1
            elif stripped.startswith("load"):
                parts = stripped.split()
                interval = parse_duration(parts[1])
                with_nhcb = parts[0] == "load_with_nhcb"
                body, index = block(index + 1)
                for number, entry in body:
                    data.extend(_load_entry(entry, interval, with_nhcb, name, number))
            elif stripped.startswith("eval"):
                body, index = block(index + 1)
                if len(snapshot) != len(data):
                    snapshot = tuple(data)  # shared by the evals until the next load
                cases.append(_eval_case(stripped, body, snapshot, name, line_number))
            else:
                raise ScriptError(f"{name}:{line_number}: unknown command {stripped!r}")
        except ScriptError:
            raise
        except (ValueError, PromQLParseError) as error:
            raise ScriptError(f"{name}:{line_number}: {error}") from error
    return cases


def _load_entry(
    entry: str, interval: int, with_nhcb: bool, name: str, number: int
) -> list[LoadedSeries]:
    description, values_text = _split_series(entry)
    try:
        labels = _parse_labels(description)
        values, native = expand_values(values_text)
    except (ValueError, PromQLParseError) as error:
        raise ScriptError(f"{name}:{number}: {error}") from error
    if native:
        return [LoadedSeries(labels, [], native=True)]
    points = [(i * interval, v) for i, v in enumerate(values) if v is not None]
    loaded = [LoadedSeries(labels, points)]
    metric = labels.get("__name__", "")
    if with_nhcb:
        for suffix in ("_bucket", "_count", "_sum"):
            if metric.endswith(suffix):
                base = {k: v for k, v in labels.items() if k != "le"}
                base["__name__"] = metric[: -len(suffix)]
                loaded.append(LoadedSeries(base, [], native=True))
                break
    return loaded


def _eval_case(
    header: str,
    body: list[tuple[int, str]],
    data: tuple[LoadedSeries, ...],
    name: str,
    line: int,
) -> Case:
    instant = _INSTANT.match(header)
    ranged = _RANGE.match(header)
    if instant:
        variant, at, query = instant.groups()
        time_ms = parse_duration(at)
        case = Case(name, line, query.strip(), time_ms, time_ms, 0, True, data)
    elif ranged:
        variant, start, end, step, query = ranged.groups()
        case = Case(
            name,
            line,
            query.strip(),
            parse_duration(start),
            parse_duration(end),
            parse_duration(step),
            False,
            data,
        )
    else:
        raise ScriptError(f"{name}:{line}: invalid eval command {header!r}")
    if variant == "_fail":
        case.expect_fail = True
    elif variant == "_ordered":
        case.ordered = True
    elif variant == "_warn":
        case.annotations.append(("warn", None, None))
    elif variant == "_info":
        case.annotations.append(("info", None, None))
    for _, entry in body:
        if entry.startswith("expected_fail_message"):
            case.expect_fail = True
            case.fail_message = entry.split(" ", 1)[1].strip() if " " in entry else ""
            continue
        if entry.startswith("expected_fail_regexp"):
            case.expect_fail = True
            case.fail_regex = entry.split(" ", 1)[1].strip() if " " in entry else ""
            continue
        if entry.startswith("expect "):
            _expectation(case, entry)
            continue
        _expected_entry(case, entry)
    return case


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"`'":
        inner = text[1:-1]
        if text[0] == '"':
            return bytes(inner, "utf-8").decode("unicode_escape")
        return inner
    return text


def _expectation(case: Case, entry: str) -> None:
    if entry.startswith("expect string"):
        case.expect_string = _unquote(entry[len("expect string") :])
        return
    if entry.startswith("expect range vector"):
        match = re.match(r"expect range vector from (\S+) to (\S+) step (\S+)", entry)
        if not match:
            raise ValueError(f"invalid expectation {entry!r}")
        case.expect_range = (
            parse_duration(match.group(1)),
            parse_duration(match.group(2)),
            parse_duration(match.group(3)),
        )
        return
    match = _EXPECT.match(entry)
    if not match:
        raise ValueError(f"invalid expectation {entry!r}")
    kind, match_type, text = match.groups()
    if kind == "fail":
        case.expect_fail = True
        if match_type == "msg":
            case.fail_message = _unquote(text or "")
        elif match_type == "regex":
            case.fail_regex = _unquote(text or "")
    elif kind == "ordered":
        case.ordered = True
    elif kind in ("warn", "info", "no_warn", "no_info"):
        case.annotations.append((kind, match_type, text))
    else:
        raise ValueError(f"unknown expectation {kind!r}")


def _expected_entry(case: Case, entry: str) -> None:
    if re.fullmatch(r"[-+]?(\d|\.\d|Inf|NaN|inf|nan)\S*", entry) and "{" not in entry:
        values, native = expand_values(entry)
        case.expected.append(Expected(None, list(values), native))
        return
    description, values_text = _split_series(entry)
    labels = _parse_labels(description)
    values, native = expand_values(values_text)
    case.expected.append(Expected(labels, list(values), native))


# -- running ---------------------------------------------------------------------------------


def skip_reason(case: Case) -> str | None:
    """Why ``case`` is out of scope (native histograms, experimental features), or None."""
    if any(expected.native for expected in case.expected):
        return "native histograms in the expected result"
    try:
        tree = parse_unchecked(case.query)
    except PromQLParseError:
        return None
    functions, aggregations = used_names(tree)
    for function in sorted(functions):
        if function in EXPERIMENTAL_FUNCTIONS:
            return f"experimental function {function}()"
        if function in NATIVE_HISTOGRAM_FUNCTIONS:
            return f"native histogram function {function}()"
    for aggregation in sorted(aggregations):
        if aggregation in EXPERIMENTAL_AGGREGATIONS:
            return f"experimental aggregation {aggregation}"
    native = [series.labels for series in case.data if series.native]
    if native:
        selectors: list[Any] = []

        def visit(node: Any) -> bool:
            if isinstance(node, promql_parser.VectorSelector):
                selectors.append(node)
            return True

        promql_parser.walk(tree, visit)
        for selector in selectors:
            for matchers in matchers_of(selector):
                if any(matching(labels, matchers) for labels in native):
                    return "selects native histogram series"
    return None


_LAST_STORAGE: list[tuple[tuple[LoadedSeries, ...], MemoryStorage]] = []


def _storage(case: Case) -> MemoryStorage:
    """The store holding the case's data; consecutive cases of one load share it (read-only)."""
    if _LAST_STORAGE and _LAST_STORAGE[0][0] is case.data:
        return _LAST_STORAGE[0][1]
    storage = _build_storage(case)
    _LAST_STORAGE[:] = [(case.data, storage)]
    return storage


def _build_storage(case: Case) -> MemoryStorage:
    storage = MemoryStorage()
    appender = storage.appender()
    points: dict[tuple[tuple[tuple[str, str], ...], int], tuple[dict[str, str], float]] = {}
    for series in case.data:
        for timestamp, value in series.points:
            # a later load of the same sample wins, as in Prometheus's test storage
            points[(label_key(series.labels), timestamp)] = (series.labels, value)
    for (_, timestamp), (labels, value) in points.items():
        appender.append(labels, timestamp, value)
    appender.commit()
    return storage


def run_case(case: Case) -> CaseResult:
    """Run one case against a fresh in-memory store."""
    reason = skip_reason(case)
    if reason:
        return CaseResult(case, "skipped", reason)
    engine = Engine(_storage(case))
    try:
        evaluation = engine.evaluate(
            case.query, case.start_ms, case.end_ms, case.step_ms, instant=case.instant
        )
    except (QueryError, PromQLParseError) as error:
        return _failure(case, error)
    except Exception as error:  # an engine bug is reported as a failed case
        return CaseResult(case, "failed", f"internal error: {error!r}")
    return _success(case, evaluation)


def _failure(case: Case, error: Exception) -> CaseResult:
    """The query failed: right when the case expects it (and the message matches)."""
    if not case.expect_fail:
        return CaseResult(case, "failed", f"unexpected error: {error}")
    message = str(error)
    if case.fail_message is not None and message != case.fail_message:
        return CaseResult(case, "failed", f"expected error {case.fail_message!r}, got {message!r}")
    if case.fail_regex is not None and not re.search(case.fail_regex, message):
        return CaseResult(
            case, "failed", f"expected error matching {case.fail_regex!r}, got {message!r}"
        )
    return CaseResult(case, "passed")


def _success(case: Case, evaluation: Any) -> CaseResult:
    """The query succeeded: compare annotations, then the result."""
    if case.expect_fail:
        return CaseResult(case, "failed", "expected an error, the query succeeded")
    problem = _check_annotations(case, evaluation.warnings, evaluation.infos)
    if problem is None:
        problem = _compare(case, evaluation.result)
    if problem:
        return CaseResult(case, "failed", problem)
    return CaseResult(case, "passed")


def _check_annotations(case: Case, warnings: list[str], infos: list[str]) -> str | None:
    found = {"warn": warnings, "info": infos}
    for kind in ("warn", "info"):
        expectations = [a for a in case.annotations if a[0] == kind]
        if any(a[0] == f"no_{kind}" for a in case.annotations) and found[kind]:
            return f"expected no {kind} annotation, got {found[kind]}"
        if not expectations:
            continue
        if not found[kind]:
            return f"expected a {kind} annotation, got none"
        matched: set[int] = set()
        for _, match_type, text in expectations:
            hits = [
                i
                for i, note in enumerate(found[kind])
                if match_type is None
                or (match_type == "msg" and note == (text or "").strip())
                or (match_type == "regex" and re.search((text or "").strip(), note))
            ]
            if not hits:
                return f"expected {kind} annotation {text!r}, got {found[kind]}"
            matched.update(hits)
        if any(a[1] is not None for a in expectations) and len(matched) < len(found[kind]):
            return f"unexpected {kind} annotations: {found[kind]}"
    return None


def _same(expected: float, got: float) -> bool:
    if math.isnan(expected) or math.isnan(got):
        return math.isnan(expected) and math.isnan(got)
    return almost_equal(expected, got, EPSILON)


def _compare(case: Case, result: Any) -> str | None:
    if case.expect_string is not None:
        if not isinstance(result, String):
            return f"expected string {case.expect_string!r}, got {type(result).__name__}"
        if result.value != case.expect_string:
            return f"expected string {case.expect_string!r}, got {result.value!r}"
        return None
    if isinstance(result, Scalar):
        scalars = [e for e in case.expected if e.labels is None]
        if len(case.expected) != 1 or not scalars:
            return f"expected {_describe_expected(case)}, got scalar {result.value}"
        value = scalars[0].values[0] if scalars[0].values else None
        if value is None or not _same(value, result.value):
            return f"expected scalar {value}, got {result.value}"
        return None
    if isinstance(result, String):
        return f"unexpected string result {result.value!r}"
    if isinstance(result, InstantVector):
        return _compare_vector(case, result)
    assert isinstance(result, Matrix)
    return _compare_matrix(case, result)


def _describe_expected(case: Case) -> str:
    if not case.expected:
        return "no result"
    return "; ".join(
        f"{format_labels(e.labels) if e.labels is not None else 'scalar'} {e.values}"
        for e in case.expected
    )


def _compare_vector(case: Case, result: InstantVector) -> str | None:
    got = {label_key(sample.labels): sample for sample in result.samples}
    expected = {}
    for item in case.expected:
        if item.labels is None:
            return f"expected scalar {item.values}, got vector {_describe_vector(result)}"
        expected[label_key(item.labels)] = item
    if set(got) != set(expected):
        return f"expected {_describe_expected(case)}, got {_describe_vector(result)}"
    for key, item in expected.items():
        value = item.values[0] if item.values else None
        if value is None or not _same(value, got[key].value):
            return f"series {format_labels(dict(key))}: expected {value}, got {got[key].value}"
    if case.ordered:
        order_got = [label_key(sample.labels) for sample in result.samples]
        order_expected = [label_key(item.labels or {}) for item in case.expected]
        if order_got != order_expected:
            return f"expected order {order_expected}, got {order_got}"
    return None


def _describe_vector(result: InstantVector) -> str:
    if not result.samples:
        return "no result"
    return "; ".join(f"{format_labels(s.labels)} {s.value}" for s in result.samples)


def _compare_matrix(case: Case, result: Matrix) -> str | None:
    got = {label_key(series.labels): series for series in result.series}
    if case.instant:
        if case.expect_range is not None:
            start, _, step = case.expect_range
        else:
            start, step = None, None
    else:
        start, step = case.start_ms, case.step_ms
    expected: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    for item in case.expected:
        labels = item.labels if item.labels is not None else {}
        points: list[tuple[int, float]] = []
        for index, value in enumerate(item.values):
            if value is None:
                continue
            timestamp = (start or 0) + index * (step or 0)
            points.append((timestamp, value))
        expected[label_key(labels)] = points
    if set(got) != set(expected):
        return f"expected {_describe_expected(case)}, got {_describe_matrix(result)}"
    for key, points in expected.items():
        series = got[key]
        actual = list(zip(series.timestamps.tolist(), series.values.tolist(), strict=True))
        if len(actual) != len(points):
            return f"series {format_labels(dict(key))}: expected {points}, got {actual}"
        for (t_exp, v_exp), (t_got, v_got) in zip(points, actual, strict=True):
            time_ok = start is None or t_exp == t_got
            if not time_ok or not _same(v_exp, v_got):
                return f"series {format_labels(dict(key))}: expected {points}, got {actual}"
    return None


def _describe_matrix(result: Matrix) -> str:
    if not result.series:
        return "no result"
    return "; ".join(
        f"{format_labels(s.labels)} "
        f"{list(zip(s.timestamps.tolist(), np.round(s.values, 6).tolist(), strict=True))}"
        for s in result.series
    )


def run_file(path: str | Path) -> FileReport:
    """Run every case of a test-script file."""
    text = Path(path).read_text(encoding="utf-8")
    cases = parse_script(text, str(path))
    return FileReport(str(path), [run_case(case) for case in cases])
