"""Redaction: a labelled corpus for recall and precision, and the rules one by one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vigie.exceptions import ConfigurationError
from vigie.sdk.redaction import Redactor, iban_is_valid, is_sensitive_key, luhn_is_valid

CORPUS = Path(__file__).parent / "data" / "redaction_corpus.jsonl"


def load_corpus() -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines(), 1):
        row = json.loads(line)
        for secret in row["secrets"]:
            assert secret["value"] in row["text"], f"{CORPUS.name}:{number}: label not in text"
        rows.append(row)
    return rows


def test_corpus_recall_and_precision() -> None:
    """On the labelled corpus, every secret is masked (recall 100%) and precision is >= 99%."""
    rows = load_corpus()
    positives = sum(1 for row in rows if row["secrets"])
    assert len(rows) >= 300
    assert positives >= 150
    assert len(rows) - positives >= 150
    redactor = Redactor()
    secrets = covered = true_detections = false_detections = 0
    wrong_kind: list[str] = []
    misses: list[str] = []
    false_alarms: list[str] = []
    for row in rows:
        text = row["text"]
        detections = redactor.find(text)
        spans = []
        for secret in row["secrets"]:
            start = text.index(secret["value"])
            end = start + len(secret["value"])
            spans.append((start, end))
            secrets += 1
            cover = [d for d in detections if d.start <= start and d.end >= end]
            if cover:
                covered += 1
                if cover[0].kind != secret["kind"]:
                    wrong_kind.append(f"{secret['kind']} seen as {cover[0].kind}: {text}")
            else:
                misses.append(f"{secret['kind']} {secret['value']!r} in {text!r}")
            assert secret["value"] not in redactor.redact(text) or not cover
        for detection in detections:
            if any(detection.start < end and detection.end > start for start, end in spans):
                true_detections += 1
            else:
                false_alarms.append(f"{text[detection.start : detection.end]!r} in {text!r}")
                false_detections += 1
    recall = covered / secrets
    precision = true_detections / (true_detections + false_detections)
    print(
        f"\nredaction corpus: {len(rows)} lines, {secrets} secrets, "
        f"recall {recall:.2%}, precision {precision:.2%}"
    )
    assert misses == []
    assert recall == 1.0
    assert precision >= 0.99, false_alarms
    assert wrong_kind == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+news@mail.example.org now", "write to [REDACTED:email] now"),
        ("tel +33 6 12 34 56 78.", "tel [REDACTED:phone]."),
        ("tel 06.12.34.56.78", "tel [REDACTED:phone]"),
        ("tel +1 (415) 555-0132", "tel [REDACTED:phone]"),
        ("card 4111-1111-1111-1111 ok", "card [REDACTED:card] ok"),
        ("amex 3782 822463 10005", "amex [REDACTED:card]"),
        ("iban GB82 WEST 1234 5698 7654 32, merci", "iban [REDACTED:iban], merci"),
        ("api_key=sk-proj-Abcdefghijklmnopqrstuv123", "api_key=[REDACTED:secret]"),
        ("key sk-proj-Abcdefghijklmnopqrstuv123", "key [REDACTED:api_key]"),
        ("Authorization: Bearer abc.DEF-123_xyz", "Authorization: Bearer [REDACTED:bearer]"),
        ("sent bearer abc.DEF-123_xyz", "sent bearer [REDACTED:bearer]"),
        ("id AKIAIOSFODNN7EXAMPLE used", "id [REDACTED:aws_key] used"),
        (
            '{"password": "p@ss w0rd", "user": "u1"}',
            '{"password": "[REDACTED:secret]", "user": "u1"}',
        ),
        ("db_password='x y z' host=h", "db_password='[REDACTED:secret]' host=h"),
        ("https://app:s3cret@db.internal/x", "https://app:[REDACTED:secret]@db.internal/x"),
    ],
)
def test_rules(text: str, expected: str) -> None:
    """Each rule masks its kind of secret and keeps the text around it."""
    assert Redactor().redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "order 4111111111111112 shipped",  # fails Luhn
        "iban FR76 3000 6000 0112 3456 7890 188",  # bad checksum
        "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
        "input_tokens=1200 max_tokens=4096 token_count=3",
        "at 2026-11-21T10:20:30.123Z took 1234567 us",
        "logo@2x.png",
        "basic information",
        "+12.5% growth",
    ],
)
def test_look_alikes_are_kept(text: str) -> None:
    """Look-alikes of secrets come out unchanged."""
    assert Redactor().redact(text) == text


def test_checksums() -> None:
    """Luhn and IBAN mod-97 are computed, not guessed."""
    assert luhn_is_valid("79927398713")
    assert not luhn_is_valid("79927398710")
    assert iban_is_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_is_valid("DE89 3704 0044 0532 0130 01")
    assert not iban_is_valid("XX89 3704 0044 0532 0130 00")


def test_sensitive_keys() -> None:
    """Field names ending in a secret word are sensitive; counters of tokens are not."""
    assert [is_sensitive_key(k) for k in ("password", "refresh_token", "X-Api-Key", "cookie")] == [
        True
    ] * 4
    assert [is_sensitive_key(k) for k in ("max_tokens", "token_count", "keyboard", "user")] == [
        False
    ] * 4


def test_fields_nested_and_allow_list() -> None:
    """Extra fields are redacted by name and by value, recursively; allow-listed ones are kept."""
    redactor = Redactor(allow_fields=["support_phone"])
    fields = {
        "user": {"email": "a@example.com", "api_key": "xyz", "tags": ["06 12 34 56 78", 3]},
        "card": 4111111111111111,
        "count": 42,
        "support_phone": "01 23 45 67 89",
        "secret": None,
        "ok": True,
    }
    assert redactor.redact_fields(fields) == {
        "user": {
            "email": "[REDACTED:email]",
            "api_key": "[REDACTED:secret]",
            "tags": ["[REDACTED:phone]", 3],
        },
        "card": "[REDACTED:card]",
        "count": 42,
        "support_phone": "01 23 45 67 89",
        "secret": None,
        "ok": True,
    }


def test_user_patterns_and_switch_off() -> None:
    """Users add named patterns; a bad one names the field; enabled=False passes text through."""
    redactor = Redactor(patterns={"ticket": r"TCK-\d{6}"})
    assert redactor.redact("see TCK-123456 from a@b.example") == (
        "see [REDACTED:ticket] from [REDACTED:email]"
    )
    with pytest.raises(ConfigurationError, match=r"redaction.patterns: invalid regular expression"):
        Redactor(patterns={"bad": "("})
    with pytest.raises(ConfigurationError, match="letters, digits"):
        Redactor(patterns={"bad name": "x"})
    assert Redactor(enabled=False).redact("a@b.example") == "a@b.example"
    assert Redactor(enabled=False).redact_fields({"password": "x"}) == {"password": "x"}
