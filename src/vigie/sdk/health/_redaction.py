"""Keep secrets out of health messages.

A failing check's message comes from an exception, and exception messages of database drivers and
HTTP clients often carry the connection URL, password included. ``/health`` is frequently public,
so every message is passed through :func:`redact` before it is shown or logged: URL credentials
and secret-named values first (``***``), then the SDK's log redactor
(:class:`vigie.sdk.redaction.Redactor`: e-mail addresses, API keys, bearer tokens, cards...).

Example::

    >>> redact("could not connect to postgresql://app:s3cret@db:5432/faq")
    'could not connect to postgresql://***@db:5432/faq'
    >>> redact("GET /v1?api_key=abc123&x=1 failed")
    'GET /v1?api_key=***&x=1 failed'
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from vigie.sdk.redaction import Redactor

__all__ = ["MAX_MESSAGE_LENGTH", "redact", "safe_url"]

MAX_MESSAGE_LENGTH = 300

# scheme://user[:password]@ — the password may hold '/' but not whitespace or '@'.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^\s/@]+(?::[^\s@]*)?@")
# key=value pairs of DSNs and query strings whose key names a secret.
_SECRET_PAIR = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|"
    r"auth(?:orization)?|client[_-]?secret)\s*=\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^&\s;,]+)"
)


_personal: list[Redactor] = []


def redact(text: str) -> str:
    """``text`` with URL credentials, secrets and personal data masked, on one short line."""
    text = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    text = _SECRET_PAIR.sub(r"\g<key>***", text)
    if not _personal:
        from vigie.sdk.redaction import Redactor  # lazily: only failing checks pay its import

        _personal.append(Redactor())
    text = _personal[0].redact(text)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_LENGTH:
        text = text[: MAX_MESSAGE_LENGTH - 1] + "…"
    return text


def safe_url(url: str) -> str:
    """``url`` reduced to scheme, host, port and path: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address goes back into brackets
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
