"""Prometheus rule files, loaded unchanged and validated as Prometheus validates them.

A rule file is a list of ``groups``; each group has a ``name`` and optional ``interval``,
``query_offset``, ``limit`` and ``labels``, and its ``rules`` are recording rules (``record``,
``expr``, ``labels``) or alerting rules (``alert``, ``expr``, ``for``, ``keep_firing_for``,
``labels``, ``annotations``). The checks are Prometheus's ``rulefmt``: unknown fields rejected,
metric and label names valid, group names unique in a file, expressions and templates parse.
Errors are :class:`~vigie.exceptions.RuleFileError` naming the file, the line (from the YAML node)
and the rule, worded like Prometheus's::

    rules.yml:7: group "api", rule 1, "x": could not parse expression: 1:7: parse error: ...

Example::

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "rules.yml"
    >>> _ = path.write_text("groups:\\n- name: g\\n  rules:\\n  - record: x\\n    expr: up\\n")
    >>> [rule.name for rule in load_rule_file(path).groups[0].rules]
    ['x']
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vigie.exceptions import PromQLParseError, QueryError, RuleFileError
from vigie.query import parse
from vigie.rules.template_functions import parse_go_duration
from vigie.rules.templating import Template, TemplateError

__all__ = [
    "AlertingRuleSpec",
    "RecordingRuleSpec",
    "RuleFile",
    "RuleGroupSpec",
    "RuleSpec",
    "check_rule_file",
    "duplicate_rules",
    "load_rule_file",
    "load_rule_files",
    "parse_duration",
    "parse_expression",
    "parse_rule_text",
]

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_GROUP_FIELDS = ("name", "interval", "query_offset", "limit", "rules", "labels")
_RULE_FIELDS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")


@dataclass(frozen=True)
class RecordingRuleSpec:
    """``record: NAME`` — the result of ``expr`` stored under a new metric name."""

    record: str
    expr: str
    labels: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def name(self) -> str:
        return self.record


@dataclass(frozen=True)
class AlertingRuleSpec:
    """``alert: NAME`` — fires while ``expr`` returns series, after ``for`` of pending."""

    alert: str
    expr: str
    for_ms: int = 0
    keep_firing_for_ms: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    line: int = 0

    @property
    def name(self) -> str:
        return self.alert


RuleSpec = RecordingRuleSpec | AlertingRuleSpec


@dataclass(frozen=True)
class RuleGroupSpec:
    """A group: its rules run in order at every ``interval`` (``None``: the global default)."""

    name: str
    rules: tuple[RuleSpec, ...]
    interval_ms: int | None = None
    query_offset_ms: int | None = None
    limit: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    path: str = ""
    line: int = 0


@dataclass(frozen=True)
class RuleFile:
    """A validated rule file."""

    path: str
    groups: tuple[RuleGroupSpec, ...]

    @property
    def rule_count(self) -> int:
        return sum(len(group.rules) for group in self.groups)


def parse_duration(text: str) -> int:
    """A Prometheus duration (``5m``, ``1h30m``, ``0``) in milliseconds; ValueError if invalid."""
    return parse_go_duration(text)


def parse_expression(expr: str) -> Any:
    """Parse PromQL with vigie's parser; raises PromQLParseError or UnsupportedQueryError."""
    return parse(expr)


class _Collector:
    """Collects every problem of a file, the way ``promtool check rules`` lists them all."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[RuleFileError] = []

    def add(self, message: str, node: yaml.Node | None, rule: str | None = None) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        error = RuleFileError(message, path=self.path, line=line)
        error.rule = rule
        self.errors.append(error)


def _mapping(node: yaml.Node) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    return [(key, value) for key, value in node.value] if isinstance(node, yaml.MappingNode) else []


def _scalar(node: yaml.Node | None) -> str:
    if isinstance(node, yaml.ScalarNode):
        return "" if node.tag.endswith(":null") else str(node.value)
    return ""


def _type_name(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    return "a list" if isinstance(node, yaml.SequenceNode) else "a value"


def _fields(
    node: yaml.Node, allowed: Sequence[str], type_name: str, errors: _Collector
) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        errors.add(f"cannot unmarshal {_type_name(node)} into Go value of type {type_name}", node)
        return {}
    found: dict[str, yaml.Node] = {}
    for key, value in _mapping(node):
        name = _scalar(key)
        if name not in allowed:
            errors.add(f"field {name} not found in type {type_name}", key)
        elif name in found:
            errors.add(f'mapping key "{name}" already defined', key)
        else:
            found[name] = value
    return found


def _string_map(node: yaml.Node | None, what: str, errors: _Collector) -> dict[str, str]:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return {}
    if not isinstance(node, yaml.MappingNode):
        errors.add(f"{what} must be a mapping of names to strings", node)
        return {}
    result: dict[str, str] = {}
    for key, value in _mapping(node):
        if not isinstance(value, yaml.ScalarNode):
            errors.add(f"{what} {_scalar(key)!r} must be a string", value)
            continue
        result[_scalar(key)] = _scalar(value)
    return result


def _duration(node: yaml.Node | None, errors: _Collector, rule: str | None = None) -> int | None:
    if node is None:
        return None
    try:
        return parse_duration(_scalar(node))
    except ValueError:
        errors.add(f"not a valid duration string: {_scalar(node)!r}", node, rule)
        return None


def parse_rule_text(text: str, path: str = "<string>") -> tuple[RuleFile, list[RuleFileError]]:
    """Parse rule-file text: the rules that are valid and every error found."""
    errors = _Collector(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or str(error)
        failure = RuleFileError(f"yaml: {problem}", path=path, line=line)
        return RuleFile(path, ()), [failure]
    except yaml.YAMLError as error:  # e.g. a control character, found before any mark exists
        return RuleFile(path, ()), [RuleFileError(f"yaml: {error}", path=path)]
    if root is None:
        return RuleFile(path, ()), []
    top = _fields(root, ("groups",), "rulefmt.RuleGroups", errors)
    groups: list[RuleGroupSpec] = []
    seen: set[str] = set()
    groups_node = top.get("groups")
    group_nodes = groups_node.value if isinstance(groups_node, yaml.SequenceNode) else []
    if groups_node is not None and not isinstance(groups_node, yaml.SequenceNode | yaml.ScalarNode):
        errors.add("groups must be a list", groups_node)
    for group_node in group_nodes:
        group = _group(group_node, errors, seen, path)
        if group is not None:
            groups.append(group)
    return RuleFile(path, tuple(groups)), errors.errors


def _group(node: yaml.Node, errors: _Collector, seen: set[str], path: str) -> RuleGroupSpec | None:
    fields = _fields(node, _GROUP_FIELDS, "rulefmt.RuleGroup", errors)
    if not fields and not isinstance(node, yaml.MappingNode):
        return None
    name_node = fields.get("name", node)
    name = _scalar(fields.get("name"))
    if not name:
        errors.add("Groupname must not be empty", name_node)
    elif name in seen:
        errors.add(f'groupname: "{name}" is repeated in the same file', name_node)
    seen.add(name)
    labels = _string_map(fields.get("labels"), "label", errors)
    _check_labels(labels, fields.get("labels"), errors, None)
    limit = 0
    if "limit" in fields:
        text = _scalar(fields["limit"])
        if not re.fullmatch(r"\d+", text):
            errors.add(f"cannot unmarshal {text!r} into Go value of type int", fields["limit"])
        else:
            limit = int(text)
    interval = _duration(fields.get("interval"), errors)
    query_offset = _duration(fields.get("query_offset"), errors)
    rules: list[RuleSpec] = []
    rules_node = fields.get("rules")
    rule_nodes = rules_node.value if isinstance(rules_node, yaml.SequenceNode) else []
    for index, rule_node in enumerate(rule_nodes, start=1):
        rule = _rule(rule_node, index, name, errors)
        if rule is not None:
            rules.append(rule)
    return RuleGroupSpec(
        name=name,
        rules=tuple(rules),
        interval_ms=interval,
        query_offset_ms=query_offset,
        limit=limit,
        labels=labels,
        path=path,
        line=node.start_mark.line + 1,
    )


def _rule(node: yaml.Node, index: int, group: str, errors: _Collector) -> RuleSpec | None:
    fields = _fields(node, _RULE_FIELDS, "rulefmt.RuleNode", errors)
    record, alert = _scalar(fields.get("record")), _scalar(fields.get("alert"))
    rule_name = alert or record
    before = len(errors.errors)

    def add(message: str, at: yaml.Node | None) -> None:
        errors.add(f'group "{group}", rule {index}, "{rule_name}": {message}', at, rule_name)

    if record and alert:
        add("only one of 'record' and 'alert' must be set", fields["record"])
    if not record and not alert:
        add("one of 'record' or 'alert' must be set", fields.get("record", node))
    expr_node = fields.get("expr")
    expr = _scalar(expr_node)
    if not expr:
        add("field 'expr' must be set in rule", expr_node or node)
    else:
        try:
            parse_expression(expr)
        except (PromQLParseError, QueryError) as error:
            add(f"could not parse expression: {error}", expr_node)
    for_ms = _duration(fields.get("for"), errors, rule_name) or 0
    keep_ms = _duration(fields.get("keep_firing_for"), errors, rule_name) or 0
    labels = _string_map(fields.get("labels"), "label", errors)
    annotations = _string_map(fields.get("annotations"), "annotation", errors)
    if record:
        if annotations:
            add("invalid field 'annotations' in recording rule", fields["record"])
        if for_ms:
            add("invalid field 'for' in recording rule", fields["record"])
        if keep_ms:
            add("invalid field 'keep_firing_for' in recording rule", fields["record"])
        if not _METRIC_NAME.match(record):
            add(f"invalid recording rule name: {record}", fields["record"])
    label_nodes = _value_nodes(fields.get("labels"))
    annotation_nodes = _value_nodes(fields.get("annotations"))
    for name in labels:
        if not _LABEL_NAME.match(name) or name == "__name__":
            add(f"invalid label name: {name}", label_nodes.get(name))
    for name in annotations:
        if not _LABEL_NAME.match(name):
            add(f"invalid annotation name: {name}", annotation_nodes.get(name))
    if alert:
        for kind, values, nodes in (
            ("label", labels, label_nodes),
            ("annotation", annotations, annotation_nodes),
        ):
            for key, text in values.items():
                try:
                    Template(text, f"__alert_{alert}")
                except TemplateError as error:
                    add(f'{kind} "{key}": {error}', nodes.get(key))
    if len(errors.errors) > before:
        return None
    line = node.start_mark.line + 1
    if alert:
        return AlertingRuleSpec(alert, expr, for_ms, keep_ms, labels, annotations, line)
    return RecordingRuleSpec(record, expr, labels, line)


def _value_nodes(node: yaml.Node | None) -> dict[str, yaml.Node]:
    """Each key's node in a mapping, to point errors at the exact line."""
    return {_scalar(key): key for key, _ in _mapping(node)} if node is not None else {}


def _label_problems(labels: Mapping[str, str]) -> Iterable[str]:
    for name in labels:
        if not _LABEL_NAME.match(name) or name == "__name__":
            yield f"invalid label name: {name}"


def _check_labels(
    labels: Mapping[str, str], node: yaml.Node | None, errors: _Collector, rule: str | None
) -> None:
    for message in _label_problems(labels):
        errors.add(message, node, rule)


def duplicate_rules(rule_file: RuleFile) -> list[tuple[str, dict[str, str]]]:
    """Rules of a file with the same name and labels (``promtool``'s duplicate-rules lint).

    Two recording rules writing the same series overwrite each other's samples; each duplicated
    name and label set is listed once, sorted.
    """
    found = sorted(
        (rule.name, tuple(sorted(rule.labels.items())))
        for group in rule_file.groups
        for rule in group.rules
    )
    duplicates: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for previous, current in itertools.pairwise(found):
        if previous == current and (not duplicates or duplicates[-1] != current):
            duplicates.append(current)
    return [(name, dict(labels)) for name, labels in duplicates]


def check_rule_file(path: str | Path) -> tuple[RuleFile, list[RuleFileError]]:
    """Read and validate ``path``: the parsed file and every error (empty when valid)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return RuleFile(name, ()), [RuleFileError(f"cannot read file: {error}", path=name)]
    return parse_rule_text(text, name)


def load_rule_file(path: str | Path) -> RuleFile:
    """Read and validate ``path``; raises the first :class:`RuleFileError` found."""
    rule_file, errors = check_rule_file(path)
    if errors:
        raise errors[0]
    return rule_file


def load_rule_files(paths: Iterable[str | Path]) -> list[RuleFile]:
    """Load several files; group names must be unique per file (as Prometheus)."""
    return [load_rule_file(path) for path in paths]
