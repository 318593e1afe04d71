"""What a PromQL query returns: the four value types of the Prometheus HTTP API.

``resultType`` in the API is ``vector`` (:class:`InstantVector`), ``matrix`` (:class:`Matrix`),
``scalar`` (:class:`Scalar`) or ``string`` (:class:`String`).

Example::

    >>> vector = InstantVector([Sample({"job": "app"}, 1_000, 1.0)])
    >>> vector.result_type
    'vector'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from vigie.store.interface import Series

__all__ = ["InstantVector", "Matrix", "QueryResult", "Sample", "Scalar", "String"]


@dataclass
class Sample:
    """One element of an instant vector: a series' labels and its value at one time."""

    labels: dict[str, str]
    timestamp_ms: int
    value: float


@dataclass
class InstantVector:
    """A set of series, each with one sample at the same evaluation time."""

    samples: list[Sample] = field(default_factory=list)
    result_type: ClassVar[Literal["vector"]] = "vector"


@dataclass
class Matrix:
    """A set of series, each with samples over a range (range queries, range selectors)."""

    series: list[Series] = field(default_factory=list)
    result_type: ClassVar[Literal["matrix"]] = "matrix"


@dataclass
class Scalar:
    """A single number at a time."""

    timestamp_ms: int
    value: float
    result_type: ClassVar[Literal["scalar"]] = "scalar"


@dataclass
class String:
    """A string literal at a time."""

    timestamp_ms: int
    value: str
    result_type: ClassVar[Literal["string"]] = "string"


QueryResult = InstantVector | Matrix | Scalar | String
