"""Postings: the inverted index from label name and value to the sorted ids of the series having it.

Selection works on the label-value set, never on every series: ``job=~"api|web"`` runs the regex
over the distinct values of ``job`` and unions their postings lists. A matcher that matches the
empty string (``env!="prod"``, ``env=~".*"``) also selects the series *without* the label, as in
PromQL; it is computed as "all series minus those whose value does not match".

The head adds series as they appear; a persisted block builds its postings once when it is opened.
Results are sorted int64 numpy arrays, so intersections are vectorised.

Example::

    >>> postings = Postings()
    >>> postings.add(0, (("__name__", "up"), ("job", "api")))
    >>> postings.add(1, (("__name__", "up"), ("job", "web")))
    >>> from vigie.store.interface import Matcher
    >>> postings.select([Matcher("job", "=~", "a.*")]).tolist()
    [0]
    >>> postings.select([Matcher("job", "!=", "api")]).tolist()
    [1]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from vigie.store.interface import LabelPairs, Matcher

__all__ = ["Postings"]

IdArray = npt.NDArray[np.int64]
_EMPTY: IdArray = np.empty(0, dtype=np.int64)


class Postings:
    """Label name -> label value -> ids (added in increasing order)."""

    def __init__(self) -> None:
        self._lists: dict[str, dict[str, list[int]]] = {}
        self._all: list[int] = []
        self._arrays: dict[tuple[str, str], IdArray] = {}
        self._all_array: IdArray | None = None

    @classmethod
    def build(cls, series: Iterable[tuple[int, LabelPairs]]) -> Postings:
        """Postings of ``(id, labels)`` pairs given in increasing id order."""
        postings = cls()
        for ref, labels in series:
            postings.add(ref, labels)
        return postings

    def add(self, ref: int, labels: LabelPairs) -> None:
        """Index series ``ref``; ids must be added in increasing order."""
        self._all.append(ref)
        self._all_array = None
        lists = self._lists
        arrays = self._arrays
        for name, value in labels:
            by_value = lists.get(name)
            if by_value is None:
                by_value = lists[name] = {}
            refs = by_value.get(value)
            if refs is None:
                by_value[value] = [ref]
            else:
                refs.append(ref)
                arrays.pop((name, value), None)

    def __len__(self) -> int:
        return len(self._all)

    def all(self) -> IdArray:
        """Every indexed id."""
        if self._all_array is None:
            self._all_array = np.array(self._all, dtype=np.int64)
        return self._all_array

    def _get(self, name: str, value: str) -> IdArray:
        key = (name, value)
        array = self._arrays.get(key)
        if array is None:
            refs = self._lists.get(name, {}).get(value)
            if refs is None:
                return _EMPTY
            array = self._arrays[key] = np.array(refs, dtype=np.int64)
        return array

    def label_names(self) -> list[str]:
        """Every label name, sorted."""
        return sorted(self._lists)

    def label_values(self, name: str) -> list[str]:
        """Every value of label ``name``, sorted."""
        return sorted(self._lists.get(name, {}))

    def _union(self, name: str, values: Iterable[str]) -> IdArray:
        arrays = [self._get(name, value) for value in values]
        if not arrays:
            return _EMPTY
        if len(arrays) == 1:
            return arrays[0]
        return np.unique(np.concatenate(arrays))

    def _matching(self, matcher: Matcher) -> IdArray:
        by_value = self._lists.get(matcher.name, {})
        if matcher.op == "=" and matcher.value != "":
            return self._get(matcher.name, matcher.value)
        if matcher.matches(""):
            # Also selects series without the label: all minus the non-matching values.
            excluded = self._union(matcher.name, (v for v in by_value if not matcher.matches(v)))
            return np.setdiff1d(self.all(), excluded, assume_unique=True)
        return self._union(matcher.name, (v for v in by_value if matcher.matches(v)))

    def select(self, matchers: Sequence[Matcher]) -> IdArray:
        """Sorted ids of the series matching every matcher (all ids when there are none)."""
        if not matchers:
            return self.all()
        # Most selective first: equality matchers are cheap and usually narrow.
        ordered = sorted(matchers, key=lambda m: (m.op != "=", m.matches("")))
        result: IdArray | None = None
        for matcher in ordered:
            found = self._matching(matcher)
            result = found if result is None else np.intersect1d(result, found, assume_unique=True)
            if result.size == 0:
                return _EMPTY
        assert result is not None
        return result
