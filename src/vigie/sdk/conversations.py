"""Conversations and sessions of a chat app: how they end, and what their messages are.

A chatbot's health is not one request: it is whether conversations end resolved or abandoned,
how long they run and how many turns they take. :func:`conversation` follows one conversation;
:func:`record_conversation` and :func:`record_message` count without a context manager. Statuses
and message types are short names from a fixed vocabulary (``resolved``, ``abandoned``,
``escalated``; ``user``, ``assistant``, ``tool``), never ids or text.

Example::

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> with conversation(agent="faq", registry=registry) as chat:
    ...     chat.message("user")
    ...     chat.message("assistant")
    ...     chat.status = "resolved"
    >>> registry.get_sample_value(
    ...     "conversations_total", {"agent": "faq", "status": "resolved"})
    1.0
"""

from __future__ import annotations

import re
from time import perf_counter

from prometheus_client import CollectorRegistry

from vigie.exceptions import InstrumentationError
from vigie.sdk import instruments
from vigie.sdk.failsafe import guard
from vigie.sdk.timed_scope import TimedScope

__all__ = [
    "DURATION_BUCKETS",
    "TURN_BUCKETS",
    "Conversation",
    "conversation",
    "record_conversation",
    "record_message",
]

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
TURN_BUCKETS = (1, 2, 3, 5, 8, 13, 21, 34, 55)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def _checked(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise InstrumentationError(
            f"conversation {kind} must be a short lowercase name (a-z, 0-9, _), got {value!r}"
        )
    return value


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.conversations = instruments.counter(
            "conversations", "Finished conversations by status.", ["agent", "status"],
            registry=registry,
        )  # fmt: skip
        self.active = instruments.gauge(
            "conversations_active", "Conversations in progress.", ["agent"],
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.messages = instruments.counter(
            "conversation_messages", "Messages by type.", ["agent", "message_type"],
            registry=registry,
        )  # fmt: skip
        self.turns = instruments.histogram(
            "conversation_messages_per_conversation", "Messages in one finished conversation.",
            ["agent"], buckets=TURN_BUCKETS, registry=registry,
        )  # fmt: skip
        self.duration = instruments.histogram(
            "conversation_duration_seconds", "Duration of one finished conversation.",
            ["agent"], buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip


_metrics = instruments.PerRegistry(_Metrics)


def record_conversation(
    status: str, *, agent: str = "default", registry: CollectorRegistry | None = None
) -> None:
    """Count one finished conversation with ``status`` (resolved, abandoned, escalated...)."""
    _checked("status", status)
    with guard("record_conversation"):
        _metrics(registry).conversations.labels(agent, status).inc()


def record_message(
    message_type: str, *, agent: str = "default", registry: CollectorRegistry | None = None
) -> None:
    """Count one message of ``message_type`` (user, assistant, tool, system...)."""
    _checked("message type", message_type)
    with guard("record_message"):
        _metrics(registry).messages.labels(agent, message_type).inc()


class Conversation(TimedScope["Conversation"]):
    """One conversation in progress; set :attr:`status` before it ends (default ``completed``).

    Used with ``with`` or ``async with``; an exception escaping the block ends it as ``error``
    (and propagates).
    """

    def __init__(self, agent: str, registry: CollectorRegistry | None) -> None:
        self.agent = agent
        self.registry = registry
        self._status = "completed"
        self.messages = 0
        self._start = 0.0

    @property
    def status(self) -> str:
        """How the conversation ends; checked when set, so a bad name fails where it is written."""
        return self._status

    @status.setter
    def status(self, value: str) -> None:
        self._status = _checked("status", value)

    def message(self, message_type: str) -> None:
        """Count one message of this conversation."""
        record_message(message_type, agent=self.agent, registry=self.registry)
        self.messages += 1

    def _open(self) -> Conversation:
        self._start = perf_counter()
        with guard("conversation start"):
            _metrics(self.registry).active.labels(self.agent).inc()
        return self

    def _close(self, error: BaseException | None) -> None:
        status = "error" if error is not None else self._status
        with guard("conversation end"):
            metrics = _metrics(self.registry)
            metrics.active.labels(self.agent).dec()
            metrics.conversations.labels(self.agent, status).inc()
            metrics.turns.labels(self.agent).observe(self.messages)
            metrics.duration.labels(self.agent).observe(perf_counter() - self._start)


def conversation(
    *, agent: str = "default", registry: CollectorRegistry | None = None
) -> Conversation:
    """Follow one conversation: active gauge, messages, duration and final status."""
    return Conversation(agent, registry)
