"""A ready ``POST /feedback`` endpoint for FastAPI, validated, built on :func:`record_feedback`.

Example::

    from fastapi import FastAPI
    from vigie.integrations.fastapi_feedback import feedback_router

    app = FastAPI()
    app.include_router(feedback_router(targets={"answer", "search"}))

    # POST /feedback {"target": "answer", "rating": "up"}            -> 202 {"status": "recorded"}
    # POST /feedback {"target": "answer", "rating": 7}               -> 422, names the field
    # POST /feedback {"target": "answer", "rating": 4, "comment": "...", "consent": true}

Only counts are kept unless the body says ``"consent": true``; then the comment and the
``user_id`` go to the feedback sink, never into metric labels.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field

from vigie.exceptions import InstrumentationError
from vigie.sdk.feedback import FeedbackRecord, check_target, record_feedback

__all__ = ["FeedbackIn", "feedback_router"]


class FeedbackIn(BaseModel):
    """The body of ``POST /feedback``."""

    target: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.:-]*$")
    ]
    rating: Literal["up", "down"] | Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str | None, Field(max_length=2000)] = None
    user_id: Annotated[str | None, Field(max_length=200)] = None
    consent: bool = False

    model_config = {"extra": "forbid"}


def feedback_router(
    *,
    path: str = "/feedback",
    targets: Collection[str] | None = None,
    sink: Callable[[FeedbackRecord], None] | None = None,
    registry: CollectorRegistry | None = None,
) -> APIRouter:
    """An ``APIRouter`` with ``POST {path}`` recording feedback; ``targets`` limits the vocabulary.

    A target outside ``targets`` is refused with 422 so that clients cannot grow the label set.
    """
    allowed = frozenset(check_target(t) for t in targets) if targets is not None else None
    router = APIRouter()

    @router.post(path, status_code=202)
    def post_feedback(feedback: FeedbackIn) -> dict[str, Any]:
        if allowed is not None and feedback.target not in allowed:
            raise HTTPException(
                status_code=422,
                detail=[
                    {
                        "loc": ["body", "target"],
                        "msg": f"unknown target; expected one of {sorted(allowed)}",
                        "type": "value_error",
                    }
                ],
            )
        try:
            record_feedback(
                feedback.target,
                feedback.rating,
                comment=feedback.comment,
                user_id=feedback.user_id,
                consent=feedback.consent,
                sink=sink,
                registry=registry,
            )
        except (ValueError, InstrumentationError) as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        return {"status": "recorded"}

    return router
