"""The store's whole surface: an appender to write samples, a querier to read series.

The query engine, the rule evaluator and the scrape loop see only these Protocols (as Prometheus's
``storage/interface.go``), so the on-disk store can change without touching them, and tests can use
:class:`vigie.store.memory.MemoryStorage`, the reference implementation kept beside them.

Timestamps are integer milliseconds since the epoch, values are float64. A *staleness marker* is
the special NaN Prometheus uses (:data:`STALE_NAN`): it is stored like any value and tells the
query engine that the series ended there; :func:`is_stale` recognises it (a plain NaN is a value).

Example::

    >>> from vigie.store.memory import MemoryStorage
    >>> storage = MemoryStorage()
    >>> appender = storage.appender()
    >>> appender.append({"__name__": "up", "job": "app"}, 1_000, 1.0)
    >>> appender.commit()
    >>> [s.labels for s in storage.querier().select([Matcher("job", "=", "app")], 0, 2_000)]
    [{'__name__': 'up', 'job': 'app'}]
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "STALE_NAN",
    "STALE_NAN_BITS",
    "Appender",
    "LabelPairs",
    "MatchOp",
    "Matcher",
    "Querier",
    "Series",
    "SeriesRef",
    "Storage",
    "is_stale",
    "label_pairs",
]

#: The bit pattern Prometheus writes as a staleness marker (``value.StaleNaN``).
STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]

#: A series identity: its labels as name/value pairs sorted by name.
LabelPairs = tuple[tuple[str, str], ...]

MatchOp = Literal["=", "!=", "=~", "!~"]

#: An opaque handle on one series, from :meth:`Appender.ref`, for :meth:`Appender.append_ref`.
#: Only the store that made it understands it; it stays usable for as long as the caller keeps it.
SeriesRef = object


def is_stale(value: float) -> bool:
    """True when ``value`` is Prometheus's staleness marker (not any NaN)."""
    return bool(struct.unpack("<Q", struct.pack("<d", value))[0] == STALE_NAN_BITS)


def stale_mask(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Vectorised :func:`is_stale` over a float64 array."""
    mask: npt.NDArray[np.bool_] = values.view(np.uint64) == np.uint64(STALE_NAN_BITS)
    return mask


def label_pairs(labels: Mapping[str, str]) -> LabelPairs:
    """The canonical identity of a label set: pairs sorted by name, empty values dropped."""
    return tuple(sorted((name, value) for name, value in labels.items() if value != ""))


@dataclass(frozen=True)
class Matcher:
    """A label matcher as in PromQL: ``name op value``; regexes are fully anchored."""

    name: str
    op: MatchOp
    value: str

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile(f"(?s:{self.value})\\Z")

    def matches(self, label_value: str) -> bool:
        """Whether a series whose label ``name`` has ``label_value`` ("" when absent) matches."""
        if self.op == "=":
            return label_value == self.value
        if self.op == "!=":
            return label_value != self.value
        if self.op == "=~":
            return self._regex.match(label_value) is not None
        return self._regex.match(label_value) is None


@dataclass
class Series:
    """One series' samples in a time range, oldest first (timestamps unique and sorted)."""

    labels: dict[str, str]
    timestamps: npt.NDArray[np.int64] = field(repr=False)
    values: npt.NDArray[np.float64] = field(repr=False)


class Appender(Protocol):
    """Buffers samples; :meth:`commit` makes them durable and visible; :meth:`rollback` drops.

    Besides :meth:`append`, two faster paths skip resolving the label set on every sample (as
    Prometheus's series refs do): :meth:`ref` once, then :meth:`append_ref` per sample (the scrape
    loop keeps a target's refs across scrapes, and hands a whole scrape to :meth:`append_refs`),
    and :meth:`append_many` for a run of samples of one series (remote write). They store exactly
    what the same :meth:`append` calls would.
    """

    def append(self, labels: Mapping[str, str], timestamp_ms: int, value: float) -> None:
        """Buffer one sample; raises a StoreError subclass when it can never be stored."""

    def ref(self, labels: Mapping[str, str]) -> SeriesRef:
        """A reference to the series with these labels (created if new), for append_ref."""

    def append_ref(self, ref: SeriesRef, timestamp_ms: int, value: float) -> None:
        """As :meth:`append` on the referenced series' labels."""

    def append_refs(
        self, refs: Sequence[SeriesRef], timestamp_ms: int, values: Sequence[float]
    ) -> None:
        """As :meth:`append_ref` for each ref and value, all at one timestamp (a scrape)."""

    def append_many(
        self, labels: Mapping[str, str], timestamps_ms: Sequence[int], values: Sequence[float]
    ) -> None:
        """As :meth:`append` for each ``(timestamp, value)`` pair, in order; a timestamp that
        can never be stored refuses the whole run (nothing of it is buffered)."""

    def commit(self) -> None:
        """Make every buffered sample durable and visible to queriers, atomically."""

    def rollback(self) -> None:
        """Drop every buffered sample."""


class Querier(Protocol):
    """Reads series. Ranges are inclusive: samples with ``mint <= t <= maxt``."""

    def select(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[Series]:
        """Every series matching all ``matchers`` with at least one sample in the range."""

    def label_names(self, matchers: Sequence[Matcher], mint: int, maxt: int) -> list[str]:
        """Sorted label names of the matching series (all series when ``matchers`` is empty)."""

    def label_values(
        self, name: str, matchers: Sequence[Matcher], mint: int, maxt: int
    ) -> list[str]:
        """Sorted values of label ``name`` among the matching series."""


class Storage(Protocol):
    """A store: hands out appenders and queriers."""

    def appender(self) -> Appender:
        """A new appender; each is used by one writer at a time."""

    def querier(self) -> Querier:
        """A querier over what is committed now."""


def matching(labels: Mapping[str, str], matchers: Iterable[Matcher]) -> bool:
    """Whether a label set satisfies every matcher."""
    return all(matcher.matches(labels.get(matcher.name, "")) for matcher in matchers)
