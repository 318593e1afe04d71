"""The FAQ assistant end to end: real uvicorn, openai client, simulator, FAISS, SQLite, Alembic."""

from __future__ import annotations

from typing import Any

import pytest

from vigie.demo.corpus import load_corpus
from vigie.demo.faq_app import FaqSettings

PASSPORT = "How do I renew my passport?"


Served = Any  # tests/demo/conftest.py: Served


def test_each_strategy_answers(served: Served) -> None:
    """Retrieval, RAG and LLM-only answer; LLM, retrieval and prediction metrics record it."""
    passport = load_corpus()[0]
    answers = {
        strategy: served.http.post("/ask", json={"question": PASSPORT, "strategy": strategy})
        for strategy in ("retrieval", "rag", "llm")
    }
    assert {s: r.status_code for s, r in answers.items()} == dict.fromkeys(answers, 200)
    retrieval, rag, llm = (answers[s].json() for s in ("retrieval", "rag", "llm"))
    assert retrieval["answer"] == passport.answer
    assert retrieval["sources"][0] == 1
    assert retrieval["confidence"] == 1.0
    assert rag["answer"] == f"Here is what the city's services say: {passport.answer}"
    assert rag["degraded"] is False
    assert llm["sources"] == []
    assert 0 < llm["confidence"] <= 0.6
    assert llm["answer"].startswith("About 'How do I renew my passport'")
    ok = {"outcome": "success", "gen_ai_request_model": "gpt-4o-mini"}
    assert served.metric("gen_ai_client_requests_total", ok) == 2
    assert served.metric("retrieval_searches_total", {"retriever": "faq"}) == 3
    assert served.metric("retrieval_index_size", {"retriever": "faq"}) == 60
    labels = {"model": "faq_answer", "label": "identity"}
    assert served.metric("ml_predictions_total", labels) == 3
    assert served.metric("gen_ai_client_cost_total", {"currency": "USD"}) > 0
    history = served.http.get("/history").json()
    assert [row["strategy"] for row in history] == ["llm", "rag", "retrieval"]
    assert "question" not in history[0]  # the reader's text is never stored


def test_default_strategy_follows_the_weights(faq_server: Any) -> None:
    """Without a strategy, the configured weights choose (here only retrieval)."""
    settings = FaqSettings(strategy_weights={"retrieval": 1.0}, seed=1)
    with faq_server(settings) as served:
        strategies = {
            served.http.post("/ask", json={"question": PASSPORT}).json()["strategy"]
            for _ in range(5)
        }
        assert strategies == {"retrieval"}
        assert served.metric("gen_ai_client_requests_total") == 0


def test_streamed_answer_is_measured(served: Served) -> None:
    """/ask/stream relays the LLM's chunks; time to first chunk and the history are recorded."""
    lost = load_corpus()[1]
    response = served.http.post("/ask/stream", json={"question": lost.question, "strategy": "rag"})
    assert response.status_code == 200
    assert response.text == f"Here is what the city's services say: {lost.answer}"
    assert response.headers["x-strategy"] == "rag"
    assert served.metric("gen_ai_client_operation_time_to_first_chunk_seconds_count") == 1
    assert served.metric("gen_ai_client_tokens_total", {"gen_ai_token_type": "output"}) > 10
    assert served.http.get("/history").json()[0]["faq_id"] == 2


def test_classifier_and_feedback(served: Served) -> None:
    """/classify predicts a category with confidence; ratings of answers are counted and stored."""
    classified = served.http.post("/classify", json={"text": "when is my income tax return due"})
    assert classified.json()["label"] == "taxes"
    assert classified.json()["confidence"] > 0.9
    assert served.metric("ml_predictions_total", {"model": "faq_category", "label": "taxes"}) == 1
    question_id = served.http.post("/ask", json={"question": PASSPORT, "strategy": "retrieval"})
    rated = served.http.post(
        f"/answers/{question_id.json()['question_id']}/feedback", json={"rating": "up"}
    )
    assert rated.status_code == 202
    assert served.http.post("/answers/999/feedback", json={"rating": "up"}).status_code == 404
    bad = served.http.post("/answers/1/feedback", json={"rating": 9})
    assert bad.status_code == 422
    assert served.metric("user_feedback_total", {"target": "answer", "rating": "up"}) == 1


def test_login_failures_are_counted_by_reason(served: Served) -> None:
    """Wrong passwords and unknown users are 401s counted by reason; the right password works."""
    wrong = served.http.post("/login", json={"username": "demo", "password": "nope"})
    unknown = served.http.post("/login", json={"username": "admin", "password": "open-sesame"})
    right = served.http.post("/login", json={"username": "demo", "password": "open-sesame"})
    assert (wrong.status_code, unknown.status_code, right.status_code) == (401, 401, 200)
    assert served.metric("vigie_auth_failures_total", {"reason": "bad_password"}) == 1
    assert served.metric("vigie_auth_failures_total", {"reason": "unknown_user"}) == 1


def test_health_checks_pass(served: Served) -> None:
    """/health runs the database, index, schema and LLM checks, all passing."""
    document = served.http.get("/health").json()
    assert document["status"] == "ok"
    messages = {name: check["message"] for name, check in document["checks"].items()}
    assert messages == {
        "database": "SELECT 1 ok (sqlite)",
        "faq_index": "index has 60 items",
        "schema": "at head 0002_feedback",
        "llm_backend": "LLM backend reachable (1 models)",
    }
    assert served.metric("vigie_health_check_status", {"check": "schema"}) == 1
    schema = served.http.get("/openapi.json").json()
    assert {"/ask", "/ask/stream", "/classify", "/login"} <= set(schema["paths"])


def test_bad_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLM, unknown strategies or an error share outside [0, 1] are configuration errors."""
    from vigie.demo.faq_app import create_faq_app
    from vigie.exceptions import ConfigurationError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="no LLM: give llm_base_url"):
        create_faq_app(FaqSettings())
    with pytest.raises(ConfigurationError, match="schema_behind"):
        create_faq_app(FaqSettings(llm_base_url="http://127.0.0.1:9/v1", schema_behind=5))

    with pytest.raises(ConfigurationError, match="strategy_weights"):
        FaqSettings(strategy_weights={"magic": 1.0})
    with pytest.raises(ConfigurationError, match="drill_error_share"):
        FaqSettings(drill_error_share=2)
