"""Fault injection for the incident drills: ``POST /_drill/{name}`` on the demo app.

A drill is a switch. Turning it on injects one kind of fault, turning it off heals it; the
incident drills (``vigie drill NAME``) flip them and watch the alerts. The endpoint is guarded by
a token generated when the app starts (``Authorization: Bearer <token>``), so that traffic cannot
trip a drill by accident; a wrong token is refused with 401 and counted by
:func:`vigie.record_auth_failure` as ``invalid_token``.

=============== ========================================================================
drill           fault while active
=============== ========================================================================
``latency``     the simulated LLM answers seconds slower
``errors``      a share of ``/ask`` and ``/classify`` requests fail with 500
``llm-errors``  the simulated LLM answers 429 rate limits
``cost``        answers ask for many more tokens (long answers, a bigger context)
``drift``       the traffic generator asks off-topic questions (confidence drops)
``auth``        the traffic generator sends a burst of failed logins
``schema``      the database is moved one Alembic revision behind head
=============== ========================================================================

``down`` is not a switch: stop the app's process.

Example::

    curl -X POST -H "Authorization: Bearer $TOKEN" -d '{"active": true}' \\
         http://127.0.0.1:8000/_drill/llm-errors
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from vigie.sdk.auth import record_auth_failure

__all__ = ["DRILLS", "DrillIn", "DrillState", "drill_router"]

#: The drills the app can switch, in the order of the issue.
DRILLS = ("latency", "errors", "llm-errors", "cost", "drift", "auth", "schema")

Hook = Callable[[bool], Awaitable[str]]


class DrillIn(BaseModel):
    """The body of ``POST /_drill/{name}``."""

    active: bool

    model_config = {"extra": "forbid"}


class DrillState:
    """Which drills are active, and what each does when switched (its hook)."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(18)
        self._active: set[str] = set()
        self._hooks: dict[str, Hook] = {}
        self._lock = threading.Lock()

    def on(self, name: str, hook: Hook) -> None:
        """Run ``hook(active)`` when drill ``name`` is switched; it returns a one-line detail."""
        if name not in DRILLS:
            raise ValueError(f"unknown drill {name!r}")
        self._hooks[name] = hook

    def mark(self, name: str) -> None:
        """Record drill ``name`` as on without running its hook (the app started faulty)."""
        with self._lock:
            self._active.add(name)

    def active(self) -> frozenset[str]:
        """The drills currently on."""
        with self._lock:
            return frozenset(self._active)

    def is_active(self, name: str) -> bool:
        """True when drill ``name`` is on."""
        with self._lock:
            return name in self._active

    async def switch(self, name: str, active: bool) -> str:
        """Turn drill ``name`` on or off; returns what happened."""
        hook = self._hooks.get(name)
        detail = await hook(active) if hook is not None else "flag set; the traffic follows it"
        with self._lock:
            (self._active.add if active else self._active.discard)(name)
        return detail


def drill_router(
    state: DrillState, *, prefix: str = "/_drill", registry: CollectorRegistry | None = None
) -> APIRouter:
    """``GET {prefix}`` (active drills) and ``POST {prefix}/{name}`` (switch one), token-guarded."""
    router = APIRouter()

    def authorize(authorization: str | None) -> None:
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(presented, state.token):
            reason = "missing_credentials" if not authorization else "invalid_token"
            record_auth_failure(reason, registry=registry)
            raise HTTPException(401, "drill endpoints need 'Authorization: Bearer <drill token>'")

    @router.get(prefix)
    async def list_drills(
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        authorize(authorization)
        return {"available": list(DRILLS), "active": sorted(state.active())}

    @router.post(prefix + "/{name}")
    async def switch_drill(
        name: str,
        body: DrillIn,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        authorize(authorization)
        if name == "down":
            raise HTTPException(400, "the 'down' drill is stopping the app's process, not a switch")
        if name not in DRILLS:
            raise HTTPException(404, f"unknown drill {name!r}; known: {', '.join(DRILLS)}")
        try:
            detail = await state.switch(name, body.active)
        except LookupError as error:  # the drill's lever is not there (e.g. a real LLM)
            raise HTTPException(409, str(error)) from None
        return {"drill": name, "active": body.active, "detail": detail}

    return router
