"""Prometheus relabeling (``relabel_configs``, ``metric_relabel_configs``), rule by rule.

The semantics are those of Prometheus's ``model/relabel``: ``source_labels`` values joined by
``separator`` are matched against the fully anchored ``regex``; ``replacement`` and
``target_label`` may use ``$1``, ``${1}``, ``$name``; an empty result deletes the target label;
``keep``/``drop`` discard the whole label set. Regexes use the RE2 syntax Prometheus uses, which
Python's ``re`` reads the same way for everything but a few rare constructs.

Example::

    >>> rule = RelabelRule(source_labels=("__address__",), regex=compile_regex("(.*):\\\\d+"),
    ...                    target_label="host", replacement="$1")
    >>> relabel({"__address__": "web-1:8000"}, [rule])
    {'__address__': 'web-1:8000', 'host': 'web-1'}
    >>> relabel({"job": "x"}, [RelabelRule(source_labels=("job",), action="drop")]) is None
    True
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["ACTIONS", "RelabelRule", "compile_regex", "expand", "relabel"]

ACTIONS = frozenset(
    {
        "replace", "keep", "drop", "keepequal", "dropequal", "hashmod", "labelmap",
        "labeldrop", "labelkeep", "lowercase", "uppercase",
    }
)  # fmt: skip
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TEMPLATE = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def compile_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` fully anchored, as Prometheus compiles relabel regexes."""
    return re.compile(f"^(?s:{pattern})$")


@dataclass(frozen=True)
class RelabelRule:
    """One relabel rule, with Prometheus's defaults."""

    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    target_label: str = ""
    regex: re.Pattern[str] = field(default_factory=lambda: compile_regex("(.*)"))
    modulus: int = 0
    replacement: str = "$1"
    action: str = "replace"


def expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; unknown -> ""."""

    def group(found: re.Match[str]) -> str:
        if found.group(0) == "$$":
            return "$"
        name = found.group(1) or found.group(2)
        try:
            value = match.group(int(name)) if name.isdigit() else match.group(name)
        except (IndexError, re.error):
            return ""
        return value or ""

    return _TEMPLATE.sub(group, template)


def relabel(labels: Mapping[str, str], rules: Sequence[RelabelRule]) -> dict[str, str] | None:
    """``labels`` after every rule; ``None`` when a ``keep``/``drop`` rule discards them."""
    result = dict(labels)
    for rule in rules:
        value = rule.separator.join(result.get(name, "") for name in rule.source_labels)
        action = rule.action
        if action == "replace":
            match = rule.regex.match(value)
            if match is None:
                continue
            target = expand(rule.target_label, match)
            if not _LABEL_NAME.match(target):
                continue
            replaced = expand(rule.replacement, match)
            if replaced:
                result[target] = replaced
            else:
                result.pop(target, None)
        elif action == "keep":
            if rule.regex.match(value) is None:
                return None
        elif action == "drop":
            if rule.regex.match(value) is not None:
                return None
        elif action == "keepequal":
            if result.get(rule.target_label, "") != value:
                return None
        elif action == "dropequal":
            if result.get(rule.target_label, "") == value:
                return None
        elif action == "hashmod":
            digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
            result[rule.target_label] = str(int.from_bytes(digest[8:], "big") % rule.modulus)
        elif action == "lowercase":
            result[rule.target_label] = value.lower()
        elif action == "uppercase":
            result[rule.target_label] = value.upper()
        elif action == "labelmap":
            for name, label_value in list(result.items()):
                match = rule.regex.match(name)
                if match is not None:
                    result[expand(rule.replacement, match)] = label_value
        elif action == "labeldrop":
            result = {k: v for k, v in result.items() if rule.regex.match(k) is None}
        elif action == "labelkeep":
            result = {k: v for k, v in result.items() if rule.regex.match(k) is not None}
    return {name: value for name, value in result.items() if value != ""}
