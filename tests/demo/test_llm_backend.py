"""The simulated LLM's behaviour, through the real openai client and the simulator."""

from __future__ import annotations

import openai
import pytest

from vigie.demo.llm_backend import DETAIL_MARKER, SimulatedBehaviour, estimate_tokens
from vigie.demo.llm_simulator import LLMSimulator, Reply


def _client(simulator: LLMSimulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=simulator.openai_base_url, api_key="sk-test", max_retries=0)


def test_answers_from_context_with_proportional_tokens() -> None:
    """The answer quotes the first context entry; tokens follow the text length."""
    behaviour = SimulatedBehaviour(latency=(0, 0), error_rate=0)
    system = "Be brief.\nContext:\nQ: Library card? A: Library cards are free.\nQ: x A: y"
    with LLMSimulator(responder=behaviour) as simulator, _client(simulator) as client:
        response = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": "card"}],
        )
    text = "Here is what the city's services say: Library cards are free."
    assert response.choices[0].message.content == text
    assert response.usage is not None
    assert response.usage.completion_tokens == estimate_tokens(text)
    assert response.usage.prompt_tokens == estimate_tokens(system) + estimate_tokens("card") + 7


def test_detail_request_uses_the_token_budget() -> None:
    """'In full detail' with max_tokens gets an answer of 90 % of the budget."""
    behaviour = SimulatedBehaviour(latency=(0, 0), error_rate=0)
    with LLMSimulator(responder=behaviour) as simulator, _client(simulator) as client:
        response = client.chat.completions.create(
            model="gpt-4o-mini",
            max_tokens=1000,
            messages=[
                {"role": "system", "content": f"Answer {DETAIL_MARKER}."},
                {"role": "user", "content": "taxes"},
            ],
        )
    assert response.usage is not None
    assert response.usage.completion_tokens == 900


def test_switches_make_rate_limits_and_errors() -> None:
    """rate_limited answers 429 with retry-after; error_rate=1 answers 500."""
    behaviour = SimulatedBehaviour(latency=(0, 0), error_rate=0)
    messages = [{"role": "user", "content": "hello"}]
    with LLMSimulator(responder=behaviour) as simulator, _client(simulator) as client:
        behaviour.rate_limited = True
        with pytest.raises(openai.RateLimitError) as limited:
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        behaviour.rate_limited, behaviour.error_rate = False, 1.0
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    assert limited.value.response.headers["retry-after"] == "1"


def test_scripted_replies_still_come_first_and_models_are_listed() -> None:
    """The simulator's queue wins over the responder; GET /v1/models answers."""
    behaviour = SimulatedBehaviour(latency=(0, 0), error_rate=0)
    messages = [{"role": "user", "content": "hello"}]
    with LLMSimulator(responder=behaviour) as simulator, _client(simulator) as client:
        simulator.enqueue(Reply(text="scripted"))
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        second = client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
        models = client.models.list()
    assert first.choices[0].message.content == "scripted"
    assert second.choices[0].message.content != "scripted"
    assert [model.id for model in models.data] == ["gpt-4o-mini"]
