"""Sample what drift detection needs, inside the app, at bounded cost and without raw text.

The server's drift checks (``vigie.quality``) need samples of a model's inputs and outputs. This
module takes them in the request path for the price of a dictionary and a non-blocking queue
put: a :class:`QualitySampler` keeps a bounded queue, a daemon thread batches the samples and
POSTs them as JSON to the server (``/api/v1/quality/samples``). When the queue is full a sample
is dropped and counted (``vigie_quality_samples_dropped_total``); the app never waits.

What a sample can carry, nothing identifying:

* a prediction's label and confidence (:func:`sample_prediction`);
* numeric and categorical input features the user opts in (``numeric=``, ``categorical=``);
* properties of a text, computed here so the text never leaves: its length, the share of
  tokens outside a small built-in English word list, a cheap language guess
  (:func:`text_properties`);
* properties of an LLM answer: length, empty, refusal-like, retrieval top score, number of
  sources (:func:`answer_properties`, :func:`sample_answer`);
* an embedding, sampled (``embedding_ratio``) and reduced by a seeded Gaussian random
  projection to ``embedding_dimensions`` numbers (the same projection in every process).

Example::

    >>> sampler = QualitySampler("http://127.0.0.1:9800/api/v1/quality/samples", start=False)
    >>> sample_prediction("intent", "refund", 0.42, numeric={"amount": 12.5}, sampler=sampler)
    >>> sampler.pending()[0]["categorical"]
    {'prediction.label': 'refund'}
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import random
import re
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from vigie.exceptions import ConfigurationError
from vigie.sdk import instruments
from vigie.sdk.failsafe import guard, log_internal_error

__all__ = [
    "DEFAULT_URL",
    "QualitySampler",
    "answer_properties",
    "configure_quality_sampling",
    "default_sampler",
    "sample_answer",
    "sample_feedback",
    "sample_prediction",
    "text_properties",
]

DEFAULT_URL = "http://127.0.0.1:9800/api/v1/quality/samples"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,127}")
_MAX_CATEGORY = 128
logger = logging.getLogger("vigie")
_warned: set[str] = set()
_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
_REFUSAL = re.compile(
    r"\b(i(?:'m| am) sorry|i (?:can(?:'|no)t|cannot|am unable to|am not able to)|"
    r"as an ai\b|i (?:won't|will not) (?:help|provide)|je ne peux pas|désolé)",
    re.IGNORECASE,
)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The most frequent English words: enough to tell ordinary prose from codes, typos or jargon.
_WORDS = _words(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our out over own same she should
    so some such than that the their them then there these they this those through to too under
    until up very was we were what when where which while who whom why will with would you your
    account address answer ask bank bill billing book buy call card cancel change charge check
    close code company cost customer data day delivery email error find get give good help home
    how information issue item know like list login make money month need new number order page
    password pay payment phone plan please price problem product question refund return see send
    service ship shipping show sign status subscription support take tell thank thanks time today
    track update use user want way week work year yes"""
)
_STOPWORDS = {
    "en": _words("the and is are of to in that it for you with was this have not"),
    "fr": _words("le la les et est des une pour que dans pas vous sur avec je"),
    "es": _words("el la los las y es de que en por una para con no se"),
    "de": _words("der die das und ist nicht ich sie mit zu den ein eine auf"),
    "it": _words("il la che di e non per una sono con gli del della io"),
    "pt": _words("o a os as e de que não uma para com em por você do"),
}


def text_properties(text: str) -> dict[str, Any]:
    """Length, out-of-vocabulary share and language guess of ``text`` (the text is not kept).

    >>> text_properties("Where is my refund?")
    {'length': 19, 'oov_share': 0.0, 'language': 'en'}
    """
    tokens = [token.lower() for token in _TOKEN.findall(text)]
    oov = sum(token not in _WORDS for token in tokens) / len(tokens) if tokens else 0.0
    scores = {lang: sum(t in words for t in tokens) for lang, words in _STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    hits = scores[best]
    if not hits:  # no stopword at all: guess English when most words are English ones
        best, hits = ("en", 1) if tokens and oov < 0.5 else ("unknown", 0)
    return {
        "length": len(text),
        "oov_share": round(oov, 4),
        "language": best if hits else "unknown",
    }


def answer_properties(
    answer: str, *, retrieval_top_score: float | None = None, sources: int | None = None
) -> dict[str, Any]:
    """What an LLM answer looks like, without the answer: length, empty, refusal-like, sources.

    >>> answer_properties("I'm sorry, I cannot help with that.", sources=0)["refusal"]
    True
    """
    stripped = answer.strip()
    properties: dict[str, Any] = {
        "length": len(stripped),
        "empty": not stripped,
        "refusal": bool(_REFUSAL.search(stripped[:500])),
    }
    if retrieval_top_score is not None:
        properties["retrieval_top_score"] = retrieval_top_score
    if sources is not None:
        properties["sources"] = sources
    return properties


class QualitySampler:
    """A bounded queue of samples and a daemon thread that POSTs them in JSON batches.

    ``sample_ratio`` is the share of calls kept (bounded cost at any traffic);
    ``embedding_ratio`` the share of those whose embedding is kept too. ``start=False`` keeps
    the thread off (tests read :meth:`pending`, then call :meth:`flush`).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        sample_ratio: float = 1.0,
        embedding_ratio: float = 0.1,
        embedding_dimensions: int = 32,
        projection_seed: int = 20_241_121,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 5.0,
        timeout: float = 5.0,
        registry: CollectorRegistry | None = None,
        start: bool = True,
        from_record_prediction: bool = False,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"expected an http(s) URL, got {url!r}", field="url")
        self.url = url
        #: When set (on the default sampler), every ``vigie.record_prediction`` call also samples
        #: its label and confidence, so drift needs no second call in the app.
        self.from_record_prediction = from_record_prediction
        self.sample_ratio = sample_ratio
        self.embedding_ratio = embedding_ratio
        self.embedding_dimensions = embedding_dimensions
        self.projection_seed = projection_seed
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.sent = 0
        self.dropped = 0
        self.invalid = 0
        self.failed_batches = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=queue_size)
        self._random = random.Random()
        self._projections: dict[int, list[list[float]]] = {}
        self._dropped = instruments.counter(
            "vigie_quality_samples_dropped",
            "Quality samples dropped because the sampler's queue was full.",
            registry=registry,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="vigie-quality", daemon=True)
            self._thread.start()

    def keep(self) -> bool:
        """Whether this call is sampled (``sample_ratio``)."""
        return self.sample_ratio >= 1.0 or self._random.random() < self.sample_ratio

    def submit(self, sample: dict[str, Any]) -> None:
        """Queue a sample without waiting; a full queue drops it and counts the drop.

        A sample the server would refuse (a bad name, a bad rating) is dropped here, logged
        once, so that it cannot make the server refuse a whole batch.
        """
        problem = _problem(sample)
        if problem:
            self.invalid += 1
            if problem not in _warned:
                _warned.add(problem)
                logger.warning("vigie: dropped a quality sample: %s", problem)
            return
        sample.setdefault("time", time.time())
        try:
            self._queue.put_nowait(sample)
        except queue.Full:
            self.dropped += 1
            self._dropped.inc()

    def reduce(self, vector: Sequence[float]) -> list[float] | None:
        """The embedding projected to ``embedding_dimensions``, or None when not sampled.

        The projection matrix is Gaussian, drawn from ``projection_seed``, scaled by 1/sqrt(k):
        distances are kept on average (Johnson–Lindenstrauss) and every process agrees on it.
        """
        if self._random.random() >= self.embedding_ratio:
            return None
        width = len(vector)
        if width <= self.embedding_dimensions:
            return [float(value) for value in vector]
        matrix = self._projections.get(width)
        if matrix is None:
            generator = random.Random(self.projection_seed + width)
            scale = 1.0 / math.sqrt(self.embedding_dimensions)
            matrix = [
                [generator.gauss(0.0, 1.0) * scale for _ in range(width)]
                for _ in range(self.embedding_dimensions)
            ]
            self._projections[width] = matrix
        values = [float(value) for value in vector]
        return [math.fsum(w * v for w, v in zip(row, values, strict=True)) for row in matrix]

    def pending(self) -> list[dict[str, Any]]:
        """Take every queued sample (for tests and :meth:`flush`)."""
        taken: list[dict[str, Any]] = []
        while True:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                return taken

    def flush(self) -> None:
        """Send every queued sample now, in batches."""
        samples = self.pending()
        for start in range(0, len(samples), self.batch_size):
            self._post(samples[start : start + self.batch_size])

    def close(self) -> None:
        """Stop the thread after a last flush."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 1.0)
        self.flush()

    def _post(self, samples: list[dict[str, Any]]) -> None:
        body = json.dumps({"version": 1, "samples": samples}).encode()
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
            self.sent += len(samples)
        except OSError:  # server down or refusing: the batch is lost, the app carries on
            self.failed_batches += 1

    def _run(self) -> None:
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.flush_interval
        while not self._stop.is_set():
            with contextlib.suppress(queue.Empty):
                batch.append(self._queue.get(timeout=max(deadline - time.monotonic(), 0.01)))
            if len(batch) >= self.batch_size or (batch and time.monotonic() >= deadline):
                try:
                    self._post(batch)
                except Exception:
                    log_internal_error("quality sampling")
                batch = []
            if time.monotonic() >= deadline:
                deadline = time.monotonic() + self.flush_interval
        for sample in batch:
            self.submit(sample)  # back on the queue for close()'s flush


def _problem(sample: Mapping[str, Any]) -> str | None:
    """Why the server would refuse ``sample`` (mirrors vigie.quality.ingest), or None."""
    names = [sample.get("model")]
    for section in ("numeric", "categorical", "embeddings"):
        names.extend(sample.get(section, {}))
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            return f"invalid name {name!r} (letters, digits, _ . : -; at most 128)"
    for value in sample.get("categorical", {}).values():
        if len(value) > _MAX_CATEGORY:
            return f"category value longer than {_MAX_CATEGORY} characters"
    rating = sample.get("feedback")
    if rating is not None and rating not in ("up", "down", 1, 2, 3, 4, 5):
        return f"invalid rating {rating!r} (expected up, down or 1..5)"
    return None


_default: QualitySampler | None = None
_default_lock = threading.Lock()


def configure_quality_sampling(url: str = DEFAULT_URL, **options: Any) -> QualitySampler:
    """Start the process-wide sampler the ``sample_*`` functions use (replacing any previous)."""
    global _default
    with _default_lock:
        if _default is not None:
            _default.close()
        _default = QualitySampler(url, **options)
        return _default


def default_sampler() -> QualitySampler | None:
    """The process-wide sampler, or None when sampling was never configured (then: no-op)."""
    return _default


def _submit(
    sampler: QualitySampler | None,
    model: str,
    numeric: Mapping[str, float] | None,
    categorical: Mapping[str, str] | None,
    texts: Mapping[str, str] | None,
    embeddings: Mapping[str, Sequence[float]] | None,
    extra_numeric: Mapping[str, float],
    extra_categorical: Mapping[str, str],
    feedback: str | int | None = None,
) -> None:
    target = sampler if sampler is not None else _default
    if target is None or not target.keep():
        return
    sample: dict[str, Any] = {"model": model}
    numbers = {**extra_numeric, **(numeric or {})}
    categories = {**extra_categorical, **(categorical or {})}
    for field, text in (texts or {}).items():
        properties = text_properties(text)
        numbers[f"text.{field}.length"] = properties["length"]
        numbers[f"text.{field}.oov_share"] = properties["oov_share"]
        categories[f"text.{field}.language"] = properties["language"]
    finite = {k: float(v) for k, v in numbers.items() if math.isfinite(float(v))}
    if finite:
        sample["numeric"] = finite
    if categories:
        sample["categorical"] = {k: str(v) for k, v in categories.items()}
    vectors = {}
    for name, vector in (embeddings or {}).items():
        reduced = target.reduce(vector)
        if reduced is not None:
            vectors[name] = reduced
    if vectors:
        sample["embeddings"] = vectors
    if feedback is not None:
        sample["feedback"] = feedback
    target.submit(sample)


def sample_prediction(
    model: str,
    label: str,
    confidence: float | None = None,
    *,
    numeric: Mapping[str, float] | None = None,
    categorical: Mapping[str, str] | None = None,
    texts: Mapping[str, str] | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
    sampler: QualitySampler | None = None,
) -> None:
    """Sample one prediction (label, confidence) with the inputs the user opts in.

    ``texts`` are reduced to their properties here; only those are sent. Call it next to
    :func:`vigie.record_prediction`; it never raises into the app.
    """
    with guard("sample_prediction"):
        extra = {} if confidence is None else {"prediction.confidence": confidence}
        _submit(sampler, model, numeric, categorical, texts, embeddings, extra,
                {"prediction.label": label})  # fmt: skip


def sample_answer(
    model: str,
    answer: str,
    *,
    retrieval_top_score: float | None = None,
    sources: int | None = None,
    texts: Mapping[str, str] | None = None,
    embeddings: Mapping[str, Sequence[float]] | None = None,
    sampler: QualitySampler | None = None,
) -> None:
    """Sample an LLM answer's properties (and, opted in, its question's text properties)."""
    with guard("sample_answer"):
        properties = answer_properties(
            answer, retrieval_top_score=retrieval_top_score, sources=sources
        )
        numbers = {"answer.length": float(properties["length"])}
        if retrieval_top_score is not None:
            numbers["answer.retrieval_top_score"] = retrieval_top_score
        if sources is not None:
            numbers["answer.sources"] = float(sources)
        categories = {
            "answer.empty": "true" if properties["empty"] else "false",
            "answer.refusal": "true" if properties["refusal"] else "false",
        }
        _submit(sampler, model, None, None, texts, embeddings, numbers, categories)


def sample_feedback(
    model: str, rating: str | int, *, sampler: QualitySampler | None = None
) -> None:
    """Sample one user rating ("up", "down" or 1..5) for the satisfaction ratio."""
    with guard("sample_feedback"):
        _submit(sampler, model, None, None, None, None, {}, {}, feedback=rating)
