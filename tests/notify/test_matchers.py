"""Alertmanager matcher strings parse into anchored matchers."""

from __future__ import annotations

import pytest

from vigie.exceptions import RoutingConfigError
from vigie.notify.matchers import format_matchers, matches_all, parse_matcher, parse_matchers


def test_operators_and_quoting() -> None:
    """All four operators, quoted and unquoted values, escapes and commas inside quotes."""
    matchers = parse_matchers('{a="x,y", b!=z, c=~"f.*", d!~"q", e="quote\\"d"}')
    assert [(m.name, m.op, m.value) for m in matchers] == [
        ("a", "=", "x,y"),
        ("b", "!=", "z"),
        ("c", "=~", "f.*"),
        ("d", "!~", "q"),
        ("e", "=", 'quote"d'),
    ]


def test_regex_is_anchored() -> None:
    """A regex matches the whole value, as in Alertmanager."""
    matcher = parse_matcher('service=~"faq"')
    assert matcher.matches("faq")
    assert not matcher.matches("faq-bot")


def test_absent_label_is_empty() -> None:
    """A matcher on an absent label sees the empty string."""
    assert matches_all(parse_matchers('team!="ai"'), {"alertname": "X"})
    assert not matches_all(parse_matchers("team=ai"), {"alertname": "X"})


@pytest.mark.parametrize("text", ["nolabel", '1x="a"', 'a="unterminated', 'a=~"("'])
def test_bad_matchers(text: str) -> None:
    """Malformed matchers are refused with a RoutingConfigError."""
    with pytest.raises(RoutingConfigError):
        parse_matcher(text)


def test_format_sorts_like_alertmanager() -> None:
    """Matchers print sorted by name, then value."""
    assert format_matchers(parse_matchers("b=1,a=~2")) == '{a=~"2",b="1"}'
