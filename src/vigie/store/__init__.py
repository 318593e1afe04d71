"""The embedded time-series store: its interface, and the implementations behind it."""

from vigie.store.interface import (
    STALE_NAN,
    Appender,
    Matcher,
    Querier,
    Series,
    Storage,
    is_stale,
    label_pairs,
)
from vigie.store.memory import MemoryStorage

__all__ = [
    "STALE_NAN",
    "Appender",
    "Matcher",
    "MemoryStorage",
    "Querier",
    "Series",
    "Storage",
    "is_stale",
    "label_pairs",
]
