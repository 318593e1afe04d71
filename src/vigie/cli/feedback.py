"""``vigie feedback delete``: erase what a vigie server stores about one user (GDPR Art. 17).

A user who gave feedback asks for deletion: this deletes, on the server, every span and log
record whose attributes carry their id (``user.id``, ``enduser.id``, ``enduser.pseudo.id``,
``user_id``, or the ``--attribute`` names given), through
``POST /api/v1/admin/delete_user_data`` with the **admin** token. Feedback itself never reaches
the server with an id (metrics are counters without user ids); consented feedback records live
in the app (see SECURITY.md). The server audits the erasure under a hash of the id, which this
command prints too, never the id.

Example::

    $ vigie feedback delete --user u-42 --token-file admin-token
    deleted 3 spans and 2 log records of user sha256:16ec525b74b75626
    (attributes enduser.id, enduser.pseudo.id, user.id, user_id)
"""

from __future__ import annotations

import argparse
import sys

from vigie.cli._server_access import (
    add_access_arguments,
    connection_hint,
    refusal_hint,
    server_access,
)

__all__ = ["register"]

DEFAULT_SERVER = "http://127.0.0.1:9800"
_PATH = "/api/v1/admin/delete_user_data"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie feedback delete``."""
    parser = subparsers.add_parser(
        "feedback",
        help="erase one user's data from a server (right to erasure)",
        description="Manage what a vigie server stores about users who gave feedback.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    delete = actions.add_parser(
        "delete",
        help="delete every span and log record carrying a user's id",
        description="Delete, on the server, every span and log record whose attributes carry "
        "the user's id; prints how many (needs the admin token).",
    )
    delete.add_argument("--user", required=True, metavar="ID", help="the user's (pseudonymous) id")
    delete.add_argument(
        "--attribute", action="append", metavar="NAME", dest="attributes",
        help="attribute holding the id (repeatable; default: user.id, enduser.id, "
        "enduser.pseudo.id, user_id)",
    )  # fmt: skip
    delete.add_argument(
        "--server", default=DEFAULT_SERVER, metavar="URL",
        help=f"server base URL (default: {DEFAULT_SERVER})",
    )  # fmt: skip
    delete.add_argument("--timeout", type=float, default=60.0, help="seconds (default: 60)")
    add_access_arguments(delete, role="admin")
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Ask the server to delete the user's data; 0 when done, 1 on any error."""
    import httpx

    access = server_access(arguments)
    url = arguments.server.rstrip("/") + _PATH
    body: dict[str, object] = {"user_id": arguments.user}
    if arguments.attributes:
        body["attributes"] = arguments.attributes
    try:
        response = httpx.post(
            url, json=body, timeout=arguments.timeout,
            headers=access.headers, verify=access.verify,
        )  # fmt: skip
    except httpx.HTTPError as error:
        print(f"vigie: error: cannot reach {arguments.server}: {error}{connection_hint(error)}",
              file=sys.stderr)  # fmt: skip
        return 1
    hint = refusal_hint(response.status_code, access)
    if hint is not None:
        print(f"vigie: error: {url}: {hint}", file=sys.stderr)
        return 1
    try:
        document = response.json()
    except ValueError:
        document = {}
    if response.status_code != 200 or document.get("status") != "success":
        reason = document.get("error") or f"HTTP {response.status_code}"
        print(f"vigie: error: {url}: {reason}", file=sys.stderr)
        return 1
    data = document["data"]
    deleted = data["deleted"]
    print(
        f"deleted {deleted['spans']} spans and {deleted['logs']} log records of user "
        f"{data['user']} (attributes {', '.join(data['attributes'])})"
    )
    return 0
