"""The bounded ingest queue: batching, back-pressure, failures that do not stop the writer."""

from __future__ import annotations

import threading

import pytest

from vigie.telemetry.ingest_queue import IngestQueue


def test_full_queue_refuses_whole_requests_until_the_writer_catches_up() -> None:
    """While the writer is stuck, offers beyond capacity are refused; nothing is half-queued."""
    release = threading.Event()
    batches: list[list[int]] = []

    def write(batch: list[int]) -> None:
        release.wait(5)
        batches.append(batch)

    queue: IngestQueue[int] = IngestQueue(write, capacity=10, max_batch=4)
    assert queue.offer([0, 1, 2])
    assert queue.offer(list(range(3, 10)))
    assert not queue.offer([10])
    assert (queue.accepted, queue.refused) == (10, 1)
    release.set()
    assert queue.flush(5)
    assert [item for batch in batches for item in batch] == list(range(10))
    assert max(len(batch) for batch in batches) <= 4
    assert queue.offer([10])
    queue.close()
    assert not queue.offer([11])


def test_a_failing_write_is_counted_and_the_writer_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A batch whose write raises is counted as failed; later batches are written."""
    written: list[int] = []

    def write(batch: list[int]) -> None:
        if 13 in batch:
            raise OSError("disk full")
        written.extend(batch)

    queue: IngestQueue[int] = IngestQueue(write, capacity=100)
    queue.offer([13])
    queue.flush(5)
    assert queue.failing
    queue.offer([1, 2])
    queue.close()
    assert written == [1, 2]
    assert (queue.failed, queue.written, queue.failing) == (1, 2, False)
    assert "1 records could not be stored: OSError: disk full" in caplog.text
