"""Keep the host application alive when vigie itself fails.

Code that runs inside a user's request path (middleware, LLM wrappers, metric recording, log
handlers) wraps its own work in :func:`guard` or :func:`failsafe`. An internal error is logged once
on the ``vigie.internal`` logger and the work degrades to a no-op, because a monitoring bug must
never become an outage. Under pytest the error is re-raised instead, so our own tests fail loudly;
a test that checks the swallowing itself opts out with :func:`swallowing_internal_errors`.

Example::

    >>> from vigie.sdk.failsafe import failsafe
    >>> @failsafe(default=0)
    ... def risky() -> int:
    ...     return 1
    >>> risky()
    1
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

__all__ = ["failsafe", "guard", "log_internal_error", "swallowing_internal_errors"]

internal_logger = logging.getLogger("vigie.internal")

_P = ParamSpec("_P")
_R = TypeVar("_R")

_already_logged: set[tuple[str, str]] = set()
_lock = threading.Lock()
_swallow_depth = 0


def _reraise_wanted() -> bool:
    return "PYTEST_CURRENT_TEST" in os.environ and _swallow_depth == 0


def log_internal_error(context: str) -> None:
    """Log the exception being handled, once per (context, exception type); re-raise under pytest.

    Call it from an ``except`` block only.
    """
    if _reraise_wanted():
        raise
    import sys

    error = sys.exc_info()[1]
    key = (context, type(error).__name__)
    with _lock:
        if key in _already_logged:
            return
        _already_logged.add(key)
    internal_logger.exception("vigie internal error in %s; continuing without it", context)


@contextlib.contextmanager
def guard(context: str) -> Iterator[None]:
    """Run the block; an exception inside it is logged by :func:`log_internal_error` and dropped."""
    try:
        yield
    except Exception:
        log_internal_error(context)


def failsafe(default: _R) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Decorate a function so that an internal error returns ``default`` instead of propagating."""

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(function)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return function(*args, **kwargs)
            except Exception:
                log_internal_error(function.__qualname__)
                return default

        return wrapper

    return decorate


@contextlib.contextmanager
def swallowing_internal_errors() -> Iterator[None]:
    """Within this block, internal errors are logged and dropped even under pytest (for tests)."""
    global _swallow_depth
    with _lock:
        _swallow_depth += 1
    try:
        yield
    finally:
        with _lock:
            _swallow_depth -= 1
