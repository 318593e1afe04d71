"""Postings select series by label matchers from the label-value set."""

from __future__ import annotations

import pytest

from vigie.store.index import Postings
from vigie.store.interface import Matcher

SERIES = [
    (0, (("__name__", "http_requests_total"), ("job", "api"), ("status", "200"))),
    (1, (("__name__", "http_requests_total"), ("job", "api"), ("status", "500"))),
    (2, (("__name__", "http_requests_total"), ("job", "web"), ("status", "200"))),
    (3, (("__name__", "up"), ("job", "api"))),
    (4, (("__name__", "up"),)),
]


@pytest.fixture
def postings() -> Postings:
    """Postings over five series."""
    return Postings.build(SERIES)


@pytest.mark.parametrize(
    ("matchers", "expected"),
    [
        ([], [0, 1, 2, 3, 4]),
        ([Matcher("__name__", "=", "up")], [3, 4]),
        ([Matcher("__name__", "=", "http_requests_total"), Matcher("job", "=", "api")], [0, 1]),
        ([Matcher("status", "=~", "5..")], [1]),
        ([Matcher("status", "=~", "2|5")], []),
        ([Matcher("status", "!~", "5..")], [0, 2, 3, 4]),
        ([Matcher("status", "!=", "200")], [1, 3, 4]),
        ([Matcher("job", "=", "")], [4]),
        ([Matcher("job", "!=", "")], [0, 1, 2, 3]),
        ([Matcher("job", "=~", ".*")], [0, 1, 2, 3, 4]),
        ([Matcher("missing", "=", "x")], []),
        ([Matcher("__name__", "=", "up"), Matcher("job", "!~", "api|web")], [4]),
    ],
)
def test_select(postings: Postings, matchers: list[Matcher], expected: list[int]) -> None:
    """Each matcher combination yields exactly the sorted ids a per-series scan would."""
    assert postings.select(matchers).tolist() == expected


def test_select_agrees_with_a_scan(postings: Postings) -> None:
    """For every label and operator, postings equal brute-force matching."""
    for name in ("job", "status", "__name__", "nope"):
        for op in ("=", "!=", "=~", "!~"):
            for value in ("api", "", "2.*", "up|web", "http_requests_total"):
                matcher = Matcher(name, op, value)  # type: ignore[arg-type]
                scan = [
                    ref for ref, labels in SERIES if matcher.matches(dict(labels).get(name, ""))
                ]
                assert postings.select([matcher]).tolist() == scan, matcher


def test_label_names_and_values(postings: Postings) -> None:
    """Names and values are sorted and distinct."""
    assert postings.label_names() == ["__name__", "job", "status"]
    assert postings.label_values("job") == ["api", "web"]
    assert postings.label_values("nope") == []


def test_adding_after_a_select_invalidates_cached_arrays(postings: Postings) -> None:
    """A series added after a query shows up in the next one."""
    assert postings.select([Matcher("job", "=", "web")]).tolist() == [2]
    postings.add(5, (("__name__", "up"), ("job", "web")))
    assert postings.select([Matcher("job", "=", "web")]).tolist() == [2, 5]
    assert len(postings) == 6
    assert postings.select([]).tolist() == [0, 1, 2, 3, 4, 5]
