"""The local embedder, the instrumented FAISS index and the nearest-centroid classifier."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from vigie.demo.corpus import load_corpus
from vigie.demo.embedding import HashingEmbedder, load_embedder
from vigie.demo.knowledge import FaqKnowledge, confidence_from_score
from vigie.exceptions import ConfigurationError


def test_hashing_embedder_is_deterministic_and_normalised() -> None:
    """Same text, same vector across instances; unit norm; stopwords alone give zero."""
    first = HashingEmbedder(64).encode(["Renew my passport", "the of and"])
    second = HashingEmbedder(64).encode(["Renew my passport", "the of and"])
    assert first.dtype == np.float32
    assert first.shape == (2, 64)
    assert np.array_equal(first, second)
    assert float(np.linalg.norm(first[0])) == pytest.approx(1.0, abs=1e-6)
    assert not first[1].any()


def test_load_embedder_specs() -> None:
    """hashing[:dims] works; a missing sentence-transformers model is a clear error."""
    assert load_embedder("hashing:32").dimensions == 32
    with pytest.raises(ConfigurationError, match="unknown embedder"):
        load_embedder("word2vec")
    with pytest.raises(ConfigurationError, match="sentence-transformers"):
        load_embedder("sentence-transformers:/nonexistent/model")


def test_search_finds_reworded_questions() -> None:
    """Reworded questions find their entry; the FAISS metrics count searches and the index size."""
    registry = CollectorRegistry()
    knowledge = FaqKnowledge(load_corpus(), HashingEmbedder(), registry=registry)
    expected = {
        "renew passport": 1,
        "lost my identity card": 2,
        "contest a parking fine": 36,
        "european health insurance card travel": 47,
    }
    found = {question: knowledge.search(question, k=3)[0].entry.faq_id for question in expected}
    assert found == expected
    assert registry.get_sample_value("retrieval_index_size", {"retriever": "faq"}) == 60
    searches = {"retriever": "faq", "error_type": ""}
    assert registry.get_sample_value("retrieval_searches_total", searches) == 4


def test_classifier_is_sure_on_topic_and_unsure_off_topic() -> None:
    """The category centroid classifier is confident on FAQ topics and not on others."""
    knowledge = FaqKnowledge(load_corpus(), HashingEmbedder(), registry=CollectorRegistry())
    taxes = knowledge.classify("when is the income tax return due")
    off = knowledge.classify("recipe for chocolate cake")
    assert taxes.label == "taxes"
    assert taxes.confidence > 0.9
    assert off.confidence < 0.5


def test_confidence_from_score() -> None:
    """Cosine 0.1 or less maps to 0, 0.6 or more to 1, linear between."""
    assert [confidence_from_score(s) for s in (-0.2, 0.1, 0.35, 0.6, 0.9)] == [0, 0, 0.5, 1, 1]
