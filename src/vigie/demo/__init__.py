"""The demo application of vigie: an instrumented example app, its traffic and the launcher.

Nothing is imported here, so the modules load their web dependencies (FastAPI, uvicorn, httpx)
only when used: :mod:`vigie.demo.example_app`, :mod:`vigie.demo.traffic`,
:mod:`vigie.demo.launcher` (what ``vigie demo`` runs).
"""

__all__: list[str] = []
