"""In-app quality sampling: properties without text, bounded queue, real HTTP batches."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from support import free_port
from vigie.quality.service import QualityService
from vigie.sdk.quality_sampling import (
    QualitySampler,
    answer_properties,
    sample_answer,
    sample_feedback,
    sample_prediction,
    text_properties,
)
from vigie.store.memory import MemoryStorage


def test_text_properties() -> None:
    """Length, share of unknown words and language are computed; the text is not returned."""
    assert text_properties("Where is my refund?") == {
        "length": 19,
        "oov_share": 0.0,
        "language": "en",
    }
    assert text_properties("Je ne peux pas payer la facture")["language"] == "fr"
    assert text_properties("xq7 zzkv blorp")["language"] == "unknown"
    assert text_properties("refund zzkv")["oov_share"] == 0.5
    assert text_properties("") == {"length": 0, "oov_share": 0.0, "language": "unknown"}


def test_answer_properties() -> None:
    """Empty and refusal-like answers are recognised."""
    assert answer_properties("  ") == {"length": 0, "empty": True, "refusal": False}
    refusal = answer_properties("As an AI, I cannot do that.", retrieval_top_score=0.3, sources=2)
    assert refusal == {
        "length": 27,
        "empty": False,
        "refusal": True,
        "retrieval_top_score": 0.3,
        "sources": 2,
    }
    assert not answer_properties("Your refund was sent on Monday.")["refusal"]


def test_prediction_sample_carries_properties_not_text(registry: CollectorRegistry) -> None:
    """The question's words never leave the app, only their properties."""
    sampler = QualitySampler(start=False, registry=registry)
    question = "Where is my secret parcel 4242?"
    sample_prediction(
        "intent", "refund", 0.8, numeric={"amount": 3}, categorical={"plan": "pro"},
        texts={"query": question}, sampler=sampler,
    )  # fmt: skip
    (sample,) = sampler.pending()
    assert "secret" not in json.dumps(sample)
    assert sample["numeric"] == {
        "prediction.confidence": 0.8, "amount": 3.0,
        "text.query.length": 31.0, "text.query.oov_share": 0.4,  # secret, parcel of 5 words
    }  # fmt: skip
    assert sample["categorical"] == {
        "prediction.label": "refund",
        "plan": "pro",
        "text.query.language": "en",
    }


def test_full_queue_drops_and_counts(registry: CollectorRegistry) -> None:
    """Past the queue size a sample is dropped at once and counted."""
    sampler = QualitySampler(start=False, queue_size=2, registry=registry)
    for _ in range(5):
        sample_feedback("bot", "up", sampler=sampler)
    assert sampler.dropped == 3
    assert registry.get_sample_value("vigie_quality_samples_dropped_total") == 3.0
    assert len(sampler.pending()) == 2


def test_invalid_sample_is_dropped_not_sent(registry: CollectorRegistry) -> None:
    """A bad name or rating is dropped in the app so it cannot spoil a batch."""
    sampler = QualitySampler(start=False, registry=registry)
    sample_prediction("intent", "x", numeric={"bad name": 1.0}, sampler=sampler)
    sample_feedback("bot", 9, sampler=sampler)
    assert (sampler.invalid, sampler.pending()) == (2, [])


def test_sampling_ratio_bounds_the_cost(registry: CollectorRegistry) -> None:
    """With sample_ratio 0.1 about a tenth of the calls are kept."""
    sampler = QualitySampler(start=False, sample_ratio=0.1, registry=registry)
    for _ in range(2000):
        sample_feedback("bot", "up", sampler=sampler)
    assert 120 < len(sampler.pending()) < 290


def test_embeddings_are_reduced_the_same_everywhere(registry: CollectorRegistry) -> None:
    """Two samplers project a vector identically to embedding_dimensions numbers."""
    vector = [float(i % 7) for i in range(384)]
    first = QualitySampler(
        start=False, embedding_ratio=1.0, embedding_dimensions=16, registry=registry
    )
    second = QualitySampler(
        start=False, embedding_ratio=1.0, embedding_dimensions=16, registry=registry
    )
    reduced = first.reduce(vector)
    assert reduced is not None
    assert len(reduced) == 16
    assert reduced == second.reduce(vector)
    assert (
        QualitySampler(start=False, embedding_ratio=0.0, registry=registry).reduce(vector) is None
    )


def test_record_prediction_feeds_the_default_sampler(
    registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With from_record_prediction, record_prediction alone samples label and confidence."""
    from vigie.sdk import quality_sampling
    from vigie.sdk.predictions import record_prediction

    opted_in = QualitySampler(start=False, registry=registry, from_record_prediction=True)
    monkeypatch.setattr(quality_sampling, "_default", opted_in)
    record_prediction("intent", "refund", 0.25, registry=registry)
    (sample,) = opted_in.pending()
    assert sample["numeric"] == {"prediction.confidence": 0.25}
    assert sample["categorical"] == {"prediction.label": "refund"}
    silent = QualitySampler(start=False, registry=CollectorRegistry())
    monkeypatch.setattr(quality_sampling, "_default", silent)
    record_prediction("intent", "refund", 0.25, registry=registry)
    assert silent.pending() == []


def test_without_configuration_sampling_is_a_no_op() -> None:
    """Before configure_quality_sampling the sample_* functions do nothing."""
    sample_answer("bot", "hello")
    sample_prediction("intent", "refund", 0.5)


@pytest.fixture
def quality_server(tmp_path: Path) -> Iterator[tuple[str, QualityService]]:
    """A real HTTP server whose POST handler feeds a QualityService."""
    service = QualityService(tmp_path, MemoryStorage().appender)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            accepted = service.ingest(body)
            payload = json.dumps({"status": "success", "data": {"accepted": accepted}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/quality/samples", service
    server.shutdown()
    server.server_close()


def test_batches_reach_the_server(
    quality_server: tuple[str, QualityService], registry: CollectorRegistry
) -> None:
    """The background thread POSTs batches the server's parser accepts."""
    url, service = quality_server
    sampler = QualitySampler(url, flush_interval=0.05, batch_size=10, registry=registry)
    try:
        for index in range(25):
            answer = "I'm sorry, I can't." if index % 5 == 0 else "Sure."
            sample_answer("bot", answer, sources=index % 3, texts={"question": "how do I pay"},
                          sampler=sampler)  # fmt: skip
        deadline = time.monotonic() + 5
        while sampler.sent < 25 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sampler.close()
    assert sampler.sent == 25
    (bucket,) = service.models["bot"].buckets.values()
    assert bucket.counters["answers"] == 25
    assert bucket.counters["answers_refusal"] == 5
    assert bucket.counters["answers_unsourced"] == 9
    assert set(bucket.features) >= {"answer.length", "answer.sources", "text.question.length"}


def test_server_down_loses_the_batch_not_the_app(registry: CollectorRegistry) -> None:
    """A refused connection counts a failed batch and raises nothing."""
    sampler = QualitySampler(
        f"http://127.0.0.1:{free_port()}/x", start=False, timeout=1, registry=registry
    )
    sample_feedback("bot", 5, sampler=sampler)
    sampler.flush()
    assert (sampler.sent, sampler.failed_batches) == (0, 1)


def test_projected_embeddings_keep_a_topic_shift(registry: CollectorRegistry) -> None:
    """After the 384 -> 32 projection, MMD still flags a topic shift and passes a control."""
    import numpy as np

    from vigie.quality.embeddings import MMD_THRESHOLD, mmd_squared

    rng = np.random.default_rng(0)
    topics = rng.normal(0, 1, (2, 384))
    sampler = QualitySampler(start=False, embedding_ratio=1.0, registry=registry)

    def project(rows: np.ndarray) -> np.ndarray:
        return np.array([sampler.reduce(row.tolist()) for row in rows])

    reference = project(topics[0] + rng.normal(0, 1, (120, 384)))
    control = project(topics[0] + rng.normal(0, 1, (120, 384)))
    shifted = project(0.6 * topics[0] + 0.4 * topics[1] + rng.normal(0, 1, (120, 384)))
    assert mmd_squared(reference, control) < MMD_THRESHOLD < mmd_squared(reference, shifted)
