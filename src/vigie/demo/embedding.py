"""Text embedders for the demo: a deterministic hashing embedder, or a real model when installed.

The default, :class:`HashingEmbedder`, needs only numpy: each text becomes the normalised sum of
signed hashed features (lower-cased words without stopwords, crude singulars, and character
trigrams of each word), so "passports" and "passport" land close and two runs give the same
vectors bit for bit. It is good enough to find the right FAQ entry for a reworded question and
costs microseconds, which is what a demo that starts in seconds needs.

:func:`load_embedder` returns a sentence-transformers model instead when asked for one and the
package and the model files are already on disk: nothing is downloaded at run time.

Example::

    >>> embedder = HashingEmbedder(dimensions=64)
    >>> vectors = embedder.encode(["How do I renew my passport?", "passport renewal"])
    >>> vectors.shape, round(float((vectors[0] ** 2).sum()), 3)
    ((2, 64), 1.0)
"""

from __future__ import annotations

import importlib
import re
import zlib
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from vigie.exceptions import ConfigurationError

__all__ = ["Embedder", "HashingEmbedder", "load_embedder"]

Vectors = npt.NDArray[np.float32]

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    ("a", "an", "and", "are", "at", "be", "by", "can", "do", "does", "for", "from", "get",
     "how", "i", "if", "in", "is", "it", "me", "my", "of", "on", "or", "so", "the", "there",
     "to", "what", "when", "where", "which", "who", "why", "will", "with", "you", "your")
)  # fmt: skip


class Embedder(Protocol):
    """Anything that turns texts into an ``(n, dimensions)`` float32 array of unit vectors."""

    name: str
    dimensions: int

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text."""
        ...


def _features(text: str) -> list[tuple[str, float]]:
    features: list[tuple[str, float]] = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
        features.append(("w:" + stem, 1.0))
        padded = f"<{stem}>"
        features.extend(("c:" + padded[i : i + 3], 0.25) for i in range(len(padded) - 2))
    return features


class HashingEmbedder:
    """Signed feature hashing of words and character trigrams into ``dimensions``, L2-normalised."""

    def __init__(self, dimensions: int = 384) -> None:
        if dimensions < 8:
            raise ConfigurationError(
                f"dimensions must be >= 8, got {dimensions}", field="dimensions"
            )
        self.dimensions = dimensions
        self.name = f"hashing-{dimensions}"

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed ``texts``; an empty or stopword-only text is the zero vector."""
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in _features(text):
                digest = zlib.crc32(feature.encode())
                sign = 1.0 if digest & 1 else -1.0
                vectors[row, (digest >> 1) % self.dimensions] += sign * weight
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)
        return vectors


class _SentenceTransformerEmbedder:
    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.name = name
        self.dimensions = int(model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(list(texts), normalize_embeddings=True)
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(spec: str = "hashing") -> Embedder:
    """The embedder named by ``spec``: ``hashing``, ``hashing:<dimensions>`` or
    ``sentence-transformers:<model>`` (only from local files; a clear error otherwise)."""
    kind, _, argument = spec.partition(":")
    if kind == "hashing":
        try:
            return HashingEmbedder(int(argument) if argument else 384)
        except ValueError:
            raise ConfigurationError(
                f"expected hashing:<dimensions>, got {spec!r}", field="embedder"
            ) from None
    if kind == "sentence-transformers" and argument:
        try:  # optional, never required: imported by name so type checkers need no stubs
            sentence_transformers: Any = importlib.import_module("sentence_transformers")
        except ImportError:
            raise ConfigurationError(
                "embedder sentence-transformers needs the sentence-transformers package",
                field="embedder",
            ) from None
        try:
            model = sentence_transformers.SentenceTransformer(argument, local_files_only=True)
        except Exception as error:  # the model is not on disk: never download it here
            raise ConfigurationError(
                f"model {argument!r} is not available locally: {error}", field="embedder"
            ) from None
        return _SentenceTransformerEmbedder(model, argument)
    raise ConfigurationError(
        f"unknown embedder {spec!r}: use hashing or sentence-transformers:<model>",
        field="embedder",
    )
