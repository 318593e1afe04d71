"""``vigie tokens``: show or rotate the server's admin and viewer tokens.

The tokens live in ``DATA_DIR/secrets/tokens.json`` (mode 0600), created on the server's first
start. Rotating takes effect on the running server at its next request: the old token and every
session opened with it stop working.

Example::

    $ vigie tokens show --data-dir /var/lib/vigie
    admin   vigie_3q...
    viewer  vigie_Z1...
    $ vigie tokens rotate --role viewer --data-dir /var/lib/vigie
"""

from __future__ import annotations

import argparse
from pathlib import Path

from vigie.server.secrets_store import ROLES, Role, TokenStore, fingerprint

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vigie tokens show`` and ``vigie tokens rotate``."""
    parser = subparsers.add_parser(
        "tokens",
        help="show or rotate the server's access tokens",
        description="Show or rotate the admin and viewer tokens of a vigie server.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="print the tokens (created if missing)")
    rotate = actions.add_parser("rotate", help="replace tokens with new random ones")
    rotate.add_argument(
        "--role", choices=[*ROLES, "all"], default="all", help="which token (default: all)"
    )
    for sub in (show, rotate):
        sub.add_argument(
            "--data-dir", metavar="DIR", default="vigie-data",
            help="the server's data directory (default: ./vigie-data)",
        )  # fmt: skip
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    """Print or rotate; prints the tokens so they can be handed to clients."""
    store = TokenStore(Path(arguments.data_dir))
    if arguments.action == "rotate":
        roles: tuple[Role, ...] = ROLES if arguments.role == "all" else (arguments.role,)
        tokens = store.rotate(roles)
        for role in roles:
            print(f"rotated {role} token (new fingerprint {fingerprint(tokens.get(role))})")
    tokens = store.load_or_create()
    print(f"admin   {tokens.admin}")
    print(f"viewer  {tokens.viewer}")
    print(f"# stored in {store.path} (mode 0600)")
    return 0
