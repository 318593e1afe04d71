"""The demo application of vigie: a FAQ assistant, its simulated LLM, its traffic and its drills.

Nothing is imported here, so the modules load their dependencies (FastAPI, FAISS, numpy, openai,
SQLAlchemy, uvicorn, httpx) only when used: :mod:`vigie.demo.faq_app` (the app),
:mod:`vigie.demo.llm_simulator` and :mod:`vigie.demo.llm_backend` (the LLM),
:mod:`vigie.demo.drills` (fault injection), :mod:`vigie.demo.traffic` (the traffic generator),
:mod:`vigie.demo.launcher` (what ``vigie demo`` runs) and :mod:`vigie.demo.example_app` (a
minimal HTTP-only app).
"""

__all__: list[str] = []
