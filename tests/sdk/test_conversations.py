"""Conversations by status and messages by type."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk.conversations import conversation, record_conversation, record_message

FAQ = {"agent": "faq"}


def test_conversation_lifecycle(registry: CollectorRegistry) -> None:
    """A conversation moves the active gauge, counts messages and ends with its status."""
    with conversation(agent="faq", registry=registry) as chat:
        assert registry.get_sample_value("conversations_active", FAQ) == 1
        chat.message("user")
        chat.message("assistant")
        chat.message("user")
        chat.status = "resolved"
    get = registry.get_sample_value
    assert get("conversations_active", FAQ) == 0
    assert get("conversations_total", {**FAQ, "status": "resolved"}) == 1
    assert get("conversation_messages_total", {**FAQ, "message_type": "user"}) == 2
    assert get("conversation_messages_per_conversation_sum", FAQ) == 3
    assert get("conversation_duration_seconds_count", FAQ) == 1


def test_exception_ends_as_error(registry: CollectorRegistry) -> None:
    """An exception leaving the block ends the conversation as ``error`` and propagates."""
    with pytest.raises(KeyError), conversation(agent="faq", registry=registry):
        raise KeyError("boom")
    assert registry.get_sample_value("conversations_total", {**FAQ, "status": "error"}) == 1
    assert registry.get_sample_value("conversations_active", FAQ) == 0


def test_async_conversation(registry: CollectorRegistry) -> None:
    """``async with`` follows a conversation in async code the same way."""

    async def chat_turns() -> None:
        async with conversation(agent="faq", registry=registry) as chat:
            assert registry.get_sample_value("conversations_active", FAQ) == 1
            chat.message("user")
            chat.status = "escalated"

    asyncio.run(chat_turns())
    assert registry.get_sample_value("conversations_total", {**FAQ, "status": "escalated"}) == 1
    assert registry.get_sample_value("conversations_active", FAQ) == 0


def test_plain_counters_and_validation(registry: CollectorRegistry) -> None:
    """record_* count directly; statuses and types must be short names."""
    record_conversation("abandoned", registry=registry)
    record_message("tool", registry=registry)
    get = registry.get_sample_value
    assert get("conversations_total", {"agent": "default", "status": "abandoned"}) == 1
    assert get("conversation_messages_total", {"agent": "default", "message_type": "tool"}) == 1
    with pytest.raises(InstrumentationError, match="status"):
        record_conversation("Resolved by Jane", registry=registry)
    with conversation(registry=registry) as chat, pytest.raises(InstrumentationError):
        chat.status = "user-42"
