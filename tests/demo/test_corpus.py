"""The FAQ corpus shipped in the package, and clear errors for a malformed one."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from vigie.demo.corpus import load_corpus
from vigie.exceptions import ConfigurationError


def test_shipped_corpus_has_sixty_entries_in_six_categories() -> None:
    """60 entries, unique ids, 10 in each of six categories."""
    corpus = load_corpus()
    assert len(corpus) == 60
    assert len({entry.faq_id for entry in corpus}) == 60
    assert Counter(entry.category for entry in corpus) == dict.fromkeys(
        ("identity", "taxes", "housing", "transport", "health", "city"), 10
    )


def test_malformed_entry_names_file_entry_and_field(tmp_path: Path) -> None:
    """A missing answer is refused with the file, the entry index and the field."""
    path = tmp_path / "faq.json"
    entries = [
        {"id": 1, "category": "city", "question": "Q?", "answer": "A."},
        {"id": 2, "category": "city", "question": "Q?"},
    ]
    path.write_text(json.dumps({"entries": entries}))
    with pytest.raises(ConfigurationError, match=r"faq\.json: entries\[1\]\.answer: expected"):
        load_corpus(path)


def test_duplicate_ids_and_bad_json_are_refused(tmp_path: Path) -> None:
    """Duplicate ids and invalid JSON are configuration errors naming the file."""
    path = tmp_path / "faq.json"
    entry = {"id": 1, "category": "city", "question": "Q?", "answer": "A."}
    path.write_text(json.dumps({"entries": [entry, entry]}))
    with pytest.raises(ConfigurationError, match=r"entries\[1\]\.id: expected a unique integer"):
        load_corpus(path)
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match=r"faq\.json: not JSON"):
        load_corpus(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_corpus(tmp_path / "missing.json")
