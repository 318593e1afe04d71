"""Quality samples to a vigie server URL, and logs and traces to an OTLP endpoint."""

from __future__ import annotations

import io
import json
from typing import Any

from support import free_port
from support.otlp_receiver import OtlpReceiver, reset_opentelemetry
from support.webhook_sink import WebhookSink
from vigie.demo.faq_app import FaqSettings
from vigie.demo.launcher import DemoOptions, run_demo

QUESTION = "How do I renew my passport?"


def test_quality_samples_go_to_the_vigie_url(faq_server: Any) -> None:
    """With vigie_url, answers, classifications and ratings are sampled; no text leaves the app."""
    with WebhookSink() as sink:
        settings = FaqSettings(vigie_url=sink.url, sample_ratio=1.0, seed=2)
        with faq_server(settings) as served:
            asked = served.http.post("/ask", json={"question": QUESTION, "strategy": "rag"})
            served.http.post("/classify", json={"text": "income tax return"})
            served.http.post(
                f"/answers/{asked.json()['question_id']}/feedback", json={"rating": "up"}
            )
        bodies = sink.wait_for(1, prefix="/api/v1/quality/samples")
    samples = [sample for body in bodies for sample in body["samples"]]
    assert bodies[0]["version"] == 1
    assert sorted(sample["model"] for sample in samples) == [
        "faq_answer",
        "faq_answer",
        "faq_answer",
        "faq_category",
    ]
    answer = next(s for s in samples if "answer.length" in s.get("numeric", {}))
    assert answer["numeric"]["text.question.length"] == len(QUESTION)
    assert answer["categorical"]["answer.refusal"] == "false"
    assert {"feedback": "up"}.items() <= next(s for s in samples if "feedback" in s).items()
    assert "passport" not in json.dumps(bodies).lower()


def test_demo_sends_logs_and_traces_to_otlp() -> None:
    """`vigie demo --otlp-endpoint` exports the answer spans and log lines, then shuts down."""
    reset_opentelemetry()
    try:
        with OtlpReceiver() as receiver:
            options = DemoOptions(
                port=free_port(), duration=2.5, rate=15, otlp_endpoint=receiver.endpoint, seed=3
            )
            assert run_demo(options, out=io.StringIO()) == 0
            spans = receiver.wait_for_spans(1)
            logs = receiver.wait_for_logs(1)
    finally:
        reset_opentelemetry()
    names = {span["name"] for span in spans}
    assert "faq.answer" in names
    assert any(name.startswith("POST /ask") for name in names), names
    assert any("answered question" in str(record.get("body")) for record in logs)
    assert not any("passport" in str(record.get("body")).lower() for record in logs)
