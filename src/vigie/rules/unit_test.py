"""``promtool test rules``: rule unit tests in promtool's file format, with promtool's verdicts.

A test file names rule files and lists test groups; each group loads ``input_series`` (expanding
notation, :mod:`.series_notation`) into a fresh in-memory store, evaluates every rule group from
time 0 (or ``start_timestamp``) to the last ``eval_time`` every ``evaluation_interval``, and
checks ``alert_rule_test`` (the firing alerts of an alert name at an ``eval_time``) and
``promql_expr_test`` (an expression's samples at an ``eval_time``). Output and exit codes follow
promtool: ``Unit Testing:  FILE`` then ``SUCCESS`` or ``FAILED:`` with each difference, exit 0
when every file passes and 1 otherwise.

Cases over native histograms are out of scope: they are counted as skipped, with the reason.

Example::

    $ vigie rules test tests.yml
    Unit Testing:  tests.yml
      SUCCESS
"""

from __future__ import annotations

import glob
import math
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from vigie.exceptions import QueryError, VigieError
from vigie.query import Engine
from vigie.query.result import InstantVector, Sample, Scalar
from vigie.rules.alerting import AlertingRule, AlertState, QueryFunction
from vigie.rules.group import RuleGroup
from vigie.rules.rule_file import check_rule_file, parse_duration
from vigie.rules.series_notation import UnsupportedNotation, parse_metric, parse_series_values
from vigie.rules.template_functions import go_quote
from vigie.store.interface import label_pairs
from vigie.store.memory import MemoryStorage

__all__ = [
    "RuleTestResult",
    "format_go_duration",
    "format_model_duration",
    "run_test_file",
    "run_test_files",
    "vector_query",
]

_FILE_FIELDS = ("rule_files", "evaluation_interval", "fuzzy_compare", "group_eval_order", "tests")
_GROUP_FIELDS = (
    "interval", "input_series", "name", "start_timestamp", "alert_rule_test",
    "promql_expr_test", "external_labels", "external_url",
)  # fmt: skip
_SERIES_FIELDS = ("series", "values")
_ALERT_TEST_FIELDS = ("eval_time", "alertname", "exp_alerts")
_ALERT_FIELDS = ("exp_labels", "exp_annotations")
_EXPR_TEST_FIELDS = ("expr", "eval_time", "exp_samples")
_SAMPLE_FIELDS = ("labels", "value", "histogram")
_GO_TYPES = {
    "file": "main.unitTestFile", "group": "main.testGroup", "series": "main.series",
    "alert_test": "main.alertTestCase", "alert": "main.alert", "expr_test": "main.promqlTestCase",
    "sample": "main.sample",
}  # fmt: skip
_SKIP_HISTOGRAMS = "native histograms are not supported"


@dataclass
class RuleTestResult:
    """The verdict on one test file: the failures (promtool's text) and the skipped cases."""

    path: str
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors


def vector_query(instant: Callable[[str, int], Any]) -> QueryFunction:
    """Adapt an engine's instant query to a rule query function (Prometheus's EngineQueryFunc).

    A scalar becomes one sample without labels; any other non-vector result is an error.
    """

    def query(expr: str, ts_ms: int) -> InstantVector:
        result = instant(expr, ts_ms)
        if isinstance(result, InstantVector):
            return result
        if isinstance(result, Scalar):
            return InstantVector([Sample({}, ts_ms, result.value)])
        raise QueryError("rule result is not a vector or scalar")

    return query


def _engine_query(storage: MemoryStorage) -> Callable[[str, int], Any]:
    return Engine(storage).instant


# ---------------------------------------------------------------------------- durations


def format_model_duration(ms: int) -> str:
    """Prometheus's ``model.Duration.String()``: ``1d``, ``2m59s999ms``, ``0s``."""
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in (
        ("y", 365 * 86_400_000, True),
        ("w", 7 * 86_400_000, True),
        ("d", 86_400_000, False),
        ("h", 3_600_000, False),
        ("m", 60_000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    ):
        if exact and ms % size:
            continue
        if ms // size > 0:
            out += f"{ms // size}{unit}"
            ms -= (ms // size) * size
    return out


def format_go_duration(ms: int) -> str:
    """Go's ``time.Duration.String()``: ``0s``, ``1m0s``, ``2m59.999s``, ``1h0m0s``."""
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest // 1000}" + (f".{rest % 1000:03d}".rstrip("0") if rest % 1000 else "")
    if hours:
        return f"{sign}{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{sign}{minutes}m{seconds}s"
    return f"{sign}{seconds}s"


def _labels_string(labels: dict[str, str]) -> str:
    """Prometheus's ``Labels.String()``: ``{a="1", b="2"}``."""
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in sorted(labels.items())) + "}"


def _float_e(value: float) -> str:
    """``strconv.FormatFloat(v, 'E', -1, 64)``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    for precision in range(17):
        text = f"{value:.{precision}E}"
        if float(text) == value:
            break
    else:
        text = f"{value:.17E}"
    mantissa, exponent = text.split("E")
    return f"{mantissa}E{exponent[0]}{int(exponent[1:]):02d}"


def _indent(text: str, indent: str) -> str:
    return ("\n" + indent).join(text.split("\n"))


def _alerts_string(alerts: Sequence[tuple[dict[str, str], dict[str, str]]]) -> str:
    if not alerts:
        return "[]"
    parts = []
    for index, (labels, notes) in enumerate(alerts):
        body = f"\nLabels:{_labels_string(labels)}\nAnnotations:{_labels_string(notes)}"
        parts.append(f"{index}:" + _indent(body, "  "))
    return "[\n" + ",\n".join(parts) + "\n]"


# ---------------------------------------------------------------------------- strict YAML


class _FormatError(Exception):
    pass


def _strict(node: Any, allowed: Sequence[str], kind: str, problems: list[str]) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        problems.append(
            f"line {node.start_mark.line + 1}: cannot unmarshal into Go value of type "
            f"{_GO_TYPES[kind]}"
        )
        return {}
    found: dict[str, Any] = {}
    for key, value in node.value:
        if key.value not in allowed:
            problems.append(
                f"line {key.start_mark.line + 1}: field {key.value} not found in type "
                f"{_GO_TYPES[kind]}"
            )
        else:
            found[key.value] = value
    return found


def _items(node: Any) -> list[Any]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _text(node: Any) -> str:
    if isinstance(node, yaml.ScalarNode) and not node.tag.endswith(":null"):
        return str(node.value)
    return ""


def _duration(node: Any, default: int = 0) -> int:
    text = _text(node)
    if not text:
        return default
    try:
        return parse_duration(text)
    except ValueError:
        raise _FormatError(f"not a valid duration string: {text!r}") from None


def _string_map(node: Any) -> dict[str, str]:
    if isinstance(node, yaml.MappingNode):
        return {_text(k): _text(v) for k, v in node.value}
    return {}


@dataclass
class _Sample:
    labels: str
    value: float
    histogram: bool


@dataclass
class _ExprTest:
    expr: str
    eval_ms: int
    samples: list[_Sample]


@dataclass
class _AlertTest:
    eval_ms: int
    alertname: str
    expected: list[tuple[dict[str, str], dict[str, str]]]


@dataclass
class _TestGroup:
    name: str
    interval_ms: int
    start_ms: int
    series: list[tuple[str, str]]
    alert_tests: list[_AlertTest]
    expr_tests: list[_ExprTest]
    external_labels: dict[str, str]
    external_url: str


def _start_timestamp(node: Any) -> int:
    text = _text(node)
    if not text:
        return 0
    if text.lstrip("-").isdigit():
        return int(text) * 1000
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise _FormatError(f"start_timestamp: cannot parse {text!r}") from None


def _parse_file(text: str) -> tuple[dict[str, Any], list[_TestGroup]]:
    problems: list[str] = []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise _FormatError(f"yaml: {line}{error.problem}") from None
    top = _strict(root, _FILE_FIELDS, "file", problems)
    evaluation_interval = _duration(top.get("evaluation_interval")) or 60_000
    settings: dict[str, Any] = {
        "rule_files": [_text(item) for item in _items(top.get("rule_files"))],
        "evaluation_interval": evaluation_interval,
        "group_eval_order": [_text(item) for item in _items(top.get("group_eval_order"))],
        "fuzzy_compare": _text(top.get("fuzzy_compare")).lower() == "true",
    }
    groups: list[_TestGroup] = []
    for group_node in _items(top.get("tests")):
        fields = _strict(group_node, _GROUP_FIELDS, "group", problems)
        series = []
        for series_node in _items(fields.get("input_series")):
            series_fields = _strict(series_node, _SERIES_FIELDS, "series", problems)
            series.append((_text(series_fields.get("series")), _text(series_fields.get("values"))))
        alert_tests = []
        for alert_node in _items(fields.get("alert_rule_test")):
            alert_fields = _strict(alert_node, _ALERT_TEST_FIELDS, "alert_test", problems)
            expected = []
            for expected_node in _items(alert_fields.get("exp_alerts")):
                one = _strict(expected_node, _ALERT_FIELDS, "alert", problems)
                labels = _string_map(one.get("exp_labels"))
                expected.append((labels, _string_map(one.get("exp_annotations"))))
            name = _text(alert_fields.get("alertname"))
            alert_tests.append(_AlertTest(_duration(alert_fields.get("eval_time")), name, expected))
        expr_tests = []
        for expr_node in _items(fields.get("promql_expr_test")):
            expr_fields = _strict(expr_node, _EXPR_TEST_FIELDS, "expr_test", problems)
            samples = []
            for sample_node in _items(expr_fields.get("exp_samples")):
                sample = _strict(sample_node, _SAMPLE_FIELDS, "sample", problems)
                value_text = _text(sample.get("value")) or "0"
                try:
                    value = float(value_text)
                except ValueError:
                    problems.append(
                        f"cannot unmarshal {value_text!r} into Go value of type float64"
                    )
                    value = 0.0
                samples.append(_Sample(_text(sample.get("labels")), value, "histogram" in sample))
            expr = _text(expr_fields.get("expr"))
            expr_tests.append(_ExprTest(expr, _duration(expr_fields.get("eval_time")), samples))
        groups.append(
            _TestGroup(
                name=_text(fields.get("name")),
                interval_ms=_duration(fields.get("interval")) or evaluation_interval,
                start_ms=_start_timestamp(fields.get("start_timestamp")),
                series=series,
                alert_tests=alert_tests,
                expr_tests=expr_tests,
                external_labels=_string_map(fields.get("external_labels")),
                external_url=_text(fields.get("external_url")),
            )
        )
    if problems:
        raise _FormatError("yaml: unmarshal errors:\n  " + "\n  ".join(problems))
    return settings, groups


# ---------------------------------------------------------------------------- running


def _resolve_rule_files(base: Path, patterns: Iterable[str], warnings: list[str]) -> list[str]:
    """Rule file patterns relative to the test file, globbed; no match is only a warning."""
    paths: list[str] = []
    for pattern in patterns:
        full = pattern if Path(pattern).is_absolute() else str(base / pattern)
        matches = sorted(glob.glob(full))
        if not matches:
            warnings.append(f"  WARNING: no file match pattern {full}")
        paths.extend(matches)
    return paths


def run_test_file(
    path: str | Path,
    *,
    instant_query: Callable[[MemoryStorage], Callable[[str, int], Any]] | None = None,
    run: Sequence[str] = (),
) -> RuleTestResult:
    """Run one promtool test file; ``instant_query`` builds the engine over each test's store.

    ``run``: regular expressions; when given, only test groups whose name matches one run
    (promtool's ``--run``).
    """
    selector = re.compile("|".join(run)) if run else None
    name = str(path)
    result = RuleTestResult(name)
    try:
        text = Path(path).read_text(encoding="utf-8")
        settings, groups = _parse_file(text)
    except (OSError, UnicodeDecodeError) as error:
        result.errors.append(str(error))
        return result
    except _FormatError as error:
        result.errors.append(str(error))
        return result
    order: dict[str, int] = {}
    for index, group_name in enumerate(settings["group_eval_order"]):
        if group_name in order:
            result.errors.append(f"group name repeated in evaluation order: {group_name}")
            return result
        order[group_name] = index
    rule_files = _resolve_rule_files(Path(name).parent, settings["rule_files"], result.warnings)
    for test_group in groups:
        if selector is not None and not selector.search(test_group.name):
            continue
        errors = _run_group(
            test_group, rule_files, settings, order, instant_query or _engine_query, result
        )
        result.errors.extend(errors)
    return result


def _run_group(
    group: _TestGroup,
    rule_files: list[str],
    settings: dict[str, Any],
    order: dict[str, int],
    instant_query: Callable[[MemoryStorage], Callable[[str, int], Any]],
    result: RuleTestResult,
) -> list[str]:
    storage = MemoryStorage()
    skipped_metrics: set[str] = set()
    appender = storage.appender()
    for description, values_text in group.series:
        try:
            labels = parse_metric(description)
            values = parse_series_values(values_text)
        except UnsupportedNotation as error:
            skipped_metrics.add(description.split("{")[0].strip())
            result.skipped.append(f"input series {description}: {error}")
            continue
        except ValueError as error:
            return [f"    series {description!r}: {error}"]
        for index, value in enumerate(values):
            if value is not None:
                appender.append(labels, group.start_ms + index * group.interval_ms, value)
    appender.commit()

    query = vector_query(instant_query(storage))
    loaded: list[RuleGroup] = []
    errors: list[str] = []
    for rule_file in rule_files:
        parsed, file_errors = check_rule_file(rule_file)
        errors.extend(str(error) for error in file_errors)
        loaded.extend(
            RuleGroup(
                spec,
                default_interval_ms=group.interval_ms,
                external_labels=group.external_labels,
                external_url=group.external_url,
            )
            for spec in parsed.groups
        )
    if errors:
        return errors
    # Groups not named in group_eval_order come first; names of no group are ignored (promtool).
    loaded.sort(key=lambda rule_group: order.get(rule_group.name, 0))

    evaluation_ms = settings["evaluation_interval"]
    max_eval = max(
        [test.eval_ms for test in group.alert_tests] + [test.eval_ms for test in group.expr_tests],
        default=0,
    )
    for test in group.alert_tests:
        if not test.alertname:
            return [
                "an item under alert_rule_test misses required attribute alertname at eval_time "
                + format_go_duration(test.eval_ms)
            ]
    alert_times = sorted({test.eval_ms for test in group.alert_tests})
    current = 0
    prefix = f"    name: {group.name},\n" if group.name else ""
    mint = group.start_ms
    ts = mint
    while ts <= mint + max_eval:
        eval_errors = []
        for rule_group in loaded:
            rule_group.evaluate(ts, query, storage)
            for rule in rule_group.rules:
                if rule.last_error:
                    eval_errors.append(
                        f"    rule: {rule.name}, time: {format_go_duration(ts)}, "
                        f"err: {rule.last_error}"
                    )
        errors.extend(eval_errors)
        if eval_errors:
            return errors
        while (
            current < len(alert_times)
            and ts - mint <= alert_times[current] < ts + evaluation_ms - mint
        ):
            moment = alert_times[current]
            for test in group.alert_tests:
                if test.eval_ms != moment:
                    continue
                got = [
                    (dict(alert.labels), dict(alert.annotations))
                    for rule_group in loaded
                    for rule in rule_group.rules
                    if isinstance(rule, AlertingRule) and rule.name == test.alertname
                    for alert in rule.active_alerts()
                    if alert.state == AlertState.FIRING
                ]
                expected = [
                    ({**labels, "alertname": test.alertname}, ann) for labels, ann in test.expected
                ]
                want, have = _sorted_alerts(expected), _sorted_alerts(got)
                if want != have:
                    errors.append(
                        f"{prefix}    alertname: {test.alertname}, "
                        f"time: {format_model_duration(test.eval_ms)}, \n"
                        f"        exp:{_indent(_alerts_string(want), ' ' * 12)}, \n"
                        f"        got:{_indent(_alerts_string(have), ' ' * 12)}"
                    )
            current += 1
        ts += evaluation_ms

    for expr_test in group.expr_tests:
        where = (
            f"    expr: {go_quote(expr_test.expr)}, "
            f"time: {format_model_duration(expr_test.eval_ms)}"
        )
        if any(sample.histogram for sample in expr_test.samples) or _uses(
            expr_test.expr, skipped_metrics
        ):
            result.skipped.append(f"{where.strip()}: {_SKIP_HISTOGRAMS}")
            continue
        try:
            vector = query(expr_test.expr, mint + expr_test.eval_ms)
        except VigieError as error:
            errors.append(f"{where}, err: {error}")
            continue
        try:
            expected_samples = [
                (parse_metric(sample.labels), sample.value) for sample in expr_test.samples
            ]
        except ValueError as error:
            errors.append(f"{where}, err: labels: {error}")
            continue
        got_samples = [(dict(sample.labels), sample.value) for sample in vector.samples]
        expected_samples.sort(key=lambda item: label_pairs(item[0]))
        got_samples.sort(key=lambda item: label_pairs(item[0]))
        if not _samples_equal(expected_samples, got_samples, settings["fuzzy_compare"]):
            errors.append(
                f"{where},\n        exp: {_samples_string(expected_samples)}\n"
                f"        got: {_samples_string(got_samples)}"
            )
    return errors


def _uses(expr: str, metrics: set[str]) -> bool:
    """Whether ``expr`` names one of ``metrics`` (as a whole identifier)."""
    return any(
        metric and re.search(rf"(?<![\w:]){re.escape(metric)}(?![\w:])", expr) for metric in metrics
    )


def _sorted_alerts(
    alerts: list[tuple[dict[str, str], dict[str, str]]],
) -> list[tuple[dict[str, str], dict[str, str]]]:
    return sorted(alerts, key=lambda item: (label_pairs(item[0]), label_pairs(item[1])))


def _samples_string(samples: list[tuple[dict[str, str], float]]) -> str:
    if not samples:
        return "nil"
    return ", ".join(f"{_labels_string(labels)} {_float_e(value)}" for labels, value in samples)


def _samples_equal(
    expected: list[tuple[dict[str, str], float]],
    got: list[tuple[dict[str, str], float]],
    fuzzy: bool,
) -> bool:
    if len(expected) != len(got):
        return False
    for (want_labels, want), (got_labels, value) in zip(expected, got, strict=True):
        if label_pairs(want_labels) != label_pairs(got_labels):
            return False
        if want == value:
            continue
        if fuzzy and value in (math.nextafter(want, math.inf), math.nextafter(want, -math.inf)):
            continue
        return False
    return True


def run_test_files(
    paths: Sequence[str | Path],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    instant_query: Callable[[MemoryStorage], Callable[[str, int], Any]] | None = None,
    run: Sequence[str] = (),
) -> int:
    """Run test files printing like promtool; exit code 0 when all pass, 1 otherwise."""
    stdout = out if out is not None else sys.stdout
    stderr = err if err is not None else sys.stderr
    failed = False
    for path in paths:
        print("Unit Testing: ", path, file=stdout)
        outcome = run_test_file(path, instant_query=instant_query, run=run)
        for warning in outcome.warnings:
            print(warning, file=stderr)
        if outcome.errors:
            print("  FAILED:", file=stderr)
            for error in outcome.errors:
                print(error, file=stderr)
                print(file=stdout)
            failed = True
        else:
            print("  SUCCESS", file=stdout)
        if outcome.skipped:
            print(f"  SKIPPED {len(outcome.skipped)}:", file=stdout)
            for reason in outcome.skipped:
                print(f"    {reason}", file=stdout)
        print(file=stdout)
    return 1 if failed else 0
