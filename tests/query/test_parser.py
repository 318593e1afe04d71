"""PromQL parsing: errors read like Prometheus's, out-of-scope features are refused."""

from __future__ import annotations

import pytest

from vigie.exceptions import PromQLParseError, UnsupportedQueryError
from vigie.query import parse
from vigie.query.selectors import scoped_flags


def test_valid_expression_parses() -> None:
    """A valid expression returns the syntax tree."""
    assert type(parse("sum by (job) (rate(x_total[5m]))")).__name__ == "AggregateExpr"


def test_unbalanced_parenthesis_has_position() -> None:
    """An extra ')' is reported at its column, Prometheus style."""
    with pytest.raises(PromQLParseError) as caught:
        parse("sum(x))")
    assert str(caught.value) == "1:7: parse error: unexpected right parenthesis ')'"
    assert caught.value.position == 6
    assert caught.value.query == "sum(x))"


def test_unknown_function_points_at_it() -> None:
    """An unknown function is reported where its name starts."""
    with pytest.raises(PromQLParseError) as caught:
        parse("1 + nope(x)")
    assert str(caught.value).startswith("1:5: parse error: unknown function")


def test_empty_query_is_an_error() -> None:
    """An empty query fails like Prometheus's 'no expression found'."""
    with pytest.raises(PromQLParseError, match="no expression found in input"):
        parse("   ")


def test_type_error_is_a_parse_error() -> None:
    """rate() of an instant vector fails at parse time."""
    with pytest.raises(PromQLParseError, match="expected type matrix"):
        parse("rate(x)")


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("mad_over_time(x[5m])", "experimental"),
        ("limitk(2, x)", "experimental"),
        ("histogram_count(x)", "native histograms"),
    ],
)
def test_out_of_scope_features_are_unsupported(query: str, needle: str) -> None:
    """Experimental and native-histogram functions raise UnsupportedQueryError."""
    with pytest.raises(UnsupportedQueryError, match=needle):
        parse(query)


@pytest.mark.parametrize(
    ("regex", "python"),
    [
        ("(?i)abc", "(?i:abc)"),
        ("((?i)PRO).*", "((?i:PRO)).*"),
        ("a|(?i)b", "a|(?i:b)"),
        ("[(?i)]x", "[(?i)]x"),
    ],
)
def test_re2_inline_flags_are_scoped(regex: str, python: str) -> None:
    """RE2 inline flags become Python scoped flags."""
    assert scoped_flags(regex) == python
