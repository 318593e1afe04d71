"""The FAQ assistant's answering logic, framework-free: three strategies, one confidence.

=============== =================================================== ==============================
strategy        how it answers                                      confidence
=============== =================================================== ==============================
``retrieval``   the answer of the closest FAQ entry (FAISS)          from the top cosine score
``rag``         the LLM, given the 3 closest entries as context     from the top cosine score
``llm``         the LLM alone, no context                           0.6 × the classifier's
=============== =================================================== ==============================

A ``rag`` answer whose LLM call fails falls back to the retrieval answer (``degraded: true``), as a
careful production app would; an ``llm`` answer whose call fails is an error for the caller.
Below a retrieval confidence of 0.2, ``retrieval`` admits it has no answer.

Nothing the reader typed is logged, stored or put in a label: the history keeps the strategy,
category, entry id and scores; quality samples keep only text properties.

Example::

    assistant = FaqAssistant(knowledge, client, model="gpt-4o-mini")
    answer = await assistant.answer("How do I renew my passport?", "rag")
    answer.text, answer.confidence
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from vigie.demo.knowledge import FaqKnowledge, Hit, confidence_from_score

__all__ = ["NO_ANSWER", "STRATEGIES", "Answer", "FaqAssistant", "LLMUnavailableError"]

STRATEGIES = ("retrieval", "rag", "llm")
NO_ANSWER = "Sorry, I have no answer to that question. Please contact the town hall."
_MIN_CONFIDENCE = 0.2
_SYSTEM = (
    "You are the assistant of a city's public-service website. Answer the resident's question "
    "in two or three sentences, from the context when there is one."
)
_VERBOSE = " Answer in full detail, covering every case, exception and document."


class LLMUnavailableError(Exception):
    """The LLM call failed and the strategy has no fallback (carries the provider's error)."""


@dataclass
class Answer:
    """One answer and what it was built from."""

    strategy: str
    text: str
    confidence: float
    category: str
    hits: list[Hit] = field(default_factory=list)
    degraded: bool = False

    @property
    def faq_id(self) -> int | None:
        """The FAQ entry the answer comes from (None for an LLM-only answer)."""
        return self.hits[0].entry.faq_id if self.hits and self.strategy != "llm" else None


class FaqAssistant:
    """Answers questions with ``knowledge`` (FAISS + classifier) and an OpenAI-compatible client.

    ``verbose`` (the ``cost`` drill) asks the LLM for long answers within ``verbose_max_tokens``,
    with a larger context.
    """

    def __init__(
        self,
        knowledge: FaqKnowledge,
        client: Any,
        *,
        model: str = "gpt-4o-mini",
        max_tokens: int = 300,
        verbose_max_tokens: int = 4000,
    ) -> None:
        self.knowledge = knowledge
        self.client = client
        self.model = model
        self.max_tokens = max_tokens
        self.verbose_max_tokens = verbose_max_tokens
        self.verbose = False

    def _context(self, question: str, strategy: str) -> tuple[list[Hit], float, str]:
        hits = self.knowledge.search(question, k=8 if self.verbose else 3)
        confidence = confidence_from_score(hits[0].score) if hits else 0.0
        category = hits[0].entry.category if hits else "none"
        return hits, confidence, category

    def _messages(self, question: str, hits: list[Hit]) -> list[dict[str, str]]:
        system = _SYSTEM + (_VERBOSE if self.verbose else "")
        if hits:
            system += "\nContext:\n" + "\n".join(
                f"Q: {hit.entry.question} A: {hit.entry.answer}" for hit in hits
            )
        return [{"role": "system", "content": system}, {"role": "user", "content": question}]

    def _request(self, question: str, hits: list[Hit]) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": self._messages(question, hits),
            "max_tokens": self.verbose_max_tokens if self.verbose else self.max_tokens,
        }

    def _plan(self, question: str, strategy: str) -> tuple[Answer, list[Hit]]:
        """The answer's frame before the LLM, and the context hits to give the LLM."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
        hits, confidence, category = self._context(question, strategy)
        if strategy == "llm":
            classification = self.knowledge.classify(question)
            frame = Answer("llm", "", round(0.6 * classification.confidence, 4),
                           classification.label, hits)  # fmt: skip
            return frame, []
        if confidence < _MIN_CONFIDENCE:
            category = "none"
        text = hits[0].entry.answer if hits and confidence >= _MIN_CONFIDENCE else NO_ANSWER
        return Answer(strategy, text, confidence, category, hits), hits[: 8 if self.verbose else 3]

    async def answer(self, question: str, strategy: str) -> Answer:
        """Answer ``question`` by ``strategy``; a failed ``llm`` call raises LLMUnavailableError."""
        import openai

        frame, context = self._plan(question, strategy)
        if strategy == "retrieval":
            return frame
        try:
            response = await self.client.chat.completions.create(**self._request(question, context))
        except openai.APIError as error:
            if strategy == "llm":
                raise LLMUnavailableError(type(error).__name__) from error
            frame.degraded = True  # rag: the retrieval answer is still worth giving
            return frame
        frame.text = response.choices[0].message.content or ""
        return frame

    async def stream(self, question: str, strategy: str) -> tuple[Answer, AsyncIterator[str]]:
        """The answer's frame and an iterator of its text pieces, as the LLM streams them."""
        import openai

        frame, context = self._plan(question, strategy)
        if strategy == "retrieval":

            async def whole() -> AsyncIterator[str]:
                yield frame.text

            return frame, whole()
        try:
            stream = await self.client.chat.completions.create(
                **self._request(question, context),
                stream=True,
                stream_options={"include_usage": True},
            )
        except openai.APIError as error:
            raise LLMUnavailableError(type(error).__name__) from error

        async def pieces() -> AsyncIterator[str]:
            parts: list[str] = []
            try:
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
                        yield chunk.choices[0].delta.content
            finally:
                frame.text = "".join(parts)

        return frame, pieces()
