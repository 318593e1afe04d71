"""Each drill's fault, switched through POST /_drill/{name}, is visible in the app's /metrics."""

from __future__ import annotations

from typing import Any

from vigie.demo.drills import DRILLS
from vigie.demo.faq_app import FaqSettings

Served = Any  # tests/demo/conftest.py: Served
PASSPORT = "How do I renew my passport?"
RATE_LIMITED = {"outcome": "error", "error_type": "rate_limit"}


def _ask(served: Served, strategy: str) -> Any:
    return served.http.post("/ask", json={"question": PASSPORT, "strategy": strategy})


def test_drill_endpoints_need_the_token(served: Served) -> None:
    """Without the token: 401 and an auth failure; unknown drills 404; `down` is not a switch."""
    anonymous = served.http.post("/_drill/errors", json={"active": True})
    forged = served.http.post(
        "/_drill/errors", json={"active": True}, headers={"Authorization": "Bearer forged"}
    )
    assert (anonymous.status_code, forged.status_code) == (401, 401)
    assert served.metric("vigie_auth_failures_total", {"reason": "invalid_token"}) == 1
    assert served.metric("vigie_auth_failures_total", {"reason": "missing_credentials"}) == 1
    assert served.drill("nope", True).status_code == 404
    assert served.drill("down", True).status_code == 400
    listing = served.http.get(
        "/_drill", headers={"Authorization": f"Bearer {served.service.drills.token}"}
    )
    assert listing.json() == {"available": list(DRILLS), "active": []}


def test_llm_errors_drill_makes_rate_limits(served: Served) -> None:
    """llm-errors: the LLM answers 429; RAG degrades to retrieval, LLM-only answers 503."""
    assert served.drill("llm-errors", True).json()["detail"] == "LLM answers 429 rate limits"
    rag, llm = _ask(served, "rag"), _ask(served, "llm")
    assert rag.status_code == 200
    assert rag.json()["degraded"] is True
    assert llm.status_code == 503
    assert served.metric("gen_ai_client_requests_total", RATE_LIMITED) == 2
    served.drill("llm-errors", False)
    assert _ask(served, "llm").status_code == 200
    assert served.metric("gen_ai_client_requests_total", RATE_LIMITED) == 2
    assert served.metric("gen_ai_client_requests_total", {"outcome": "success"}) == 1


def test_latency_drill_slows_the_llm(faq_server: Any) -> None:
    """latency: every LLM call takes `slow_seconds` longer, in the GenAI duration histogram."""
    with faq_server(slow_seconds=0.4) as served:
        served.drill("latency", True)
        assert _ask(served, "llm").status_code == 200
        slow = served.metric("gen_ai_client_operation_duration_seconds_sum")
        served.drill("latency", False)
        assert _ask(served, "llm").status_code == 200
        total = served.metric("gen_ai_client_operation_duration_seconds_sum")
    assert slow >= 0.4
    assert total - slow < 0.2


def test_errors_drill_makes_5xx(faq_server: Any) -> None:
    """errors: the configured share of /ask and /classify fail with 500, then none."""
    with faq_server(FaqSettings(drill_error_share=1.0)) as served:
        served.drill("errors", True)
        failed = [_ask(served, "retrieval").status_code for _ in range(3)]
        classify = served.http.post("/classify", json={"text": "passport"}).status_code
        served.drill("errors", False)
        healed = _ask(served, "retrieval").status_code
        errors = served.metric(
            "http_server_request_duration_seconds_count",
            {"http_route": "/ask", "http_response_status_code": "500"},
        )
    assert (failed, classify, healed) == ([500, 500, 500], 500, 200)
    assert errors == 3


def test_cost_drill_multiplies_tokens(served: Served) -> None:
    """cost: answers ask for up to 4000 tokens and a larger context; tokens and spend jump."""
    output = {"gen_ai_token_type": "output"}
    assert _ask(served, "rag").status_code == 200
    normal_tokens = served.metric("gen_ai_client_tokens_total", output)
    normal_cost = served.metric("gen_ai_client_cost_total", {"currency": "USD"})
    served.drill("cost", True)
    verbose = _ask(served, "rag")
    spike_tokens = served.metric("gen_ai_client_tokens_total", output) - normal_tokens
    spike_cost = served.metric("gen_ai_client_cost_total", {"currency": "USD"}) - normal_cost
    assert verbose.status_code == 200
    assert len(verbose.json()["sources"]) == 8
    assert spike_tokens == 3600  # 90 % of max_tokens=4000
    assert spike_tokens > 20 * normal_tokens
    assert spike_cost > 10 * normal_cost


def test_schema_drill_moves_the_database_behind_head(served: Served) -> None:
    """schema: the database goes one revision back; /health names both revisions; then heals."""
    switched = served.drill("schema", True).json()
    assert switched["detail"] == "database at revision 0001_questions"
    health = served.http.get("/health")
    assert health.status_code == 503
    schema = health.json()["checks"]["schema"]
    assert schema["status"] == "failed"
    assert schema["message"].startswith(
        "database is at revision 0001_questions, head is 0002_feedback: 1 migration not applied"
    )
    assert served.metric("vigie_health_check_status", {"check": "schema"}) == 0
    assert served.metric("vigie_health_status", {"status": "down"}) == 1
    asked = served.http.post("/ask", json={"question": PASSPORT, "strategy": "retrieval"})
    question_id = asked.json()["question_id"]
    rated = served.http.post(f"/answers/{question_id}/feedback", json={"rating": "up"})
    assert rated.status_code == 500
    assert rated.json() == {"detail": "the rating could not be stored (database error)"}
    served.drill("schema", False)
    assert served.http.get("/health").json()["checks"]["schema"]["message"] == (
        "at head 0002_feedback"
    )


def test_app_started_one_revision_behind(faq_server: Any) -> None:
    """schema_behind=1 starts the app with 0002_feedback not applied; /health pinpoints it."""
    with faq_server(FaqSettings(schema_behind=1)) as served:
        document = served.http.get("/health").json()
        active = served.service.drills.active()
    assert active == {"schema"}
    assert document["status"] == "down"
    assert "head is 0002_feedback" in document["checks"]["schema"]["message"]
    assert document["checks"]["database"]["status"] == "ok"


def test_traffic_drills_are_flags(served: Served) -> None:
    """drift and auth only set flags, which the traffic generator follows."""
    assert served.drill("drift", True).json()["detail"] == "flag set; the traffic follows it"
    served.drill("auth", True)
    assert served.service.drills.active() == {"drift", "auth"}
    served.drill("drift", False)
    assert served.service.drills.active() == {"auth"}
