"""vigie: monitoring for AI applications.

This package is the SDK a user imports in their app. It is cheap to import: each public name is
loaded on first use from the module that implements it, and no server dependency (storage engine,
web framework, numpy) is imported here.

Example::

    from fastapi import FastAPI
    import vigie

    app = FastAPI()
    vigie.instrument_fastapi(app)   # HTTP metrics, /metrics and /health
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it. A name whose module is the target itself maps to "".
_LAZY: dict[str, str] = {
    "configure": "vigie.sdk.configuration",
    "span": "vigie.sdk.tracing",
    "instrument_asgi": "vigie.integrations.asgi",
    "instrument_fastapi": "vigie.integrations.fastapi",
    "instrument_wsgi": "vigie.integrations.wsgi",
    "instrument_openai": "vigie.integrations.openai",
    "instrument_anthropic": "vigie.integrations.anthropic",
    "instrument_faiss": "vigie.integrations.faiss",
    "track_llm": "vigie.sdk.genai",
    "track_retrieval": "vigie.sdk.retrieval",
    "record_prediction": "vigie.sdk.predictions",
    "record_feedback": "vigie.sdk.feedback",
    "health": "vigie.sdk.health",
    "instrument_sqlalchemy": "vigie.integrations.sqlalchemy",
    "instrument_redis": "vigie.integrations.redis",
    "record_auth_failure": "vigie.sdk.auth",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'vigie' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.rsplit(".", 1)[-1] == name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
