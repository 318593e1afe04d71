"""The request id: taken from X-Request-ID when safe, generated otherwise, bound per context."""

from __future__ import annotations

import asyncio

from vigie.sdk.request_context import (
    accept_request_id,
    bind_request_id,
    current_request_id,
    new_request_id,
    reset_request_id,
)


def test_generated_ids_are_unique_hex() -> None:
    """Generated ids are 32 hex digits and never repeat."""
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


def test_incoming_ids_are_validated() -> None:
    """Only 1-128 characters of a safe alphabet are kept; anything else is refused."""
    assert accept_request_id(b"0af76519-16cd:43dd.8448_eb21") == "0af76519-16cd:43dd.8448_eb21"
    assert accept_request_id(b"a" * 128) == "a" * 128
    for bad in (b"", b"a" * 129, b"id with space", b"id\r\nSet-Cookie: x", b"caf\xc3\xa9", b"<x>"):
        assert accept_request_id(bad) is None, bad


def test_bind_and_reset_restore_the_previous_id() -> None:
    """Binding nests, and resetting restores what was current before."""
    assert current_request_id() is None
    outer = bind_request_id("outer")
    inner = bind_request_id("inner")
    assert current_request_id() == "inner"
    reset_request_id(inner)
    assert current_request_id() == "outer"
    reset_request_id(outer)
    assert current_request_id() is None


def test_concurrent_tasks_see_their_own_id() -> None:
    """Two concurrent asyncio tasks each see the id they bound."""

    async def handle(request_id: str) -> str | None:
        token = bind_request_id(request_id)
        await asyncio.sleep(0.01)
        try:
            return current_request_id()
        finally:
            reset_request_id(token)

    async def main() -> list[str | None]:
        return list(await asyncio.gather(handle("a"), handle("b")))

    assert asyncio.run(main()) == ["a", "b"]
