"""Retrieval health: how fast searches are, how many results they return, how good the best one is.

A RAG answer is only as good as what the retriever found, and the classic silent failure is a
search that returns nothing, or only poor matches, while every HTTP status stays 200. These
metrics make it visible per retriever (a name you choose: ``docs``, ``faq``...).

:func:`track_retrieval` times one search against any vector store; :mod:`vigie.integrations.faiss`
does it for a FAISS index automatically.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> with track_retrieval("faq", registry=registry) as search:
    ...     hits = [("doc-1", 0.83), ("doc-7", 0.61)]          # your vector store's answer
    ...     search.set_results(len(hits), top_score=hits[0][1])
    >>> registry.get_sample_value("retrieval_results_per_query_sum", {"retriever": "faq"})
    2.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from time import perf_counter

from prometheus_client import CollectorRegistry

from vigie.sdk import instruments
from vigie.sdk.failsafe import guard
from vigie.sdk.genai import error_type
from vigie.sdk.timed_scope import TimedScope

__all__ = [
    "RESULT_BUCKETS",
    "SCORE_BUCKETS",
    "SEARCH_BUCKETS",
    "RetrievalSearch",
    "record_added",
    "record_search",
    "set_index_size",
    "track_retrieval",
]

SEARCH_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RESULT_BUCKETS = (0, 1, 2, 3, 5, 10, 20, 50, 100)
# Similarities (cosine, inner product of normalized vectors) fall in [0, 1]; distances (L2) are
# open-ended, hence the coarse tail.
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 5.0, 10.0)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        label = ["retriever"]
        self.searches = instruments.counter(
            "retrieval_searches",
            "Queries sent to a retriever (a batched FAISS search counts each query vector).",
            ["retriever", "error_type"],
            registry=registry,
        )
        self.duration = instruments.histogram(
            "retrieval_search_duration_seconds",
            "Time spent in one search call.",
            label,
            buckets=SEARCH_BUCKETS,
            registry=registry,
        )
        self.results = instruments.histogram(
            "retrieval_results_per_query",
            "Results returned per query.",
            label,
            buckets=RESULT_BUCKETS,
            registry=registry,
        )
        self.top_score = instruments.histogram(
            "retrieval_top_score",
            "Score of the best result per query (similarity, or distance for L2 indexes).",
            label,
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.empty = instruments.counter(
            "retrieval_empty_results",
            "Queries that returned no result at all.",
            label,
            registry=registry,
        )
        self.size = instruments.gauge(
            "retrieval_index_size",
            "Documents (vectors) in the index.",
            label,
            registry=registry,
            multiprocess_mode="max",
        )
        self.added = instruments.counter(
            "retrieval_documents_added",
            "Documents (vectors) added to the index.",
            label,
            registry=registry,
        )


_metrics = instruments.PerRegistry(_Metrics)


def record_search(
    retriever: str,
    *,
    duration: float,
    results: Iterable[int],
    top_scores: Iterable[float | None] = (),
    error: BaseException | None = None,
    queries: int | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Record one search call of one or more queries: per-query result counts and top scores.

    ``queries`` defaults to the number of result counts given. A ``None`` or NaN top score (no
    result) is skipped; a query with 0 results counts as empty.
    """
    with guard("retrieval record_search"):
        metrics = _metrics(registry)
        metrics.duration.labels(retriever).observe(duration)
        if error is not None:
            metrics.searches.labels(retriever, error_type(error)).inc()
            return
        counts = list(results)
        metrics.searches.labels(retriever, "").inc(len(counts) if queries is None else queries)
        histogram = metrics.results.labels(retriever)
        empty = 0
        for count in counts:
            histogram.observe(count)
            empty += count == 0
        if empty:
            metrics.empty.labels(retriever).inc(empty)
        scores = metrics.top_score.labels(retriever)
        for score in top_scores:
            if score is not None and not math.isnan(score):
                scores.observe(score)


def set_index_size(retriever: str, size: int, *, registry: CollectorRegistry | None = None) -> None:
    """Set the number of documents in the index."""
    with guard("retrieval set_index_size"):
        _metrics(registry).size.labels(retriever).set(size)


def record_added(retriever: str, count: int, *, registry: CollectorRegistry | None = None) -> None:
    """Count documents added to the index."""
    with guard("retrieval record_added"):
        if count > 0:
            _metrics(registry).added.labels(retriever).inc(count)


class RetrievalSearch(TimedScope["RetrievalSearch"]):
    """One search timed by :func:`track_retrieval`; report its findings with :meth:`set_results`."""

    def __init__(self, retriever: str, registry: CollectorRegistry | None) -> None:
        self.retriever = retriever
        self.registry = registry
        self.results: int | None = None
        self.top_score: float | None = None
        self.start = 0.0

    def set_results(self, count: int, top_score: float | None = None) -> None:
        """How many results came back, and the best one's score (None when there is none)."""
        self.results = count
        self.top_score = top_score

    def _open(self) -> RetrievalSearch:
        self.start = perf_counter()
        return self

    def _close(self, error: BaseException | None) -> None:
        duration = perf_counter() - self.start
        results: list[int] = [] if self.results is None else [self.results]
        record_search(
            self.retriever,
            duration=duration,
            results=results,
            top_scores=[self.top_score],
            error=error,
            queries=1,
            registry=self.registry,
        )


def track_retrieval(
    retriever: str, *, registry: CollectorRegistry | None = None
) -> RetrievalSearch:
    """Time one search against any vector store (a context manager, sync or async).

    Exceptions are counted under ``error_type`` and propagate unchanged. A search whose results
    were not reported counts the query and its duration only.
    """
    return RetrievalSearch(retriever, registry)
