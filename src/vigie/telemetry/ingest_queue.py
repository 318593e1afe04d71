"""A bounded queue between the HTTP receiver and the database, with a batching writer thread.

Receiving must stay cheap and memory bounded under a burst: the request handler only decodes and
offers the records; one writer thread takes up to ``max_batch`` of them at a time and commits them
in one transaction (one fsync for thousands of spans). When the queue holds ``capacity`` records,
:meth:`IngestQueue.offer` refuses the whole request instead of blocking, and the receiver answers
429 with ``Retry-After`` so that OpenTelemetry exporters back off and retry, as the OTLP spec asks.
:meth:`IngestQueue.submit` returns a :class:`Ticket` that the receiver waits on before it answers:
a request is acknowledged only once all of its records are committed, so ``kill -9`` never loses
an acknowledged span (concurrent requests still share one transaction).

Example::

    >>> written = []
    >>> queue = IngestQueue(written.extend, capacity=100, name="demo")
    >>> queue.offer([1, 2, 3])
    True
    >>> queue.flush()
    True
    >>> written
    [1, 2, 3]
    >>> queue.close()
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["IngestQueue", "Ticket"]

T = TypeVar("T")
_log = logging.getLogger("vigie.internal")


class Ticket:
    """The fate of one request's records: set once every one of them is written or failed."""

    def __init__(self, count: int) -> None:
        self.remaining = count
        self.failed = False
        self.error: str | None = None
        self._done = threading.Event()
        if count == 0:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        """True when all records were committed within ``timeout`` seconds."""
        return self._done.wait(timeout) and not self.failed

    @property
    def done(self) -> bool:
        """Whether every record was written or failed."""
        return self._done.is_set()

    def _settle(self, count: int, error: str | None) -> None:
        if error is not None:
            self.failed = True
            self.error = error
        self.remaining -= count
        if self.remaining <= 0:
            self._done.set()


class IngestQueue(Generic[T]):
    """Records waiting for ``write``; at most ``capacity`` of them, written by a background thread.

    ``write`` receives lists of at most ``max_batch`` records. If it raises, the batch is counted in
    :attr:`failed` and logged once per error kind; the writer keeps going with the next batch.
    """

    def __init__(
        self,
        write: Callable[[list[T]], None],
        *,
        capacity: int = 100_000,
        max_batch: int = 5_000,
        name: str = "ingest",
    ) -> None:
        if capacity < 1 or max_batch < 1:
            raise ValueError("capacity and max_batch must be positive")
        self.capacity = capacity
        self.max_batch = max_batch
        self.accepted = 0
        self.refused = 0
        self.written = 0
        self.failed = 0
        self.last_error: str | None = None
        self.failing = False
        self.failed_at = 0.0
        self._write = write
        self._items: deque[T] = deque()
        # The ticket of each queued record (None for records offered without one).
        self._tickets: deque[Ticket | None] = deque()
        self._in_flight = 0
        self._condition = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"vigie-{name}-writer", daemon=True)
        self._thread.start()

    def __len__(self) -> int:
        with self._condition:
            return len(self._items)

    def offer(self, items: Sequence[T]) -> bool:
        """Queue all of ``items``, or none of them when they do not fit (then returns False)."""
        return self._enqueue(items, None)

    def submit(self, items: Sequence[T]) -> Ticket | None:
        """As :meth:`offer`, with a ticket to wait on for the commit; None when refused."""
        ticket = Ticket(len(items))
        return ticket if self._enqueue(items, ticket) else None

    def _enqueue(self, items: Sequence[T], ticket: Ticket | None) -> bool:
        with self._condition:
            if self._closing:
                return False
            if len(self._items) + self._in_flight + len(items) > self.capacity and items:
                self.refused += len(items)
                return False
            self._items.extend(items)
            self._tickets.extend([ticket] * len(items))
            self.accepted += len(items)
            self._condition.notify_all()
            return True

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._items and not self._closing:
                    self._condition.wait()
                if not self._items and self._closing:
                    return
                count = min(self.max_batch, len(self._items))
                batch = [self._items.popleft() for _ in range(count)]
                tickets = [self._tickets.popleft() for _ in range(count)]
                self._in_flight = count
            error_text: str | None = None
            try:
                self._write(batch)
            except Exception as error:  # a failing disk must not kill the writer
                with self._condition:
                    self.failed += len(batch)
                    message = f"{type(error).__name__}: {error}"
                    if message != self.last_error:
                        _log.error("vigie: %d records could not be stored: %s", count, message)
                    self.last_error = message
                    self.failing = True
                    self.failed_at = time.monotonic()
                    error_text = message
            else:
                with self._condition:
                    self.written += len(batch)
                    self.failing = False
            self._settle(tickets, error_text)
            with self._condition:
                self._in_flight = 0
                self._condition.notify_all()

    @staticmethod
    def _settle(tickets: list[Ticket | None], error: str | None) -> None:
        counts: dict[int, tuple[Ticket, int]] = {}
        for ticket in tickets:
            if ticket is not None:
                known = counts.get(id(ticket))
                counts[id(ticket)] = (ticket, (known[1] if known else 0) + 1)
        for ticket, count in counts.values():
            ticket._settle(count, error)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued record has been written (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._items or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new records, write the queued ones, stop the writer thread."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        self._thread.join(timeout)
