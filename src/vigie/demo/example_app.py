"""The example app of ``vigie demo``: a small FAQ API of a public-service website, instrumented.

It is a plain FastAPI app, written the way a user would write theirs, plus the two vigie lines:
``vigie.instrument_fastapi(app)`` (HTTP metrics, ``/metrics``, ``/health``) and a few health checks.
Its routes give the traffic generator a realistic mix to drive: path parameters (so ``http_route``
shows templates such as ``/faq/{faq_id}``), 404s, validation errors (422), an answer endpoint that
sometimes fails with a 5xx (an overloaded answer engine), a slow report and a streamed answer.

Example::

    import uvicorn
    from vigie.demo.example_app import create_app

    uvicorn.run(create_app(), port=8000)   # then open http://127.0.0.1:8000/metrics
"""

from __future__ import annotations

import asyncio
import random
import re
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import StreamingResponse
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

import vigie
from vigie.integrations.fastapi import instrument_fastapi
from vigie.sdk.health import HealthRegistry, default_health, disk_check, index_check

__all__ = ["CORPUS", "FaqEntry", "Feedback", "create_app"]


@dataclass(frozen=True)
class FaqEntry:
    """One question of the FAQ and its answer."""

    faq_id: int
    category: str
    question: str
    answer: str


CORPUS: tuple[FaqEntry, ...] = (
    FaqEntry(1, "identity", "How do I renew my passport?",
             "Book an appointment at a town hall with a passport desk, bring your old passport, "
             "a recent photo and the stamp duty receipt; the new passport is ready in about "
             "three weeks."),
    FaqEntry(2, "identity", "What do I do if I lose my identity card?",
             "Declare the loss online or at the police station, then apply for a new card with "
             "the declaration receipt, a photo and a proof of address."),
    FaqEntry(3, "identity", "Can I apply for an identity card for my child?",
             "Yes: a parent with parental authority applies in person with the child, the "
             "parent's own identity document and the family record book."),
    FaqEntry(4, "taxes", "When is the income tax return due?",
             "The online return opens in April and closes between late May and early June, "
             "depending on your department; paper returns are due mid-May."),
    FaqEntry(5, "taxes", "How do I pay my property tax in instalments?",
             "Sign up for monthly direct debit in your online tax account before the 30th of "
             "the month for debits to start the following month."),
    FaqEntry(6, "taxes", "Who can help me fill in my tax return?",
             "The public finance centre answers by phone, by secure message from your online "
             "account, or in person at a France Services desk."),
    FaqEntry(7, "housing", "How do I report a change of address?",
             "Use the online change-of-address service once: it informs the tax office, social "
             "security, the family allowance fund and energy suppliers."),
    FaqEntry(8, "housing", "Am I eligible for housing assistance?",
             "Eligibility depends on your income, rent and household; run the simulator of the "
             "family allowance fund, then apply online with your lease."),
    FaqEntry(9, "housing", "How do I get a residential parking permit?",
             "Apply online with a proof of address under three months old and the vehicle "
             "registration certificate in your name; the permit is valid one year."),
    FaqEntry(10, "city", "When are bulky items collected?",
             "Bulky items are collected on appointment: book a slot online or by phone, and "
             "leave the items outside the evening before."),
    FaqEntry(11, "city", "How do I get a library card?",
             "Library cards are free for residents: bring an identity document and a proof of "
             "address to any municipal library."),
    FaqEntry(12, "city", "How do I register to vote?",
             "Register online, at the town hall or by post until the sixth Friday before the "
             "election, with an identity document and a proof of address."),
)  # fmt: skip

_WORD = re.compile(r"[a-z]+")
_STOPWORDS = frozenset(
    ("a", "an", "and", "at", "by", "can", "do", "for", "how", "i", "if", "in", "is", "my", "of",
     "on", "or", "the", "to", "what", "when", "who", "with")
)  # fmt: skip


def _words(text: str) -> set[str]:
    return {word for word in _WORD.findall(text.lower()) if word not in _STOPWORDS}


class _Index:
    """A keyword index of the corpus: small, deterministic, and enough for a demo."""

    def __init__(self, corpus: tuple[FaqEntry, ...]) -> None:
        self.entries = {entry.faq_id: entry for entry in corpus}
        self._terms = {
            entry.faq_id: _words(entry.question + " " + entry.answer) for entry in corpus
        }

    def __len__(self) -> int:
        return len(self.entries)

    def search(self, query: str) -> tuple[FaqEntry | None, float]:
        """The best entry for ``query`` and a confidence in [0, 1] (overlap of keywords)."""
        terms = _words(query)
        if not terms:
            return None, 0.0
        best_id, best = max(
            ((faq_id, len(terms & words) / len(terms)) for faq_id, words in self._terms.items()),
            key=lambda pair: pair[1],
        )
        return (self.entries[best_id], round(best, 3)) if best > 0 else (None, 0.0)


class Feedback(BaseModel):
    """A reader's verdict on an answer."""

    helpful: bool
    comment: str | None = None


def create_app(
    *,
    health: HealthRegistry | None = None,
    registry: CollectorRegistry | None = None,
    error_rate: float = 0.05,
    slow_seconds: tuple[float, float] = (0.2, 1.0),
    seed: int | None = None,
) -> FastAPI:
    """The instrumented FAQ app.

    ``health`` receives the app's checks (default: the process-wide registry ``/health`` serves),
    ``registry`` the HTTP metrics (default: the SDK's), ``error_rate`` is the share of ``/ask``
    requests that fail with a 5xx, ``slow_seconds`` the range of ``/reports`` latencies and
    ``seed`` makes both reproducible.
    """
    index = _Index(CORPUS)
    feedback: Counter[tuple[int, bool]] = Counter()
    chance = random.Random(seed)
    app = FastAPI(
        title="vigie demo: public-service FAQ",
        version=vigie.__version__,
        description="An example app instrumented with vigie; see /metrics and /health.",
    )

    @app.get("/")
    async def home() -> dict[str, Any]:
        return {
            "service": "vigie demo FAQ",
            "links": {"docs": "/docs", "metrics": "/metrics", "health": "/health"},
        }

    @app.get("/faq")
    async def list_questions(category: str | None = None) -> list[dict[str, Any]]:
        return [
            {"faq_id": entry.faq_id, "category": entry.category, "question": entry.question}
            for entry in CORPUS
            if category is None or entry.category == category
        ]

    @app.get("/faq/{faq_id}")
    async def get_answer(faq_id: int) -> FaqEntry:
        entry = index.entries.get(faq_id)
        if entry is None:
            raise HTTPException(404, f"no question {faq_id}")
        return entry

    @app.get("/categories/{category}/faq")
    async def category_questions(category: str) -> list[FaqEntry]:
        entries = [entry for entry in CORPUS if entry.category == category]
        if not entries:
            raise HTTPException(404, f"no category {category!r}")
        return entries

    @app.get("/ask")
    async def ask(q: str = Query(min_length=3, max_length=300)) -> dict[str, Any]:
        await asyncio.sleep(chance.uniform(0.005, 0.05))  # the answer engine thinks
        if chance.random() < error_rate:
            status = chance.choice([500, 503])
            raise HTTPException(status, "the answer engine is overloaded, retry later")
        entry, confidence = index.search(q)
        if entry is None or confidence < 0.25:
            return {"answer": None, "faq_id": None, "confidence": confidence}
        return {"answer": entry.answer, "faq_id": entry.faq_id, "confidence": confidence}

    @app.get("/ask/stream")
    async def ask_streaming(q: str = Query(min_length=3, max_length=300)) -> StreamingResponse:
        entry, _ = index.search(q)
        answer = entry.answer if entry else "Sorry, I have no answer to that question."

        async def tokens() -> AsyncIterator[str]:
            for word in answer.split():
                await asyncio.sleep(0.02)
                yield word + " "

        return StreamingResponse(tokens(), media_type="text/plain; charset=utf-8")

    @app.get("/reports/{period}")
    async def report(period: str) -> dict[str, Any]:
        if period not in ("daily", "weekly", "monthly"):
            raise HTTPException(404, f"no report {period!r}")
        await asyncio.sleep(chance.uniform(*slow_seconds))  # an expensive aggregation
        return {
            "period": period,
            "questions": len(index),
            "helpful": sum(n for (_, helpful), n in feedback.items() if helpful),
            "not_helpful": sum(n for (_, helpful), n in feedback.items() if not helpful),
        }

    @app.post("/feedback/{faq_id}", status_code=201)
    async def give_feedback(faq_id: int, verdict: Feedback) -> dict[str, Any]:
        if faq_id not in index.entries:
            raise HTTPException(404, f"no question {faq_id}")
        feedback[faq_id, verdict.helpful] += 1
        return {"faq_id": faq_id, "recorded": True}

    _add_checks(health if health is not None else default_health(), index)
    options: dict[str, Any] = {} if registry is None else {"registry": registry}
    instrument_fastapi(app, **options)
    return app


def _add_checks(health: HealthRegistry, index: _Index) -> None:
    """The demo's health checks: its index (required), disk and answer engine (optional)."""
    if health.version is None:
        health.version = vigie.__version__

    async def answer_engine() -> str:
        await asyncio.sleep(0.002)  # stands for a ping of the LLM backend
        return "simulated answer engine reachable"

    for name in ("faq_index", "disk", "answer_engine"):
        if name in health.names:  # create_app called again in the same process
            health.remove_check(name)
    health.add_check("faq_index", index_check(lambda: index), timeout=1.0)
    health.add_check(
        "disk",
        disk_check(tempfile.gettempdir(), min_free_bytes=50 * 1024 * 1024),
        timeout=1.0,
        required=False,
    )
    health.add_check("answer_engine", answer_engine, timeout=1.0, required=False)
