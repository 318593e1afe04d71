"""What the FAQ assistant knows: the corpus in a FAISS index, and a category classifier.

Every entry (question and answer) is embedded once at start and added to an inner-product FAISS
index, instrumented with :func:`vigie.instrument_faiss` under the retriever name ``faq``: searches,
results, top scores and the index size show in ``/metrics``. As the vectors are unit vectors, a
score is a cosine similarity; :func:`confidence_from_score` maps it to a confidence in [0, 1].

The classifier is a nearest-centroid model over the same vectors: one centroid per category, the
softmax of the cosine similarities as confidence. It is small, deterministic and, like a real
model, grows unsure when questions leave the topics it was built from (the ``drift`` drill).

Example::

    >>> from vigie.demo.corpus import load_corpus
    >>> from vigie.demo.embedding import HashingEmbedder
    >>> from prometheus_client import CollectorRegistry
    >>> knowledge = FaqKnowledge(load_corpus(), HashingEmbedder(), registry=CollectorRegistry())
    >>> hits = knowledge.search("how do I renew my passport", k=1)
    >>> hits[0].entry.faq_id
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from vigie.demo.corpus import FaqEntry
from vigie.demo.embedding import Embedder, Vectors
from vigie.integrations.faiss import instrument_faiss

__all__ = ["Classification", "FaqKnowledge", "Hit", "confidence_from_score"]

#: Cosine similarity at or below which retrieval confidence is 0, and from which it is 1.
_SCORE_FLOOR, _SCORE_FULL = 0.1, 0.6
#: Sharpness of the classifier's softmax over centroid similarities.
_TEMPERATURE = 0.05


def confidence_from_score(score: float) -> float:
    """Map a cosine similarity to a confidence in [0, 1] (0.1 or less: 0; 0.6 or more: 1)."""
    value = (score - _SCORE_FLOOR) / (_SCORE_FULL - _SCORE_FLOOR)
    return round(min(max(value, 0.0), 1.0), 4)


@dataclass(frozen=True)
class Hit:
    """One retrieved entry and its cosine similarity with the question."""

    entry: FaqEntry
    score: float


@dataclass(frozen=True)
class Classification:
    """The category predicted for a text and how sure the classifier is."""

    label: str
    confidence: float


class FaqKnowledge:
    """The corpus, its FAISS index (retriever ``faq``) and the category centroids."""

    def __init__(
        self,
        corpus: Sequence[FaqEntry],
        embedder: Embedder,
        *,
        registry: CollectorRegistry | None = None,
    ) -> None:
        import faiss

        self.corpus = tuple(corpus)
        self.embedder = embedder
        self.by_id = {entry.faq_id: entry for entry in self.corpus}
        vectors = embedder.encode([f"{e.question} {e.question} {e.answer}" for e in self.corpus])
        self.index: Any = instrument_faiss(
            faiss.IndexFlatIP(embedder.dimensions), name="faq", registry=registry
        )
        self.index.add(vectors)
        self.categories = tuple(sorted({entry.category for entry in self.corpus}))
        centroids = np.stack(
            [
                vectors[[i for i, e in enumerate(self.corpus) if e.category == category]].mean(0)
                for category in self.categories
            ]
        )
        centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
        self._centroids: Vectors = centroids.astype(np.float32)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def embed(self, text: str) -> Vectors:
        """The unit vector of ``text``, shape ``(dimensions,)``."""
        vector: Vectors = self.embedder.encode([text])[0]
        return vector

    def search(self, question: str, k: int = 3) -> list[Hit]:
        """The ``k`` entries closest to ``question``, best first."""
        scores, ids = self.index.search(self.embed(question)[None, :], k)
        return [
            Hit(self.corpus[int(i)], round(float(s), 4))
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0
        ]

    def classify(self, text: str) -> Classification:
        """The nearest category centroid and the softmax confidence of that choice."""
        similarities = self._centroids @ self.embed(text)
        weights = np.exp((similarities - similarities.max()) / _TEMPERATURE)
        best = int(np.argmax(similarities))
        confidence = float(weights[best] / weights.sum())
        return Classification(self.categories[best], round(min(max(confidence, 0.0), 1.0), 4))
