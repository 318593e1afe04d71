"""The embedded time-series store: its interface, and the implementations behind it.

:class:`MemoryStorage` is the in-memory reference (tests, fakes); :class:`DiskStorage` is the
persistent store ``vigie server`` runs on (head + WAL + compressed blocks, see docs/store.md).
"""

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
from vigie.store.tsdb import DiskStorage, IntegrityReport, StoreStats

__all__ = [
    "STALE_NAN",
    "Appender",
    "DiskStorage",
    "IntegrityReport",
    "Matcher",
    "MemoryStorage",
    "Querier",
    "Series",
    "Storage",
    "StoreStats",
    "is_stale",
    "label_pairs",
]
