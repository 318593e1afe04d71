"""One base for the SDK's measured blocks that work with both ``with`` and ``async with``.

An LLM call or a retrieval search is timed the same way in sync and async code: open on entry,
record on exit (with the exception, if any). :class:`TimedScope` spells the four protocol
methods once; a subclass gives :meth:`~TimedScope._open` (what ``as`` binds) and
:meth:`~TimedScope._close`.

Example::

    >>> class Stopwatch(TimedScope["Stopwatch"]):
    ...     def _open(self) -> "Stopwatch":
    ...         self.closed_with = None
    ...         return self
    ...     def _close(self, error: BaseException | None) -> None:
    ...         self.closed_with = error
    >>> with Stopwatch() as watch:
    ...     pass
    >>> watch.closed_with is None
    True
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, TypeVar

__all__ = ["TimedScope"]

Bound = TypeVar("Bound")


class TimedScope(Generic[Bound]):
    """A context manager for ``with`` and ``async with``; exceptions are never swallowed."""

    def _open(self) -> Bound:
        raise NotImplementedError

    def _close(self, error: BaseException | None) -> None:
        raise NotImplementedError

    def __enter__(self) -> Bound:
        return self._open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)

    async def __aenter__(self) -> Bound:
        return self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close(exc)
