"""The id of the request being served, for logs and error reports.

The HTTP middleware takes the id from the ``X-Request-ID`` header when the client (or a proxy)
sent a well-formed one, generates one otherwise, binds it here for the duration of the request
and returns it in the ``X-Request-ID`` response header. Log records and error reports read it with
:func:`current_request_id`, so one id follows a request from the proxy to the app's logs.

Request ids belong with vigie's logging: the middlewares' default (``request_id=None``) binds and
returns them while :func:`vigie.configure` has installed vigie's logging, whose every line carries
the id (:data:`automatic_ids`); ``request_id=True`` keeps them on without it (the app reads
:func:`current_request_id` itself), ``False`` turns them off.

A generated id is a random per-process prefix and a counter, 32 hex digits: unique without the
cost of ``uuid4()`` on every request. An incoming id is kept only if it is 1 to 128 characters of
``A-Z a-z 0-9 . _ : -``, so a client cannot inject text into logs.

Example::

    >>> token = bind_request_id("req-42")
    >>> current_request_id()
    'req-42'
    >>> reset_request_id(token)
    >>> current_request_id() is None
    True
"""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar, Token

__all__ = [
    "HEADER",
    "RequestIdSwitch",
    "accept_request_id",
    "automatic_ids",
    "bind_request_id",
    "current_request_id",
    "new_request_id",
    "reset_request_id",
]

#: The header name, lower-case as ASGI and HTTP/2 carry it.
HEADER = b"x-request-id"

_request_id: ContextVar[str | None] = ContextVar("vigie_request_id", default=None)
_valid = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_prefix = os.urandom(8).hex()
_counter = itertools.count(1)


class RequestIdSwitch:
    """Whether a middleware binds and returns request ids: one attribute read per request.

    >>> RequestIdSwitch(True).enabled
    True
    """

    __slots__ = ("enabled",)

    def __init__(self, enabled: bool = False) -> None:
        self.enabled = enabled


#: On while :func:`vigie.configure` has vigie's logging installed; followed by the middlewares
#: left at ``request_id=None``.
automatic_ids = RequestIdSwitch()


def current_request_id() -> str | None:
    """The id of the request being served in this context, or None outside a request."""
    return _request_id.get()


def new_request_id() -> str:
    """A fresh id: 16 random hex digits for this process, then a 16-digit counter.

    >>> len(new_request_id()), new_request_id() != new_request_id()
    (32, True)
    """
    return f"{_prefix}{next(_counter):016x}"


def accept_request_id(raw: bytes | None) -> str | None:
    """``raw`` decoded if it is a safe request id, else None (the caller then generates one).

    >>> accept_request_id(b"abc-123"), accept_request_id(b"bad id\\n"), accept_request_id(None)
    ('abc-123', None, None)
    """
    if raw is None or _valid.fullmatch(raw) is None:
        return None
    return raw.decode("ascii")


def bind_request_id(request_id: str) -> Token[str | None]:
    """Make ``request_id`` current; give the token back to :func:`reset_request_id` at the end."""
    return _request_id.set(request_id)


def reset_request_id(token: Token[str | None]) -> None:
    """Restore the request id that was current before :func:`bind_request_id`."""
    _request_id.reset(token)
