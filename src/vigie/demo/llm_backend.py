"""The demo's LLM: how the simulated provider behaves, and the instrumented OpenAI client.

:class:`SimulatedBehaviour` is the ``responder`` of :class:`~vigie.demo.llm_simulator.LLMSimulator`:
it answers from the context the app put in the prompt, with token counts in proportion to the
text (about 4 characters per token, as OpenAI's tokenizers give on English), a latency drawn per
call, streams paced chunk by chunk, and a small share of 500 errors. Its switches are the drills'
levers: ``slow`` (the ``latency`` drill) adds seconds to every call, ``rate_limited`` (the
``llm-errors`` drill) answers 429 with ``retry-after``. A request asking for ``max_tokens`` and
"in full detail" gets a long answer (the ``cost`` drill).

:func:`make_client` returns the real ``openai.AsyncOpenAI`` client, pointed at the simulator or,
when ``OPENAI_API_KEY`` is set and no base URL is given, at OpenAI, and instrumented with
:func:`vigie.instrument_openai`.

Example::

    from vigie.demo.llm_backend import SimulatedBehaviour
    from vigie.demo.llm_simulator import LLMSimulator

    behaviour = SimulatedBehaviour(seed=1)
    with LLMSimulator(responder=behaviour) as simulator:
        behaviour.rate_limited = True          # every call now gets a 429
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any

from prometheus_client import CollectorRegistry

from vigie.demo.llm_simulator import Fault, Reply
from vigie.integrations.openai import instrument_openai

__all__ = ["DETAIL_MARKER", "SimulatedBehaviour", "estimate_tokens", "make_client"]

#: The phrase of the system prompt that asks for a long answer (the ``cost`` drill).
DETAIL_MARKER = "in full detail"
_CONTEXT_MARKER = "Context:"
_FILLER = (
    "Please keep the receipt of your application. Processing times can be longer during "
    "school holidays. The official website of the service lists the documents required. "
    "Appointments can be cancelled online until the day before. "
)


def estimate_tokens(text: str) -> int:
    """About 4 characters per token, at least 1: close to OpenAI's tokenizers on English."""
    return max(1, round(len(text) / 4))


def _messages_text(body: dict[str, Any]) -> tuple[str, str]:
    """(system text, user text) of a chat completion request."""
    system: list[str] = []
    user: list[str] = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        (system if message.get("role") == "system" else user).append(text)
    return "\n".join(system), "\n".join(user)


class SimulatedBehaviour:
    """Answers of the simulated provider: content, tokens, latency, errors, drill switches.

    ``latency`` is the (min, max) seconds of a normal call, ``error_rate`` the share of calls
    failing with a 500, ``slow_seconds`` what the ``slow`` switch adds, ``seed`` makes it all
    reproducible. The switches may be flipped from any thread at any time.
    """

    def __init__(
        self,
        *,
        latency: tuple[float, float] = (0.15, 0.6),
        error_rate: float = 0.01,
        slow_seconds: float = 3.0,
        seed: int | None = None,
    ) -> None:
        self.latency = latency
        self.error_rate = error_rate
        self.slow_seconds = slow_seconds
        self.slow = False
        self.rate_limited = False
        self._chance = random.Random(seed)
        self._lock = threading.Lock()

    def _draw(self) -> tuple[float, float]:
        with self._lock:
            return self._chance.uniform(*self.latency), self._chance.random()

    def __call__(self, body: dict[str, Any]) -> Reply | Fault:
        """The reply to one request body (sleeps for non-streamed latency itself)."""
        delay, roll = self._draw()
        if self.slow:
            delay += self.slow_seconds
        if self.rate_limited:
            return Fault(status=429, retry_after=1, message="Rate limit reached for requests")
        if roll < self.error_rate:
            time.sleep(delay / 2)
            return Fault(status=500, message="The server had an error processing your request")
        system, user = _messages_text(body)
        text = self._answer(system, user, body)
        input_tokens = estimate_tokens(system) + estimate_tokens(user) + 7  # message framing
        output_tokens = estimate_tokens(text)
        stream = bool(body.get("stream"))
        chunks = max(1, min(40, output_tokens // 8))
        if not stream:
            time.sleep(delay)
        return Reply(
            text=text,
            model=str(body.get("model") or "gpt-4o-mini"),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            chunks=chunks,
            first_chunk_delay=delay * 0.6 if stream else 0.0,
            chunk_delay=delay * 0.4 / chunks if stream else 0.0,
        )

    def _answer(self, system: str, user: str, body: dict[str, Any]) -> str:
        _, _, context = system.partition(_CONTEXT_MARKER)
        first = context.strip().splitlines()[0] if context.strip() else ""
        if first:
            answer = first.split(" A: ", 1)[-1].strip()
            text = f"Here is what the city's services say: {answer}"
        else:
            topic = user.strip().rstrip("?")[:80] or "your question"
            text = (
                f"About {topic!r}: the general rule is to apply online on the official website "
                "of the service concerned, with an identity document and a proof of address. "
                "Check the city's FAQ or contact the town hall for the details of your case."
            )
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        if DETAIL_MARKER in system and isinstance(max_tokens, int) and max_tokens > 0:
            # The cost drill: a verbose answer that runs to about 90 % of the token budget.
            wanted = int(max_tokens * 0.9) * 4
            while len(text) < wanted:
                text += " " + _FILLER
            text = text[:wanted]
        return text


def make_client(
    *,
    base_url: str | None,
    api_key: str | None = None,
    timeout: float = 20.0,
    registry: CollectorRegistry | None = None,
) -> Any:
    """An instrumented ``openai.AsyncOpenAI``: at ``base_url`` (the simulator), else at OpenAI.

    ``api_key`` defaults to ``OPENAI_API_KEY``; the simulator accepts any key. Retries are off:
    an error is the app's to handle (and vigie's to count), not hidden behind a retry.
    """
    import openai

    key = api_key or os.environ.get("OPENAI_API_KEY") or "sk-vigie-demo"
    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=timeout)
    return instrument_openai(client, registry=registry)
