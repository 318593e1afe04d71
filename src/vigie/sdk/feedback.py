"""User feedback on AI answers: thumbs up/down or a 1–5 score, aggregated per feature.

Satisfaction is the signal an AI app most lacks: an answer can be fast, cheap and wrong.
:func:`record_feedback` counts ratings per ``target`` (the feature rated: ``answer``,
``search``, ``summary``...). Privacy by default: only aggregated counts are kept. A comment or a
user id is dropped unless the user gave consent (``consent=True``); then the full record goes to
a sink you choose (by default a small in-memory buffer, :func:`consented_feedback`), and still
never into metric labels. A ready ``POST /feedback`` endpoint for FastAPI is in
:mod:`vigie.integrations.fastapi_feedback`.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> record_feedback("answer", "up", registry=registry)
    >>> record_feedback("answer", 4, registry=registry)
    >>> registry.get_sample_value("user_feedback_total", {"target": "answer", "rating": "4"})
    1.0
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk import instruments
from vigie.sdk.failsafe import guard

__all__ = [
    "SCORE_BUCKETS",
    "FeedbackRecord",
    "Rating",
    "check_target",
    "consented_feedback",
    "forget_user",
    "normalize_rating",
    "record_feedback",
]

SCORE_BUCKETS = (1, 2, 3, 4, 5)
# A target names a feature, not a conversation or a person: short, and from a fixed vocabulary.
_TARGET = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_THUMBS = {"up": "up", "down": "down", "+1": "up", "-1": "down", "true": "up", "false": "down"}

Rating = str | int | bool


@dataclass(frozen=True)
class FeedbackRecord:
    """One rating with its details, kept only with the user's consent."""

    target: str
    rating: str
    comment: str | None
    user_id: str | None
    timestamp: float


_recent: deque[FeedbackRecord] = deque(maxlen=1000)
# forget_user rebuilds the buffer: no append may slip between its read and its write.
_recent_lock = threading.Lock()


def consented_feedback() -> list[FeedbackRecord]:
    """The most recent consented feedback records (at most 1000), oldest first."""
    return list(_recent)


def forget_user(user_id: str) -> int:
    """Delete every record of ``user_id`` from the in-memory buffer; returns how many.

    The right to erasure (GDPR art. 17) for the default sink: an app that keeps consented
    feedback elsewhere (its own ``sink``) deletes it there. The aggregated counters hold no id.

    >>> record_feedback("answer", "up", user_id="u-1", consent=True, registry=CollectorRegistry())
    >>> forget_user("u-1"), [r for r in consented_feedback() if r.user_id == "u-1"]
    (1, [])
    """
    with _recent_lock:
        kept = [record for record in _recent if record.user_id != user_id]
        removed = len(_recent) - len(kept)
        _recent.clear()
        _recent.extend(kept)
    return removed


def normalize_rating(rating: Rating) -> str:
    """``"up"``/``"down"`` for thumbs (also ``True``/``False``), ``"1"``..``"5"`` for scores.

    Raises ``ValueError`` for anything else, naming the value.
    """
    if isinstance(rating, bool):
        return "up" if rating else "down"
    if isinstance(rating, int):
        if 1 <= rating <= 5:
            return str(rating)
        raise ValueError(f"rating must be 1 to 5, got {rating}")
    if isinstance(rating, str):
        text = rating.strip().lower()
        if text in _THUMBS:
            return _THUMBS[text]
        if text in {"1", "2", "3", "4", "5"}:
            return text
    raise ValueError(f"rating must be 'up', 'down' or 1 to 5, got {rating!r}")


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.total = instruments.counter(
            "user_feedback",
            "Feedback received, by target and rating (up, down, 1..5).",
            ["target", "rating"],
            registry=registry,
        )
        self.score = instruments.histogram(
            "user_feedback_score",
            "1-5 scores (thumbs are not scores and are not observed here).",
            ["target"],
            buckets=SCORE_BUCKETS,
            registry=registry,
        )
        self.comments = instruments.counter(
            "user_feedback_comments",
            "Feedback that came with a comment (the text itself is never a label).",
            ["target"],
            registry=registry,
        )


_metrics = instruments.PerRegistry(_Metrics)


def check_target(target: str) -> str:
    """Return ``target`` if it is a valid feature name, else raise ``InstrumentationError``."""
    if not _TARGET.fullmatch(target):
        raise InstrumentationError(
            f"feedback target must be a short feature name (letters, digits, _ . : -), "
            f"got {target!r}"
        )
    return target


def record_feedback(
    target: str,
    rating: Rating,
    *,
    comment: str | None = None,
    user_id: str | None = None,
    consent: bool = False,
    sink: Callable[[FeedbackRecord], None] | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Count one rating of ``target``; keep ``comment`` and ``user_id`` only with ``consent``.

    ``rating`` is ``"up"``/``"down"`` (or ``True``/``False``) or a 1–5 score. An invalid rating
    or target raises at once (``ValueError`` / ``InstrumentationError``): it is a programming
    error, not a measurement. With consent the record goes to ``sink`` (default: the in-memory
    buffer read by :func:`consented_feedback`).
    """
    check_target(target)
    value = normalize_rating(rating)
    with guard("record_feedback"):
        metrics = _metrics(registry)
        metrics.total.labels(target, value).inc()
        if value.isdigit():
            metrics.score.labels(target).observe(int(value))
        if comment:
            metrics.comments.labels(target).inc()
    if consent and (comment or user_id):
        record = FeedbackRecord(target, value, comment, user_id, time.time())
        with guard("feedback sink"):
            if sink is not None:
                sink(record)
            else:
                with _recent_lock:
                    _recent.append(record)
