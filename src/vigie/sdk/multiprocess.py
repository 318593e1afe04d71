"""Metrics of multi-process servers (gunicorn with uvicorn workers), exact and cheap to scrape.

prometheus-client's multiprocess mode gives each worker its own memory-mapped ``.db`` files in
``PROMETHEUS_MULTIPROC_DIR``; a scrape reads and sums every file. Files of dead workers stay there
(their counts must keep counting toward the totals), so after thousands of worker restarts a scrape
reads thousands of files and takes tens of seconds. vigie fixes that at the source: when a worker
exits, :func:`mark_process_dead` folds its counter, histogram and summary files into one archive
file per type (``counter_archive.db``...), so totals stay exact, and deletes its gauge files (a dead
worker has no requests in flight). The directory then holds one file set per *live* worker plus the
archives, whatever the number of restarts.

Folding and scraping exclude each other through an ``flock`` on ``.vigie.lock`` in the directory,
so a scrape never sees a worker counted twice (archive and own file) or not at all.

Example ``gunicorn.conf.py``::

    from vigie.sdk.multiprocess import child_exit, on_starting  # noqa: F401  (gunicorn hooks)

    worker_class = "uvicorn.workers.UvicornWorker"
    workers = 4

and start gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set to an empty directory of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from vigie.exceptions import ConfigurationError
from vigie.sdk.failsafe import guard

__all__ = [
    "LockedMultiProcessCollector",
    "child_exit",
    "compact",
    "mark_process_dead",
    "multiprocess_directory",
    "on_starting",
]

_LOCK_NAME = ".vigie.lock"
_ARCHIVED_TYPES = ("counter", "histogram", "summary")


def multiprocess_directory() -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` (the variable prometheus-client reads), or None when unset."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _directory(directory: str | os.PathLike[str] | None) -> Path:
    chosen = directory if directory is not None else multiprocess_directory()
    if chosen is None:
        raise ConfigurationError(
            "no multiprocess directory: set PROMETHEUS_MULTIPROC_DIR",
            field="PROMETHEUS_MULTIPROC_DIR",
        )
    path = Path(chosen)
    if not path.is_dir():
        raise ConfigurationError(f"{path} is not a directory", field="PROMETHEUS_MULTIPROC_DIR")
    return path


@contextlib.contextmanager
def _locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    with open(directory / _LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LockedMultiProcessCollector(MultiProcessCollector):
    """prometheus-client's collector, reading under the folding lock (never double counts)."""

    def __init__(self, registry: Any, path: str | os.PathLike[str] | None = None) -> None:
        self._directory = _directory(path)
        super().__init__(registry, str(self._directory))  # type: ignore[no-untyped-call]

    def collect(self) -> Any:
        """Merge every worker's and archive's files into one set of metrics."""
        with _locked(self._directory, exclusive=False):
            files = glob.glob(os.path.join(self._directory, "*.db"))
            return list(self.merge(files, accumulate=True))  # type: ignore[no-untyped-call]


def _pid_files(directory: Path, pid: int) -> list[Path]:
    return [
        path
        for path in directory.glob(f"*_{pid}.db")
        if path.name.split("_")[0] in (*_ARCHIVED_TYPES, "gauge")
    ]


def _fold(archive: Path, sources: Iterable[Path]) -> None:
    """Add the values of ``sources`` into ``archive`` (written aside, then renamed into place)."""
    totals: dict[str, float] = {}
    for path in ([archive] if archive.exists() else []) + list(sources):
        values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
        for key, value, _timestamp, _position in values:
            totals[key] = totals.get(key, 0.0) + value
    staging = archive.with_suffix(".db.tmp")
    staging.unlink(missing_ok=True)
    target = MmapedDict(str(staging))  # type: ignore[no-untyped-call]
    try:
        for key, value in totals.items():
            target.write_value(key, value, 0.0)  # type: ignore[no-untyped-call]
    finally:
        target.close()  # type: ignore[no-untyped-call]
    os.replace(staging, archive)


def mark_process_dead(pid: int, directory: str | os.PathLike[str] | None = None) -> None:
    """Fold the files of dead worker ``pid`` into the archives and delete its gauge files.

    Call it once the process has exited (gunicorn's ``child_exit`` hook does it for you).
    """
    path = _directory(directory)
    with _locked(path, exclusive=True):
        files = _pid_files(path, pid)
        for kind in _ARCHIVED_TYPES:
            sources = [file for file in files if file.name.startswith(f"{kind}_")]
            if sources:
                _fold(path / f"{kind}_archive.db", sources)
        for file in files:
            file.unlink(missing_ok=True)


def compact(
    directory: str | os.PathLike[str] | None = None, *, live_pids: Iterable[int] | None = None
) -> list[int]:
    """Fold the files of every process not alive (or not in ``live_pids``); return their pids.

    For servers without an exit hook: run it from a timer or before a scrape.
    """
    path = _directory(directory)
    alive = set(live_pids) if live_pids is not None else None
    dead: set[int] = set()
    for file in path.glob("*.db"):
        pid_text = file.stem.rsplit("_", 1)[-1]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        if (pid not in alive) if alive is not None else not _alive(pid):
            dead.add(pid)
    for pid in sorted(dead):
        mark_process_dead(pid, path)
    return sorted(dead)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook (master process): fold the files of the worker that just exited."""
    with guard("multiprocess.child_exit"):
        if multiprocess_directory() is not None:
            mark_process_dead(int(worker.pid))


def on_starting(server: Any) -> None:
    """gunicorn hook (master process): empty the directory, as files of a previous run are stale."""
    with guard("multiprocess.on_starting"):
        directory = multiprocess_directory()
        if directory is not None:
            path = _directory(directory)
            for file in [*path.glob("*.db"), *path.glob("*.db.tmp")]:
                file.unlink(missing_ok=True)
