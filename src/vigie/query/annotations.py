"""Warnings and infos a query produces besides its result, rendered as Prometheus renders them.

Prometheus attaches *annotations* to a query result (the ``warnings`` and ``infos`` of the HTTP
API): ``PromQL warning: quantile value should be between 0 and 1, got 1.5 (1:10)``, where the
position is the line and column of the expression the annotation is about.

Example::

    >>> notes = Annotations("sort(x)")
    >>> notes.warn("sort is ineffective for range queries", position=0)
    >>> notes.warnings
    ['PromQL warning: sort is ineffective for range queries (1:1)']
"""

from __future__ import annotations

import re

__all__ = ["Annotations"]


class Annotations:
    """Collects the warnings and infos of one query, without duplicates, in order."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warn(self, message: str, *, position: int | None = None) -> None:
        """Add ``PromQL warning: message (line:col)``."""
        text = f"PromQL warning: {message}{self._where(position)}"
        if text not in self.warnings:
            self.warnings.append(text)

    def info(self, message: str, *, position: int | None = None) -> None:
        """Add ``PromQL info: message (line:col)``."""
        text = f"PromQL info: {message}{self._where(position)}"
        if text not in self.infos:
            self.infos.append(text)

    def position_of(self, token: str, *, name: bool = False) -> int | None:
        """Where ``token`` first appears in the query (annotations point at expressions);
        with ``name``, only where it stands alone as a metric name (not inside another word,
        not a function call)."""
        if not name:
            index = self.query.find(token)
            return index if index >= 0 else None
        pattern = rf"(?<![\w:]){re.escape(token)}(?![\w:])(?!\s*\()"
        match = re.search(pattern, self.query)
        return match.start() if match else None

    def _where(self, position: int | None) -> str:
        if position is None:
            return ""
        line = self.query.count("\n", 0, position) + 1
        column = position - (self.query.rfind("\n", 0, position) + 1) + 1
        return f" ({line}:{column})"
