"""Reference and current windows: which time ranges a drift check compares.

The *current* window is the last ``current_seconds`` (default one hour). The *reference* window
is either

* **trailing** (the default): the ``reference_seconds`` (default 24 h) just before the current
  window, so drift means "different from yesterday"; or
* **fixed**: a period the user marked as good (``vigie drift reference set --from --to``); its
  sketches are frozen once the period is over, so it survives restarts and retention.

Samples are summed into time buckets of ``bucket_seconds`` (default 5 minutes); a window is the
merge of the buckets that start inside it, so window edges are rounded to buckets.

Example::

    >>> settings = WindowSettings(current_seconds=3600, reference_seconds=86400)
    >>> settings.current(7200.0)
    Window(start=3600.0, end=7200.0)
    >>> settings.reference(ReferenceSpec(), 90000.0)
    Window(start=0.0, end=86400.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ReferenceSpec", "Window", "WindowSettings"]


@dataclass(frozen=True)
class Window:
    """A half-open time range ``[start, end)`` in Unix seconds."""

    start: float
    end: float

    def contains(self, bucket_start: float) -> bool:
        return self.start <= bucket_start < self.end


@dataclass(frozen=True)
class ReferenceSpec:
    """How a model's reference window is chosen: trailing (default) or a fixed good period."""

    kind: Literal["trailing", "fixed"] = "trailing"
    start: float | None = None
    end: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceSpec:
        if data.get("kind") == "fixed":
            return cls("fixed", data.get("start"), data.get("end"))
        return cls()


@dataclass(frozen=True)
class WindowSettings:
    """Window lengths and the bucket width, in seconds."""

    current_seconds: float = 3600.0
    reference_seconds: float = 86400.0
    bucket_seconds: float = 300.0

    def bucket_of(self, timestamp: float) -> int:
        """Start (Unix seconds) of the bucket holding ``timestamp``."""
        return int(timestamp // self.bucket_seconds * self.bucket_seconds)

    def current(self, now: float) -> Window:
        return Window(now - self.current_seconds, now)

    def reference(self, spec: ReferenceSpec, now: float) -> Window:
        if spec.kind == "fixed" and spec.start is not None and spec.end is not None:
            return Window(spec.start, spec.end)
        end = now - self.current_seconds
        return Window(end - self.reference_seconds, end)

    @property
    def retention_seconds(self) -> float:
        """How long buckets are kept for trailing windows."""
        return self.current_seconds + self.reference_seconds + self.bucket_seconds
