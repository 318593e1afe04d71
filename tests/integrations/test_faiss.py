"""A real FAISS index, instrumented: searches, results, top-1 scores, empties, size."""

from __future__ import annotations

import faiss
import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from vigie.integrations.faiss import instrument_faiss

DOCS = {"retriever": "docs"}


def vectors(rows: list[list[float]]) -> np.ndarray:
    return np.asarray(rows, dtype="float32")


@pytest.fixture
def index(registry: CollectorRegistry) -> faiss.IndexFlatL2:
    flat = faiss.IndexFlatL2(2)
    return instrument_faiss(flat, name="docs", registry=registry)


def test_add_updates_size_and_count(index: faiss.IndexFlatL2, registry: CollectorRegistry) -> None:
    """Adding vectors moves the size gauge and the added counter."""
    assert registry.get_sample_value("retrieval_index_size", DOCS) == 0
    index.add(vectors([[0, 0], [1, 0], [0, 1]]))
    index.add(vectors([[5, 5]]))
    assert index.ntotal == 4
    assert registry.get_sample_value("retrieval_index_size", DOCS) == 4
    assert registry.get_sample_value("retrieval_documents_added_total", DOCS) == 4
    index.reset()
    assert registry.get_sample_value("retrieval_index_size", DOCS) == 0


def test_batched_search(index: faiss.IndexFlatL2, registry: CollectorRegistry) -> None:
    """A batch of queries gives one duration, and per-query results and top-1 distances."""
    index.add(vectors([[0, 0], [3, 4]]))
    _distances, ids = index.search(vectors([[0, 0], [3, 4], [0, 1]]), 2)
    assert ids.tolist() == [[0, 1], [1, 0], [0, 1]]
    get = registry.get_sample_value
    assert get("retrieval_search_duration_seconds_count", DOCS) == 1
    assert get("retrieval_searches_total", {**DOCS, "error_type": ""}) == 3
    assert get("retrieval_results_per_query_sum", DOCS) == 6
    # squared L2 distances of the best match: 0, 0 and 1
    assert get("retrieval_top_score_sum", DOCS) == 1.0
    assert get("retrieval_top_score_count", DOCS) == 3
    assert get("retrieval_top_score_bucket", {**DOCS, "le": "0.1"}) == 2
    assert get("retrieval_empty_results_total", DOCS) is None


def test_empty_and_partial_results(index: faiss.IndexFlatL2, registry: CollectorRegistry) -> None:
    """An empty index gives empty results; k above the size gives partial ones (ids of -1)."""
    _, ids = index.search(vectors([[1, 1]]), 3)
    assert ids.tolist() == [[-1, -1, -1]]
    index.add(vectors([[1, 1]]))
    index.search(vectors([[1, 1]]), 3)
    get = registry.get_sample_value
    assert get("retrieval_empty_results_total", DOCS) == 1
    assert get("retrieval_results_per_query_sum", DOCS) == 1
    assert get("retrieval_results_per_query_bucket", {**DOCS, "le": "0.0"}) == 1
    assert get("retrieval_top_score_count", DOCS) == 1


def test_inner_product_similarity(registry: CollectorRegistry) -> None:
    """On an inner-product index the top-1 score is the similarity."""
    index = instrument_faiss(faiss.IndexFlatIP(2), name="faq", registry=registry)
    index.add(vectors([[1, 0], [0.6, 0.8]]))
    index.search(vectors([[0.6, 0.8]]), 1)
    assert registry.get_sample_value(
        "retrieval_top_score_sum", {"retriever": "faq"}
    ) == pytest.approx(1.0)


def test_search_error_is_counted_and_reraised(
    index: faiss.IndexFlatL2, registry: CollectorRegistry
) -> None:
    """A wrong-dimension query raises FAISS's own error, counted under error_type."""
    with pytest.raises(AssertionError):
        index.search(vectors([[1, 2, 3]]), 1)
    value = registry.get_sample_value(
        "retrieval_searches_total", {**DOCS, "error_type": "AssertionError"}
    )
    assert value == 1


def test_instrument_twice_and_other_indexes_untouched(registry: CollectorRegistry) -> None:
    """Instrumenting twice counts once; another index of the same class is not measured."""
    index = faiss.IndexFlatL2(2)
    instrument_faiss(index, name="docs", registry=registry)
    instrument_faiss(index, name="docs", registry=registry)
    other = faiss.IndexFlatL2(2)
    other.add(vectors([[0, 0]]))
    index.add(vectors([[0, 0]]))
    index.search(vectors([[0, 0]]), 1)
    other.search(vectors([[0, 0]]), 1)
    assert registry.get_sample_value("retrieval_searches_total", {**DOCS, "error_type": ""}) == 1
    assert registry.get_sample_value("retrieval_documents_added_total", DOCS) == 1
