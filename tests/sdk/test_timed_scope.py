"""TimedScope: one block protocol for ``with`` and ``async with``, exceptions passed on."""

from __future__ import annotations

import asyncio

import pytest

from vigie.sdk.timed_scope import TimedScope


class Recorder(TimedScope[list[str]]):
    def __init__(self) -> None:
        self.events: list[str] = []

    def _open(self) -> list[str]:
        self.events.append("open")
        return self.events

    def _close(self, error: BaseException | None) -> None:
        self.events.append(f"close {type(error).__name__ if error else None}")


def test_sync_block_opens_binds_and_closes_with_the_error() -> None:
    """``as`` binds what _open returns; an exception reaches _close and still propagates."""
    scope = Recorder()
    with scope as events:
        events.append("body")
    assert scope.events == ["open", "body", "close None"]
    failing = Recorder()
    with pytest.raises(KeyError), failing:
        raise KeyError("x")
    assert failing.events == ["open", "close KeyError"]


def test_async_block_behaves_the_same() -> None:
    """``async with`` opens and closes exactly like ``with``."""

    scope = Recorder()

    async def run() -> None:
        async with scope as events:
            events.append("body")
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(run())
    assert scope.events == ["open", "body", "close ValueError"]
