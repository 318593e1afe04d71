"""The server's access tokens: generated on first start, kept in the data directory, rotatable.

Two tokens exist, never a default password: the **admin** token (configuration reload, silences,
every ingest endpoint) and the **viewer** token (the UI and the read APIs). They are random
(32 bytes from :mod:`secrets`, URL-safe), written to ``DATA_DIR/secrets/tokens.json`` with mode
0600 in a 0700 directory, and compared in constant time. ``vigie tokens rotate`` replaces one or
both; a running server notices the file changed on the next request, so old tokens and the
sessions opened with them stop working at once.

Example::

    >>> import tempfile
    >>> from pathlib import Path
    >>> store = TokenStore(Path(tempfile.mkdtemp()))
    >>> tokens = store.load_or_create()
    >>> store.role_of(tokens.admin), store.role_of("guess")
    ('admin', None)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vigie.exceptions import ConfigurationError

__all__ = ["ROLES", "Role", "TokenStore", "Tokens", "fingerprint", "generate_token"]

Role = Literal["admin", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "viewer")

_FILE_MODE = 0o600
_DIR_MODE = 0o700


def generate_token() -> str:
    """A new random token (256 bits, URL-safe, prefixed so a leaked one is recognisable)."""
    return "vigie_" + secrets.token_urlsafe(32)


def fingerprint(token: str) -> str:
    """A short, non-reversible name of ``token`` for logs and sessions (never the token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Tokens:
    """The two current tokens."""

    admin: str
    viewer: str

    def get(self, role: Role) -> str:
        return self.admin if role == "admin" else self.viewer


class TokenStore:
    """``DATA_DIR/secrets/tokens.json``: read, created and rotated with safe permissions."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / "secrets" / "tokens.json"
        self.self_scrape_path = self.path.parent / "self_scrape_token"
        self._tokens: Tokens | None = None
        self._stamp: tuple[int, int] | None = None
        self._self_scrape = ""

    def load_or_create(self) -> Tokens:
        """The stored tokens, generating and saving them when there are none yet."""
        if not self.path.exists():
            self._write(Tokens(generate_token(), generate_token()))
        return self.current()

    def current(self) -> Tokens:
        """The tokens in the file, re-read only when the file changed (a rotation)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise ConfigurationError(
                f"no token file {self.path}: start the server once or run 'vigie tokens rotate'"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_ino)
        if self._tokens is None or stamp != self._stamp:
            if stat.st_mode & 0o077:
                # Someone loosened the permissions: tighten them rather than serve exposed secrets.
                os.chmod(self.path, _FILE_MODE)
            self._tokens = self._read()
            self._stamp = stamp
        return self._tokens

    def rotate(self, roles: tuple[Role, ...] = ROLES) -> Tokens:
        """Replace the tokens of ``roles`` with new ones; returns all current tokens."""
        old = self.load_or_create()
        new = Tokens(
            generate_token() if "admin" in roles else old.admin,
            generate_token() if "viewer" in roles else old.viewer,
        )
        self._write(new)
        return self.current()

    def write_self_scrape_token(self) -> str:
        """A new per-process viewer token for the server's own scrape of ``/metrics``.

        Kept apart from the viewer token so it never has to be handed out; replaced at each start.
        """
        token = generate_token()
        self.self_scrape_path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.self_scrape_path.parent, _DIR_MODE)
        self.self_scrape_path.unlink(missing_ok=True)
        descriptor = os.open(
            self.self_scrape_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE
        )
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(token)
        self._self_scrape = token
        return token

    def role_of(self, token: str) -> Role | None:
        """The role ``token`` grants, compared in constant time against every token."""
        tokens = self.current()
        given = token.encode("utf-8", "replace")
        # Every comparison always runs so timing does not tell which token was close.
        is_admin = hmac.compare_digest(given, tokens.admin.encode())
        is_viewer = hmac.compare_digest(given, tokens.viewer.encode())
        is_internal = bool(self._self_scrape) and hmac.compare_digest(
            given, self._self_scrape.encode()
        )
        if is_admin:
            return "admin"
        if is_viewer or is_internal:
            return "viewer"
        return None

    def _read(self) -> Tokens:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            tokens = Tokens(str(data["admin"]), str(data["viewer"]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(
                f"unreadable token file {self.path}: {error}; run 'vigie tokens rotate'"
            ) from None
        if len(tokens.admin) < 16 or len(tokens.viewer) < 16:
            raise ConfigurationError(f"token file {self.path}: tokens shorter than 16 characters")
        return tokens

    def _write(self, tokens: Tokens) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, _DIR_MODE)
        temporary = directory / f".tokens.{os.getpid()}.tmp"
        # O_EXCL + mode at creation: the secret is never readable by others, not even briefly.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                json.dump({"admin": tokens.admin, "viewer": tokens.viewer}, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._tokens = None
