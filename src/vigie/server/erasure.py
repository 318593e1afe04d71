"""Right to erasure: delete what the server stores about one user, on request, and audit it.

What the server can hold about one person is narrow by design: metrics never carry a user id
(the SDK keeps feedback as counters, ``user_feedback_total{target,rating}``), quality samples
carry a rating but no id, and consented feedback records (comment, user id) stay in the app
(:func:`vigie.sdk.feedback.consented_feedback` or the app's own sink). What *can* reach the server
is a pseudonymous user id in the **attributes of spans and log records** an app exports over
OTLP — OpenTelemetry's ``user.id`` (formerly ``enduser.id``) — so that is what is deleted here:
every span and log record whose attributes hold the id under one of :data:`USER_ATTRIBUTES` (or
the names given in the request).

``POST /api/v1/admin/delete_user_data`` (admin token) with a JSON body
``{"user_id": "u-42", "attributes": ["user.id"]}`` (``attributes`` optional) or a form body
``user_id=u-42`` answers::

    {"status": "success", "data": {"user": "sha256:16ec525b74b75626",
     "deleted": {"spans": 3, "logs": 2},
     "attributes": ["enduser.id", "enduser.pseudo.id", "user.id", "user_id"]}}

The id is never written to a log: the audit line (logger ``vigie.audit``) carries
``sha256:`` + the first 16 hex digits of its SHA-256, which the operator can recompute to
match an erasure request against the log. Deleted rows are overwritten on disk
(``secure_delete``) and the full-text index of log bodies is rebuilt so no copy is left behind.

Example::

    $ curl -XPOST -H "Authorization: Bearer $ADMIN" -d user_id=u-42 \\
          http://127.0.0.1:9800/api/v1/admin/delete_user_data
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from vigie.server.runtime import Server
    from vigie.telemetry.database import Database
    from vigie.telemetry.service import TelemetryService

__all__ = ["PATH", "USER_ATTRIBUTES", "Erasure", "erase_user", "routes", "user_hash"]

audit = logging.getLogger("vigie.audit")

#: The API path (admin: it is a POST outside the read APIs).
PATH = "/api/v1/admin/delete_user_data"
#: Attribute names holding a user id: OpenTelemetry's (current and deprecated) and the common
#: snake_case one of structured logs.
USER_ATTRIBUTES = ("enduser.id", "enduser.pseudo.id", "user.id", "user_id")
_MAX_ID = 1_000
_MAX_ATTRIBUTES = 32
_MAX_BODY = 64 << 10

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Erasure:
    """What one erasure deleted."""

    user: str
    spans: int
    logs: int
    attributes: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "deleted": {"spans": self.spans, "logs": self.logs},
            "attributes": list(self.attributes),
        }


def user_hash(user_id: str) -> str:
    """The pseudonym written to the audit log instead of the id.

    >>> user_hash("u-42")
    'sha256:16ec525b74b75626'
    """
    return "sha256:" + hashlib.sha256(user_id.encode("utf-8")).hexdigest()[:16]


def erase_user(
    telemetry: TelemetryService | None,
    user_id: str,
    attributes: Sequence[str] = USER_ATTRIBUTES,
) -> Erasure:
    """Delete every stored span and log record whose ``attributes`` carry ``user_id``.

    Records still queued for writing are committed first, so an id acknowledged a moment ago is
    deleted too. Numbers match their text (``42`` matches ``"42"``).
    """
    names = tuple(sorted(set(attributes)))
    spans = logs = 0
    if telemetry is not None:
        telemetry.flush()
        spans = _delete(telemetry.spans.database, "spans", names, user_id)
        logs = _delete(telemetry.logs.database, "logs", names, user_id)
    return Erasure(user_hash(user_id), spans, logs, names)


def _delete(database: Database, table: str, names: tuple[str, ...], user_id: str) -> int:
    # JSON paths quote the key: "user.id" is one key, not a path into "user".
    paths = [f'$."{name}"' for name in names]
    condition = " OR ".join("CAST(json_extract(attributes, ?) AS TEXT) = ?" for _ in paths)
    parameters = [value for path in paths for value in (path, user_id)]
    with database.writing() as connection:
        connection.execute("PRAGMA secure_delete=ON")  # zero the deleted content on disk
        try:
            cursor = connection.execute(
                f"DELETE FROM {table} WHERE {condition}",  # noqa: S608 - fixed identifiers
                parameters,
            )
            deleted = int(cursor.rowcount)
            if deleted and table == "logs":
                # FTS5 keeps deleted terms in old segments until they are merged: merge now.
                connection.execute("INSERT INTO logs_text(logs_text) VALUES ('optimize')")
        finally:
            connection.execute("PRAGMA secure_delete=OFF")
    if deleted:
        database.shrink()  # and fold the WAL, which still holds the old pages, into the file
    return deleted


class _BadRequestError(Exception):
    pass


async def _request(request: Request) -> tuple[str, tuple[str, ...]]:
    if "user_id" in request.query_params:
        raise _BadRequestError(
            "send user_id in the request body, not in the URL (URLs end up in access logs)"
        )
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise _BadRequestError(f"body over {_MAX_BODY} bytes")
    content_type = request.headers.get("content-type", "")
    document: Any
    try:
        if content_type.startswith("application/json"):
            document = json.loads(body)
        else:
            form = parse_qs(body.decode("utf-8"), max_num_fields=_MAX_ATTRIBUTES + 1)
            document = {"user_id": (form.get("user_id") or [""])[-1]}
            if "attributes" in form:
                document["attributes"] = form["attributes"]
    except (ValueError, UnicodeDecodeError) as error:
        raise _BadRequestError(f"unreadable body: {error}") from None
    if not isinstance(document, dict):
        raise _BadRequestError("expected a JSON object with user_id")
    user_id = document.get("user_id")
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > _MAX_ID:
        raise _BadRequestError(f"user_id: expected a non-empty string of at most {_MAX_ID} chars")
    attributes = document.get("attributes", list(USER_ATTRIBUTES))
    if (
        not isinstance(attributes, list)
        or not 0 < len(attributes) <= _MAX_ATTRIBUTES
        or not all(isinstance(name, str) and name and '"' not in name for name in attributes)
    ):
        raise _BadRequestError(
            f"attributes: expected 1 to {_MAX_ATTRIBUTES} attribute names (strings)"
        )
    return user_id, tuple(attributes)


def routes(server: Server) -> list[tuple[str, Handler, list[str]]]:
    """``(path, handler, methods)`` of the erasure API of ``server``."""

    async def delete_user_data(request: Request) -> Response:
        if not server.ready:
            return _error(503, "unavailable", "Service Unavailable")
        try:
            user_id, attributes = await _request(request)
        except _BadRequestError as error:
            return _error(400, "bad_data", str(error))
        try:
            erasure = await asyncio.to_thread(erase_user, server.telemetry, user_id, attributes)
        except Exception as error:  # logged (without the id) and answered in the envelope
            audit.error("erasure of user %s failed: %s", user_hash(user_id), error)
            return _error(500, "internal", f"erasure failed: {type(error).__name__}")
        client = request.client.host if request.client else "unknown"
        audit.info(
            "erasure of user %s: deleted %d spans and %d log records (attributes %s), "
            "requested from %s",
            erasure.user, erasure.spans, erasure.logs, ", ".join(erasure.attributes), client,
        )  # fmt: skip
        return JSONResponse({"status": "success", "data": erasure.to_json()})

    return [(PATH, delete_user_data, ["POST"])]


def _error(status: int, kind: str, message: str) -> Response:
    body = {"status": "error", "errorType": kind, "error": message}
    return JSONResponse(body, status_code=status)
