"""Generic retrieval tracking for any vector store."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from vigie.sdk.retrieval import record_search, track_retrieval

FAQ = {"retriever": "faq"}


def test_track_retrieval_records_results_and_score(registry: CollectorRegistry) -> None:
    """A tracked search records its duration, result count and top score."""
    with track_retrieval("faq", registry=registry) as search:
        search.set_results(4, top_score=0.82)
    get = registry.get_sample_value
    assert get("retrieval_search_duration_seconds_count", FAQ) == 1
    assert get("retrieval_searches_total", {**FAQ, "error_type": ""}) == 1
    assert get("retrieval_results_per_query_sum", FAQ) == 4
    assert get("retrieval_top_score_sum", FAQ) == 0.82
    assert get("retrieval_top_score_bucket", {**FAQ, "le": "0.8"}) == 0
    assert get("retrieval_top_score_bucket", {**FAQ, "le": "0.9"}) == 1


def test_empty_result_is_counted(registry: CollectorRegistry) -> None:
    """Zero results count as an empty result and record no score."""
    with track_retrieval("faq", registry=registry) as search:
        search.set_results(0)
    assert registry.get_sample_value("retrieval_empty_results_total", FAQ) == 1
    assert registry.get_sample_value("retrieval_top_score_count", FAQ) == 0


def test_unreported_results_count_the_query_only(registry: CollectorRegistry) -> None:
    """Without set_results the query and its duration are still counted."""
    with track_retrieval("faq", registry=registry):
        pass
    assert registry.get_sample_value("retrieval_searches_total", {**FAQ, "error_type": ""}) == 1
    assert registry.get_sample_value("retrieval_results_per_query_count", FAQ) == 0


def test_error_is_counted_and_reraised(registry: CollectorRegistry) -> None:
    """The vector store's exception propagates, counted by error_type."""
    with pytest.raises(ConnectionRefusedError), track_retrieval("faq", registry=registry):
        raise ConnectionRefusedError("qdrant down")
    value = registry.get_sample_value(
        "retrieval_searches_total", {**FAQ, "error_type": "connection"}
    )
    assert value == 1


async def test_async_context_manager(registry: CollectorRegistry) -> None:
    """``async with`` works the same way."""
    async with track_retrieval("faq", registry=registry) as search:
        search.set_results(1, top_score=0.5)
    assert registry.get_sample_value("retrieval_results_per_query_sum", FAQ) == 1


def test_record_search_batch(registry: CollectorRegistry) -> None:
    """A batch records each query; NaN and None scores are skipped."""
    record_search(
        "faq",
        duration=0.01,
        results=[3, 0, 2],
        top_scores=[0.9, None, float("nan")],
        registry=registry,
    )
    get = registry.get_sample_value
    assert get("retrieval_searches_total", {**FAQ, "error_type": ""}) == 3
    assert get("retrieval_empty_results_total", FAQ) == 1
    assert get("retrieval_top_score_count", FAQ) == 1
