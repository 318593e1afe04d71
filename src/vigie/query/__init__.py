"""PromQL over vigie's store: ``Engine`` evaluates, ``parse`` validates.

Example::

    >>> from vigie.query import Engine, parse
    >>> from vigie.store.memory import MemoryStorage
    >>> Engine(MemoryStorage()).instant("1 + 1", 0).value
    2.0
"""

from vigie.query.engine import Engine, Evaluation, QueryFunction
from vigie.query.parser import parse
from vigie.query.result import InstantVector, Matrix, QueryResult, Sample, Scalar, String

__all__ = [
    "Engine",
    "Evaluation",
    "InstantVector",
    "Matrix",
    "QueryFunction",
    "QueryResult",
    "Sample",
    "Scalar",
    "String",
    "parse",
]
