"""The FAQ corpus of the demo: about 60 questions and answers of a public-service website.

The data lives in ``data/faq.json`` inside the package (written for vigie, not legal advice), so
it ships with the wheel and is read without network. A malformed file is refused with the file,
the entry and the field named, rather than half-loaded.

Example::

    >>> from vigie.demo.corpus import load_corpus
    >>> corpus = load_corpus()
    >>> len(corpus), corpus[0].category
    (60, 'identity')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vigie.exceptions import ConfigurationError

__all__ = ["CORPUS_PATH", "FaqEntry", "load_corpus"]

#: The corpus shipped with the package.
CORPUS_PATH = Path(__file__).with_name("data") / "faq.json"


@dataclass(frozen=True)
class FaqEntry:
    """One question of the FAQ, its answer and its category."""

    faq_id: int
    category: str
    question: str
    answer: str


def load_corpus(path: str | Path = CORPUS_PATH) -> tuple[FaqEntry, ...]:
    """Read the corpus at ``path``; a bad file raises :class:`ConfigurationError` naming it."""
    source = Path(path)
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigurationError(
            f"cannot read {source}: {error.strerror}", field="corpus"
        ) from None
    except ValueError as error:
        raise ConfigurationError(f"{source}: not JSON: {error}", field="corpus") from None
    entries = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{source}: expected a non-empty 'entries' list", field="entries")
    corpus: list[FaqEntry] = []
    seen: set[int] = set()
    for position, raw in enumerate(entries):
        where = f"{source}: entries[{position}]"
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{where}: expected an object", field="entries")
        faq_id = raw.get("id")
        if not isinstance(faq_id, int) or isinstance(faq_id, bool) or faq_id in seen:
            raise ConfigurationError(
                f"{where}.id: expected a unique integer, got {faq_id!r}", field="id"
            )
        seen.add(faq_id)
        values = []
        for name in ("category", "question", "answer"):
            value = raw.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{where}.{name}: expected a non-empty string", field=name)
            values.append(value.strip())
        corpus.append(FaqEntry(faq_id, *values))
    return tuple(corpus)
