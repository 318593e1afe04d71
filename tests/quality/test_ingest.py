"""The sample batch format: valid batches parse; each mistake names its field."""

from __future__ import annotations

import json

import pytest

from vigie.exceptions import PayloadError
from vigie.quality.ingest import MAX_SAMPLES_PER_BATCH, parse_batch


def test_full_sample_parses() -> None:
    """Every section of a sample is read, feedback becomes satisfied True/False."""
    body = {
        "version": 1,
        "samples": [
            {
                "model": "intent",
                "time": 12.5,
                "numeric": {"prediction.confidence": 0.9, "n": 3},
                "categorical": {"prediction.label": "refund", "answer.empty": False, "k": 2},
                "embeddings": {"query": [0.5, -1]},
                "feedback": 4,
            },
            {"model": "intent", "feedback": "down"},
        ],
    }
    first, second = parse_batch(json.dumps(body).encode())
    assert first.time == 12.5
    assert first.numeric == {"prediction.confidence": 0.9, "n": 3.0}
    assert first.categorical == {"prediction.label": "refund", "answer.empty": "false", "k": "2"}
    assert first.embeddings == {"query": [0.5, -1.0]}
    assert (first.satisfied, second.satisfied, second.time) == (True, False, None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "batch: not valid JSON"),
        (b"[]", "batch: expected a JSON object"),
        (b'{"version": 2, "samples": []}', "version: unsupported version 2"),
        (b'{"samples": {}}', "samples: expected a list"),
        (b'{"samples": [{"numeric": {}}]}', "samples[0].model: expected a name"),
        (
            b'{"samples": [{"model": "m", "numeric": {"x": "abc"}}]}',
            "samples[0].numeric.x: expected a finite number, got 'abc'",
        ),
        (
            b'{"samples": [{"model": "m", "numeric": {"x": true}}]}',
            "samples[0].numeric.x: expected a finite number",
        ),
        (
            b'{"samples": [{"model": "m", "numeric": {"bad name": 1}}]}',
            "samples[0].numeric.bad name: expected a name",
        ),
        (
            b'{"samples": [{"model": "m", "categorical": {"c": [1]}}]}',
            "samples[0].categorical.c: expected a category",
        ),
        (
            b'{"samples": [{"model": "m", "embeddings": {"e": [1, "x"]}}]}',
            "samples[0].embeddings.e[1]: expected a finite",
        ),
        (
            b'{"samples": [{"model": "m", "feedback": 9}]}',
            "samples[0].feedback: expected 'up', 'down'",
        ),
        (b'{"samples": [{"model": "m", "text": "hello"}]}', "samples[0].text: unknown field"),
        (b'{"samples": [{"model": "m"}, 3]}', "samples[1]: expected an object"),
    ],
)
def test_errors_name_the_field(body: bytes, message: str) -> None:
    """A PayloadError's message starts with the path of the offending field."""
    with pytest.raises(PayloadError) as caught:
        parse_batch(body)
    assert message in str(caught.value)


def test_batch_size_is_bounded() -> None:
    """More samples than the limit are refused whole."""
    with pytest.raises(PayloadError, match="more than 10000"):
        parse_batch({"samples": [{"model": "m"}] * (MAX_SAMPLES_PER_BATCH + 1)})
