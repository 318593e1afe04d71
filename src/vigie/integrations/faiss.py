"""Measure a FAISS index: search latency, results per query, top-1 score, empty results, size.

``instrument_faiss(index, name="docs")`` patches ``search``, ``add``, ``add_with_ids``,
``remove_ids`` and ``reset`` on *this* index object only. A batched search of ``n`` query
vectors is one duration observation and ``n`` queries. The top-1 score is what FAISS returns:
a distance for L2 indexes (lower is better), a similarity for inner-product ones.

Example::

    import faiss, numpy as np, vigie

    index = vigie.instrument_faiss(faiss.IndexFlatIP(384), name="docs")
    index.add(np.random.rand(1000, 384).astype("float32"))
    distances, ids = index.search(query_vectors, 5)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from time import perf_counter
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from vigie.sdk.failsafe import guard
from vigie.sdk.retrieval import record_added, record_search, set_index_size

__all__ = ["instrument_faiss"]

_Index = TypeVar("_Index")


def _wrap_search(index: Any, name: str, registry: CollectorRegistry | None) -> None:
    original: Callable[..., Any] = index.search

    @functools.wraps(original)
    def search(x: Any, k: int, *args: Any, **kwargs: Any) -> Any:
        start = perf_counter()
        try:
            result = original(x, k, *args, **kwargs)
        except BaseException as error:
            record_search(
                name, duration=perf_counter() - start, results=(), error=error, registry=registry
            )
            raise
        duration = perf_counter() - start
        with guard("faiss search"):
            distances, labels = result
            found = labels != -1  # FAISS pads missing results with id -1
            counts = found.sum(axis=1).tolist()
            top = distances[:, 0].tolist() if labels.shape[1] else []
            scores = [
                score if hit else None
                for score, hit in zip(top, found[:, 0].tolist(), strict=False)
            ]
            record_search(
                name, duration=duration, results=counts, top_scores=scores, registry=registry
            )
        return result

    search.__vigie_wrapped__ = True  # type: ignore[attr-defined]
    index.search = search


def _wrap_change(index: Any, method: str, name: str, registry: CollectorRegistry | None) -> None:
    original: Callable[..., Any] | None = getattr(index, method, None)
    if original is None:
        return

    @functools.wraps(original)
    def change(*args: Any, **kwargs: Any) -> Any:
        before = index.ntotal
        result = original(*args, **kwargs)
        with guard("faiss index change"):
            after = index.ntotal
            record_added(name, after - before, registry=registry)
            set_index_size(name, after, registry=registry)
        return result

    setattr(index, method, change)


def instrument_faiss(
    index: _Index, *, name: str = "faiss", registry: CollectorRegistry | None = None
) -> _Index:
    """Measure searches and size changes of ``index`` under the retriever label ``name``.

    Calling it twice on one index is harmless. Returns the index.
    """
    target: Any = index
    if getattr(target.search, "__vigie_wrapped__", False):
        return index
    _wrap_search(target, name, registry)
    for method in ("add", "add_with_ids", "remove_ids", "reset"):
        _wrap_change(target, method, name, registry)
    set_index_size(name, target.ntotal, registry=registry)
    return index
