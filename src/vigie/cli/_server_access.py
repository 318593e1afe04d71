"""How CLI commands reach a server that has auth or TLS on: a token, and whom to trust.

``vigie query``, ``vigie doctor --server`` and ``vigie feedback`` share these options:

- ``--token-file FILE`` (preferred: the token stays out of ``ps`` and shell history),
  ``--token TOKEN``, or the ``VIGIE_TOKEN`` environment variable — sent as
  ``Authorization: Bearer``; the first given wins in that order: ``--token``, ``--token-file``,
  ``VIGIE_TOKEN``;
- ``--ca-file FILE``: a PEM certificate (or CA bundle) to trust for an ``https://`` server, e.g.
  the server's own self-signed ``cert.pem``; ``--insecure`` skips verification (a last resort).

The token is never printed: error messages name the option to use, not its value.

Example::

    $ vigie query up --server https://vigie.example.org:9800 \\
          --token-file ~/.config/vigie/viewer-token --ca-file /etc/vigie/tls/cert.pem
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from vigie.environment_variables import VIGIE_TOKEN
from vigie.exceptions import ConfigurationError

__all__ = [
    "ServerAccess",
    "add_access_arguments",
    "connection_hint",
    "refusal_hint",
    "server_access",
]

#: What a 401 answer tells the user to do.
_HOW_TO_AUTHENTICATE = "pass the token with --token-file FILE (or --token TOKEN, or VIGIE_TOKEN)"
_WHERE_TOKENS_ARE = "`vigie tokens show --data-dir DIR` prints the server's tokens"


@dataclass(frozen=True)
class ServerAccess:
    """Headers and TLS verification for ``httpx`` requests to the server."""

    headers: dict[str, str] = field(default_factory=dict, repr=False)
    verify: ssl.SSLContext | bool = True

    @property
    def has_token(self) -> bool:
        return "Authorization" in self.headers


def add_access_arguments(parser: argparse.ArgumentParser, *, role: str = "viewer") -> None:
    """Add ``--token``, ``--token-file``, ``--ca-file`` and ``--insecure`` to ``parser``."""
    group = parser.add_argument_group("server access (auth and TLS)")
    group.add_argument(
        "--token",
        metavar="TOKEN",
        help=f"{role} token (default: $VIGIE_TOKEN; prefer --token-file)",
    )
    group.add_argument("--token-file", metavar="FILE", help=f"file holding the {role} token")
    group.add_argument(
        "--ca-file", metavar="FILE", help="PEM certificate or CA bundle to trust for https"
    )
    group.add_argument(
        "--insecure", action="store_true", help="do not verify the server's TLS certificate"
    )


def server_access(arguments: argparse.Namespace) -> ServerAccess:
    """The :class:`ServerAccess` the options ask for; ConfigurationError names a bad option."""
    token = arguments.token
    if token is None and arguments.token_file:
        try:
            token = Path(arguments.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a text file"
            raise ConfigurationError(
                f"cannot read {arguments.token_file!r}: {reason}", field="--token-file"
            ) from None
        if not token:
            raise ConfigurationError(f"{arguments.token_file!r} is empty", field="--token-file")
    if token is None:
        token = VIGIE_TOKEN.read() or None
    headers = {"Authorization": f"Bearer {token.strip()}"} if token else {}
    if arguments.insecure and arguments.ca_file:
        raise ConfigurationError("give --ca-file or --insecure, not both", field="--insecure")
    verify: ssl.SSLContext | bool = not arguments.insecure
    if arguments.ca_file:
        try:
            verify = ssl.create_default_context(cafile=arguments.ca_file)
        except (OSError, ssl.SSLError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise ConfigurationError(
                f"cannot load {arguments.ca_file!r}: {reason}", field="--ca-file"
            ) from None
    return ServerAccess(headers, verify)


def refusal_hint(status: int, access: ServerAccess) -> str | None:
    """What to do about a 401 or 403 answer (None for other statuses)."""
    if status == 401:
        if access.has_token:
            return f"the server refused the token (HTTP 401; rotated?): {_WHERE_TOKENS_ARE}"
        return (
            f"the server requires a token (HTTP 401): {_HOW_TO_AUTHENTICATE}; {_WHERE_TOKENS_ARE}"
        )
    if status == 403:
        return "the token is not allowed to do this (HTTP 403): this needs the admin token"
    return None


def connection_hint(error: Exception) -> str:
    """Advice for a failed connection: ``--ca-file`` when the certificate was not trusted."""
    if "CERTIFICATE_VERIFY_FAILED" in str(error):
        return " (the server's certificate is not trusted: pass --ca-file FILE with it)"
    return ""
