"""The revisions, oldest first: ``0001_questions``, ``0002_feedback``."""

__all__: list[str] = []
