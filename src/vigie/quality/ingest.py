"""The sample batch the SDK sends (``POST /api/v1/quality/samples``), parsed and bounded.

A batch is one JSON object; every sample belongs to a model and carries only numbers, short
category strings and (reduced) vectors: never raw text or an identity::

    {
      "version": 1,
      "samples": [
        {
          "model": "intent",                      # required, a metric-label-safe name
          "time": 1763740800.25,                  # Unix seconds; optional, default: arrival
          "numeric": {"prediction.confidence": 0.91, "text.query.length": 42},
          "categorical": {"prediction.label": "refund", "text.query.language": "en"},
          "embeddings": {"query": [0.12, -0.4, ...]},
          "feedback": "up"                        # optional: "up", "down" or 1..5
        }
      ]
    }

Every problem is a :class:`~vigie.exceptions.PayloadError` naming the field, for example
``samples[3].numeric.amount: expected a finite number, got 'abc'``; a bad batch is refused
whole, so nothing is half-ingested.

Example::

    >>> batch = parse_batch(b'{"version": 1, "samples": [{"model": "m", "numeric": {"x": 1}}]}')
    >>> batch[0].model, batch[0].numeric
    ('m', {'x': 1.0})
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vigie.exceptions import PayloadError

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_CATEGORY_LENGTH",
    "MAX_EMBEDDING_DIMENSIONS",
    "MAX_FEATURES_PER_SAMPLE",
    "MAX_SAMPLES_PER_BATCH",
    "QualitySample",
    "parse_batch",
]

MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_SAMPLES_PER_BATCH = 10_000
MAX_FEATURES_PER_SAMPLE = 200
MAX_CATEGORY_LENGTH = 128
MAX_EMBEDDING_DIMENSIONS = 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_SAMPLE_KEYS = {"model", "time", "numeric", "categorical", "embeddings", "feedback"}
_THUMBS = {"up": True, "down": False}


@dataclass
class QualitySample:
    """One validated sample of one model."""

    model: str
    time: float | None = None
    numeric: dict[str, float] = field(default_factory=dict)
    categorical: dict[str, str] = field(default_factory=dict)
    embeddings: dict[str, list[float]] = field(default_factory=dict)
    #: True for a satisfied user (thumbs up, 4 or 5), False for unsatisfied, None for no feedback.
    satisfied: bool | None = None


def _fail(where: str, message: str) -> PayloadError:
    return PayloadError(f"{where}: {message}", source="quality samples")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _fail(where, f"expected a name like 'intent' or 'text.query.length', got {value!r}")
    return value


def _section(sample: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    section = sample.get(key, {})
    if not isinstance(section, Mapping):
        raise _fail(f"{where}.{key}", f"expected an object, got {type(section).__name__}")
    return section


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, f"expected a finite number, got {value!r}")
    return float(value)


def _satisfied(value: Any, where: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, str) and value in _THUMBS:
        return _THUMBS[value]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5:
        return value >= 4
    raise _fail(where, f"expected 'up', 'down' or a score from 1 to 5, got {value!r}")


def _sample(raw: Any, where: str) -> QualitySample:
    if not isinstance(raw, Mapping):
        raise _fail(where, f"expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - _SAMPLE_KEYS)
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"unknown field (allowed: {sorted(_SAMPLE_KEYS)})")
    sample = QualitySample(model=_name(raw.get("model"), f"{where}.model"))
    if raw.get("time") is not None:
        sample.time = _number(raw["time"], f"{where}.time")
    numeric = _section(raw, "numeric", where)
    categorical = _section(raw, "categorical", where)
    vectors = _section(raw, "embeddings", where)
    if len(numeric) + len(categorical) + len(vectors) > MAX_FEATURES_PER_SAMPLE:
        raise _fail(where, f"more than {MAX_FEATURES_PER_SAMPLE} features in one sample")
    for name, value in numeric.items():
        spot = f"{where}.numeric.{name}"
        sample.numeric[_name(name, spot)] = _number(value, spot)
    for name, value in categorical.items():
        spot = f"{where}.categorical.{name}"
        _name(name, spot)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, int):
            value = str(value)
        if not isinstance(value, str) or len(value) > MAX_CATEGORY_LENGTH:
            raise _fail(spot, f"expected a category string of at most {MAX_CATEGORY_LENGTH} "
                        f"characters, got {value!r:.60}")  # fmt: skip
        sample.categorical[name] = value
    for name, value in vectors.items():
        spot = f"{where}.embeddings.{name}"
        _name(name, spot)
        if not isinstance(value, list) or not 1 <= len(value) <= MAX_EMBEDDING_DIMENSIONS:
            raise _fail(spot, f"expected a list of 1 to {MAX_EMBEDDING_DIMENSIONS} numbers")
        sample.embeddings[name] = [_number(item, f"{spot}[{i}]") for i, item in enumerate(value)]
    sample.satisfied = _satisfied(raw.get("feedback"), f"{where}.feedback")
    return sample


def parse_batch(body: bytes | str | Mapping[str, Any]) -> list[QualitySample]:
    """Validate a batch (JSON bytes, text or an already decoded object) into samples."""
    if isinstance(body, bytes | str):
        if len(body) > MAX_BATCH_BYTES:
            raise _fail("batch", f"larger than {MAX_BATCH_BYTES} bytes")
        try:
            decoded = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise _fail("batch", f"not valid JSON ({error})") from None
    else:
        decoded = body
    if not isinstance(decoded, Mapping):
        raise _fail("batch", "expected a JSON object with 'version' and 'samples'")
    if decoded.get("version", 1) != 1:
        raise _fail("version", f"unsupported version {decoded.get('version')!r} (expected 1)")
    samples = decoded.get("samples")
    if not isinstance(samples, list):
        raise _fail("samples", "expected a list")
    if len(samples) > MAX_SAMPLES_PER_BATCH:
        raise _fail("samples", f"{len(samples)} samples, more than {MAX_SAMPLES_PER_BATCH}")
    return [_sample(raw, f"samples[{index}]") for index, raw in enumerate(samples)]
