"""The demo application: a FAQ assistant for a public-service website, fully instrumented.

A reader asks a question; the app answers from a corpus of 60 questions (FAISS retrieval over a
local embedder), from an LLM given the closest entries (RAG), or from the LLM alone. Every layer
reports to vigie: HTTP (:func:`vigie.instrument_fastapi`), the LLM (:func:`vigie.instrument_openai`
on the real ``openai`` client), retrieval (:func:`vigie.instrument_faiss`), the database
(:func:`vigie.instrument_sqlalchemy`), predictions, feedback, failed logins, health checks, spans
and logs, and quality samples when a vigie server URL is given.

Routes: ``POST /ask``, ``POST /ask/stream``, ``POST /classify``,
``POST /answers/{question_id}/feedback``, ``POST /login``, ``GET /faq``, ``GET /faq/{faq_id}``,
``GET /history``, the drill switches ``/_drill`` (:mod:`vigie.demo.drills`), and ``/metrics``,
``/health``, ``/health/ready``, ``/health/live``.

Example::

    import uvicorn
    from vigie.demo.faq_app import FaqSettings, create_faq_app

    app = create_faq_app(FaqSettings(llm_base_url="http://127.0.0.1:9901/v1"))
    print("drill token:", app.state.faq.drills.token)
    uvicorn.run(app, port=8000)
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

import vigie
from vigie.demo.assistant import STRATEGIES, Answer, FaqAssistant, LLMUnavailableError
from vigie.demo.corpus import CORPUS_PATH, load_corpus
from vigie.demo.drills import DrillState, drill_router
from vigie.demo.embedding import load_embedder
from vigie.demo.history import MIGRATIONS, History, migrate
from vigie.demo.knowledge import FaqKnowledge
from vigie.demo.llm_backend import SimulatedBehaviour, make_client
from vigie.environment_variables import VIGIE_DEMO_PASSWORD
from vigie.exceptions import ConfigurationError
from vigie.integrations.fastapi import instrument_fastapi
from vigie.integrations.sqlalchemy import instrument_sqlalchemy
from vigie.sdk.auth import record_auth_failure
from vigie.sdk.feedback import record_feedback
from vigie.sdk.health import (
    HealthRegistry,
    alembic_check,
    database_check,
    default_health,
    index_check,
)
from vigie.sdk.predictions import record_prediction
from vigie.sdk.quality_sampling import (
    QualitySampler,
    sample_answer,
    sample_feedback,
    sample_prediction,
)
from vigie.sdk.tracing import span

__all__ = ["DEMO_USER", "FaqService", "FaqSettings", "create_faq_app"]

logger = logging.getLogger("vigie.demo.faq")

#: The one account of the demo's ``/login``; its password is ``VIGIE_DEMO_PASSWORD`` or generated.
DEMO_USER = "demo"
_HEALTH_CHECKS = ("database", "faq_index", "schema", "llm_backend")


@dataclass
class FaqSettings:
    """How the FAQ app runs. Every field has a demo-friendly default.

    - ``database_url``: SQLAlchemy URL of the history; default a SQLite file in a temporary
      folder removed at shutdown. ``schema_behind``: start that many revisions behind head.
    - ``llm_base_url``: the OpenAI-compatible endpoint (the simulator); None with
      ``OPENAI_API_KEY`` set means OpenAI itself. ``model``: the chat model asked for.
    - ``embedder``: ``hashing`` (default) or ``sentence-transformers:<model>`` (local files only).
    - ``vigie_url``: a vigie server to send quality samples to (off when None), with
      ``sample_ratio``.
    - ``password``: the demo user's password (default ``VIGIE_DEMO_PASSWORD``, else generated);
      ``drill_token``: the drill endpoints' token (default generated).
    - ``strategy_weights``: how often each strategy is picked when a request names none.
    - ``drill_error_share``: the share of requests failing while the ``errors`` drill is on.
    """

    database_url: str | None = None
    schema_behind: int = 0
    llm_base_url: str | None = None
    openai_api_key: str | None = None
    model: str = "gpt-4o-mini"
    embedder: str = "hashing"
    vigie_url: str | None = None
    sample_ratio: float = 0.25
    password: str | None = None
    drill_token: str | None = None
    strategy_weights: dict[str, float] = field(
        default_factory=lambda: {"retrieval": 0.3, "rag": 0.5, "llm": 0.2}
    )
    drill_error_share: float = 0.5
    seed: int | None = None

    def __post_init__(self) -> None:
        unknown = set(self.strategy_weights) - set(STRATEGIES)
        if unknown or not any(w > 0 for w in self.strategy_weights.values()):
            raise ConfigurationError(
                f"strategy_weights must weigh {', '.join(STRATEGIES)} with at least one > 0, "
                f"got {self.strategy_weights}",
                field="strategy_weights",
            )
        if not 0 <= self.drill_error_share <= 1:
            raise ConfigurationError(
                f"drill_error_share must be in [0, 1], got {self.drill_error_share}",
                field="drill_error_share",
            )


class AskIn(BaseModel):
    """The body of ``POST /ask``."""

    question: Annotated[str, Field(min_length=3, max_length=500)]
    strategy: Literal["retrieval", "rag", "llm"] | None = None

    model_config = {"extra": "forbid"}


class ClassifyIn(BaseModel):
    """The body of ``POST /classify``."""

    text: Annotated[str, Field(min_length=1, max_length=2000)]

    model_config = {"extra": "forbid"}


class RatingIn(BaseModel):
    """The body of ``POST /answers/{question_id}/feedback``."""

    rating: Literal["up", "down"] | Annotated[int, Field(ge=1, le=5)]

    model_config = {"extra": "forbid"}


class LoginIn(BaseModel):
    """The body of ``POST /login``."""

    username: Annotated[str, Field(max_length=200)]
    password: Annotated[str, Field(max_length=200)]

    model_config = {"extra": "forbid"}


class FaqService:
    """Everything the app holds: knowledge, LLM client, history, drills, sampler."""

    def __init__(
        self,
        settings: FaqSettings,
        *,
        registry: CollectorRegistry | None = None,
        behaviour: SimulatedBehaviour | None = None,
    ) -> None:
        if settings.llm_base_url is None and not (settings.openai_api_key or _env_openai_key()):
            raise ConfigurationError(
                "no LLM: give llm_base_url (the simulator) or set OPENAI_API_KEY",
                field="llm_base_url",
            )
        self.settings = settings
        self.registry = registry
        self.behaviour = behaviour
        self.chance = random.Random(settings.seed)
        self.password = settings.password or VIGIE_DEMO_PASSWORD.read() or secrets.token_urlsafe(9)
        self.drills = DrillState(settings.drill_token)
        self.inject_errors = False
        self._tempdir: str | None = None
        url = settings.database_url
        if url is None:
            self._tempdir = tempfile.mkdtemp(prefix="vigie-demo-")
            url = f"sqlite:///{self._tempdir}/faq.db"
        self.engine = instrument_sqlalchemy(
            sa.create_engine(url), name="faq_history", registry=registry
        )
        try:
            migrate(self.engine, behind=settings.schema_behind)
        except BaseException:
            self.engine.dispose()
            self._remove_tempdir()
            raise
        self.history = History(self.engine)
        self.knowledge = FaqKnowledge(
            load_corpus(CORPUS_PATH), load_embedder(settings.embedder), registry=registry
        )
        self.client = make_client(
            base_url=settings.llm_base_url, api_key=settings.openai_api_key, registry=registry
        )
        self.assistant = FaqAssistant(self.knowledge, self.client, model=settings.model)
        self.sampler = (
            QualitySampler(
                settings.vigie_url.rstrip("/") + "/api/v1/quality/samples",
                sample_ratio=settings.sample_ratio,
                flush_interval=2.0,  # a demo wants its samples on the server soon
                registry=registry,
            )
            if settings.vigie_url
            else None
        )
        self._install_drills()
        if settings.schema_behind:
            self.drills.mark("schema")  # switching it off upgrades to head

    def pick_strategy(self) -> str:
        """A strategy drawn with the configured weights."""
        names = [name for name in STRATEGIES if self.settings.strategy_weights.get(name, 0) > 0]
        weights = [self.settings.strategy_weights[name] for name in names]
        return self.chance.choices(names, weights)[0]

    def injected_failure(self) -> bool:
        """True when the ``errors`` drill decides this request fails."""
        return self.inject_errors and self.chance.random() < self.settings.drill_error_share

    def record(self, question: str, answer: Answer, seconds: float) -> int:
        """Metrics, quality samples, log line and history row of one answer; its question id."""
        record_prediction(
            "faq_answer", answer.category, answer.confidence, duration=seconds,
            registry=self.registry,
        )  # fmt: skip
        top = answer.hits[0].score if answer.hits else None
        sample_prediction("faq_answer", answer.category, answer.confidence,
                          texts={"question": question}, sampler=self.sampler)  # fmt: skip
        sample_answer("faq_answer", answer.text, retrieval_top_score=top,
                      sources=len(answer.hits), texts={"question": question},
                      sampler=self.sampler)  # fmt: skip
        question_id = self.history.add_question(
            answer.strategy, answer.category, answer.faq_id, answer.confidence, seconds * 1000
        )
        logger.info(
            "answered question %d with %s (confidence %.2f%s)",
            question_id, answer.strategy, answer.confidence,
            ", degraded" if answer.degraded else "",
            extra={"strategy": answer.strategy, "confidence": answer.confidence},
        )  # fmt: skip
        return question_id

    def _install_drills(self) -> None:
        def lever(name: str) -> SimulatedBehaviour:
            if self.behaviour is None:
                raise LookupError(
                    f"the {name} drill needs the embedded LLM simulator; this app talks to "
                    f"{self.settings.llm_base_url or 'OpenAI'}"
                )
            return self.behaviour

        async def latency(active: bool) -> str:
            behaviour = lever("latency")
            behaviour.slow = active
            return f"LLM latency +{behaviour.slow_seconds:g} s" if active else "LLM latency normal"

        async def llm_errors(active: bool) -> str:
            lever("llm-errors").rate_limited = active
            return "LLM answers 429 rate limits" if active else "LLM rate limits lifted"

        async def errors(active: bool) -> str:
            self.inject_errors = active
            share = self.settings.drill_error_share
            return f"{share:.0%} of /ask and /classify fail with 500" if active else "no 5xx"

        async def cost(active: bool) -> str:
            self.assistant.verbose = active
            tokens = self.assistant.verbose_max_tokens if active else self.assistant.max_tokens
            return f"LLM answers up to {tokens} tokens"

        async def schema(active: bool) -> str:
            revision = await run_in_threadpool(migrate, self.engine, behind=1 if active else 0)
            return f"database at revision {revision}"

        for name, hook in (("latency", latency), ("llm-errors", llm_errors), ("errors", errors),
                           ("cost", cost), ("schema", schema)):  # fmt: skip
            self.drills.on(name, hook)

    def add_checks(self, health: HealthRegistry) -> None:
        """Register the app's health checks on ``health`` (replacing earlier ones)."""
        if health.version is None:
            health.version = vigie.__version__
        for name in _HEALTH_CHECKS:
            if name in health.names:
                health.remove_check(name)
        client = self.client

        async def llm_backend() -> str:
            page = await client.models.list()
            return f"LLM backend reachable ({len(page.data)} models)"

        health.add_check("database", database_check(self.engine), timeout=2.0)
        health.add_check("faq_index", index_check(lambda: self.knowledge.index), timeout=1.0)
        health.add_check(
            "schema", alembic_check(self.engine, script_location=MIGRATIONS), timeout=3.0
        )
        health.add_check("llm_backend", llm_backend, timeout=2.0, required=False)

    async def aclose(self) -> None:
        """Release the client, the sampler, the database and the temporary folder."""
        await self.client.close()
        if self.sampler is not None:  # close() waits for the sender thread: not on the loop
            await run_in_threadpool(self.sampler.close)
        self.engine.dispose()
        self._remove_tempdir()

    def _remove_tempdir(self) -> None:
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None


def _env_openai_key() -> str | None:
    return os.environ.get("OPENAI_API_KEY") or None


def create_faq_app(
    settings: FaqSettings | None = None,
    *,
    registry: CollectorRegistry | None = None,
    health: HealthRegistry | None = None,
    behaviour: SimulatedBehaviour | None = None,
) -> FastAPI:
    """The instrumented FAQ app; ``app.state.faq`` is its :class:`FaqService`.

    ``registry`` receives the metrics (default: the SDK's), ``health`` the checks (default: the
    process-wide registry the middleware serves; a private one is served by the app's own
    routes), ``behaviour`` is the in-process simulator's behaviour (the levers of the
    ``latency`` and ``llm-errors`` drills).
    """
    service = FaqService(settings or FaqSettings(), registry=registry, behaviour=behaviour)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await service.aclose()

    app = FastAPI(
        title="vigie demo: public-service FAQ assistant",
        version=vigie.__version__,
        description="A FAQ assistant instrumented with vigie; see /metrics and /health.",
        lifespan=lifespan,
    )
    app.state.faq = service
    _add_routes(app, service)
    app.include_router(drill_router(service.drills, registry=registry))
    service.add_checks(health if health is not None else default_health())
    if health is not None:
        _serve_health(app, health)
    options: dict[str, Any] = {"serve_health": health is None}
    if registry is not None:
        options["registry"] = registry
    instrument_fastapi(app, **options)
    return app


def _serve_health(app: FastAPI, health: HealthRegistry) -> None:
    """Serve a private health registry (the middleware serves only the process-wide one)."""

    async def respond(request: Request) -> Response:
        answer = await health.respond_async(request.url.path)
        if answer is None:
            raise HTTPException(404)
        return Response(answer.body, answer.status_code, media_type=answer.content_type)

    for path in ("/health", "/health/ready", "/health/live"):
        app.add_api_route(path, respond, methods=["GET"], include_in_schema=False)


def _add_routes(app: FastAPI, service: FaqService) -> None:
    registry = service.registry

    @app.get("/")
    async def home() -> dict[str, Any]:
        return {
            "service": "vigie demo FAQ assistant",
            "strategies": list(STRATEGIES),
            "links": {"docs": "/docs", "metrics": "/metrics", "health": "/health"},
        }

    @app.get("/faq")
    async def list_questions(category: str | None = None) -> list[dict[str, Any]]:
        return [
            {"faq_id": e.faq_id, "category": e.category, "question": e.question}
            for e in service.knowledge.corpus
            if category is None or e.category == category
        ]

    @app.get("/faq/{faq_id}")
    async def get_entry(faq_id: int) -> dict[str, Any]:
        entry = service.knowledge.by_id.get(faq_id)
        if entry is None:
            raise HTTPException(404, f"no question {faq_id}")
        return {"faq_id": entry.faq_id, "category": entry.category,
                "question": entry.question, "answer": entry.answer}  # fmt: skip

    @app.post("/ask")
    async def ask(body: AskIn) -> dict[str, Any]:
        started = time.perf_counter()
        if service.injected_failure():
            raise HTTPException(500, "internal error (injected by the errors drill)")
        strategy = body.strategy or service.pick_strategy()
        with span("faq.answer", strategy=strategy):
            try:
                answer = await service.assistant.answer(body.question, strategy)
            except LLMUnavailableError as error:
                raise HTTPException(503, f"the language model is unavailable ({error})") from None
        seconds = time.perf_counter() - started
        question_id = await run_in_threadpool(service.record, body.question, answer, seconds)
        return {
            "question_id": question_id,
            "strategy": answer.strategy,
            "answer": answer.text,
            "confidence": answer.confidence,
            "category": answer.category,
            "sources": [hit.entry.faq_id for hit in answer.hits] if strategy != "llm" else [],
            "degraded": answer.degraded,
        }

    @app.post("/ask/stream")
    async def ask_streaming(body: AskIn) -> StreamingResponse:
        started = time.perf_counter()
        if service.injected_failure():
            raise HTTPException(500, "internal error (injected by the errors drill)")
        strategy = body.strategy or service.pick_strategy()
        try:
            answer, pieces = await service.assistant.stream(body.question, strategy)
        except LLMUnavailableError as error:
            raise HTTPException(503, f"the language model is unavailable ({error})") from None

        async def relay() -> AsyncIterator[str]:
            async for piece in pieces:
                yield piece
            seconds = time.perf_counter() - started
            await run_in_threadpool(service.record, body.question, answer, seconds)

        return StreamingResponse(
            relay(),
            media_type="text/plain; charset=utf-8",
            headers={"x-strategy": strategy, "x-confidence": f"{answer.confidence:g}"},
        )

    @app.post("/classify")
    async def classify(body: ClassifyIn) -> dict[str, Any]:
        if service.injected_failure():
            raise HTTPException(500, "internal error (injected by the errors drill)")
        started = time.perf_counter()
        result = service.knowledge.classify(body.text)
        seconds = time.perf_counter() - started
        record_prediction("faq_category", result.label, result.confidence, duration=seconds,
                          registry=registry)  # fmt: skip
        sample_prediction("faq_category", result.label, result.confidence,
                          texts={"text": body.text}, sampler=service.sampler)  # fmt: skip
        return {"label": result.label, "confidence": result.confidence}

    @app.post("/answers/{question_id}/feedback", status_code=202)
    async def rate(question_id: int, body: RatingIn) -> dict[str, Any]:
        if not await run_in_threadpool(service.history.has_question, question_id):
            raise HTTPException(404, f"no answered question {question_id}")
        try:
            await run_in_threadpool(service.history.add_feedback, question_id, str(body.rating))
        except sa.exc.SQLAlchemyError as error:  # e.g. the schema drill: the table is missing
            logger.warning("could not store a rating: %s", type(error).__name__)
            raise HTTPException(500, "the rating could not be stored (database error)") from None
        record_feedback("answer", body.rating, registry=registry)
        sample_feedback("faq_answer", body.rating, sampler=service.sampler)
        return {"status": "recorded", "question_id": question_id}

    @app.post("/login")
    async def login(body: LoginIn) -> JSONResponse:
        if body.username != DEMO_USER:
            record_auth_failure("unknown_user", registry=registry)
            return JSONResponse({"detail": "invalid user name or password"}, status_code=401)
        if not secrets.compare_digest(body.password.encode(), service.password.encode()):
            record_auth_failure("bad_password", registry=registry)
            return JSONResponse({"detail": "invalid user name or password"}, status_code=401)
        return JSONResponse({"token": secrets.token_urlsafe(16), "user": DEMO_USER})

    @app.get("/history")
    async def history(limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[dict[str, Any]]:
        return await run_in_threadpool(service.history.recent, limit)
