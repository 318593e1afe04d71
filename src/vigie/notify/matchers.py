"""Alertmanager's matcher syntax: ``severity="critical"``, ``team=~"ai|web"``, ``{a="b", c!=d}``.

Routes, inhibition rules and silences select alerts with matchers. vigie reads the same strings
Alertmanager and amtool read, including unquoted values and the legacy ``match``/``match_re`` maps,
and turns them into the store's :class:`~vigie.store.interface.Matcher`, whose regexes are anchored
on both ends exactly like Alertmanager's.

Example::

    >>> format_matchers(parse_matchers('{team=~"ai|web", severity=critical}'))
    '{severity="critical",team=~"ai|web"}'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence

from vigie.exceptions import RoutingConfigError
from vigie.store.interface import Matcher, MatchOp

__all__ = ["format_matcher", "format_matchers", "matches_all", "parse_matcher", "parse_matchers"]

_OP_ORDER = {"=": 0, "!=": 1, "=~": 2, "!~": 3}
_MATCHER = re.compile(
    r"^\s*(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?P<op>=~|=|!=|!~)\s*(?P<value>.*?)\s*$", re.S
)


def parse_matcher(text: str) -> Matcher:
    """One matcher such as ``alertname="Down"`` (quotes optional around the value)."""
    found = _MATCHER.match(text)
    if found is None:
        raise RoutingConfigError(f"bad matcher format: {text!r}")
    raw = found["value"]
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise RoutingConfigError(f"unterminated quoted value in matcher {text!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise RoutingConfigError(f"invalid escape in matcher {text!r}") from None
    else:
        value = raw
    op: MatchOp = found["op"]  # type: ignore[assignment]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as error:
            raise RoutingConfigError(f"invalid regular expression in {text!r}: {error}") from None
    return Matcher(found["name"], op, value)


def parse_matchers(text: str) -> list[Matcher]:
    """A comma-separated list of matchers, optionally wrapped in braces."""
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise RoutingConfigError(f"missing closing brace in {text!r}")
        body = body[1:-1]
    return [parse_matcher(part) for part in _split_outside_quotes(body) if part.strip()]


def _split_outside_quotes(text: str) -> Iterable[str]:
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            yield "".join(current)
            current = []
            continue
        current.append(char)
    yield "".join(current)


def matches_all(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every matcher (an absent label has the empty value)."""
    return all(matcher.matches(labels.get(matcher.name, "")) for matcher in matchers)


def format_matcher(matcher: Matcher) -> str:
    """``name<op>"value"`` with the value quoted as Alertmanager prints it."""
    return f"{matcher.name}{matcher.op}{json.dumps(matcher.value, ensure_ascii=False)}"


def format_matchers(matchers: Sequence[Matcher]) -> str:
    """``{a="b",c=~"d"}``, sorted as Alertmanager sorts a route's matchers."""
    ordered = sorted(matchers, key=lambda m: (m.name, m.value, _OP_ORDER[m.op]))
    return "{" + ",".join(format_matcher(matcher) for matcher in ordered) + "}"
