"""Tailing the JSON log files an app writes, as promtail does: positions kept, rotation followed.

Apps that do not export OTLP still write log files (vigie's own ``logs.file`` among them). A
:class:`LogTailer` watches path globs and sends each complete new line to a sink:

- **positions across restarts**: the offset reached in each file is saved, with its device and
  inode, in a small JSON state file (written atomically after each poll, only once the sink took
  the lines), so a restart resumes where it stopped without re-reading or skipping lines;
- **rename + create rotation**: a file keeps being read through its open handle after it is
  renamed, to its end, before the new file at the path is read from its start;
- **copytruncate rotation**: a file whose size drops below the saved offset is read again from 0;
- a line still being written (no newline yet) waits for the next poll.

Each line is parsed as a JSON object (``timestamp``/``time``/``ts``, ``level``/``severity``,
``message``/``msg``, ``service``, ``trace_id``, ``span_id``, ``request_id``, other fields become
attributes), else kept as plain text.

Example::

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "app.log").write_text('{"level":"INFO","message":"ready"}\\n')
    >>> got = []
    >>> tailer = LogTailer([str(folder / "*.log")], folder / "positions.json", got.extend)
    >>> tailer.poll()
    1
    >>> got[0].body, got[0].level
    ('ready', 'INFO')
    >>> tailer.stop()
"""

from __future__ import annotations

import glob
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from vigie.exceptions import ConfigurationError
from vigie.telemetry.records import LogRecord, level_range

__all__ = ["LogTailer", "parse_line"]

_log = logging.getLogger("vigie.internal")
_TIME_KEYS = ("timestamp", "time", "ts", "@timestamp")
_LEVEL_KEYS = ("level", "severity", "levelname", "lvl")
_MESSAGE_KEYS = ("message", "msg", "body")
_FIXED = {"service", "trace_id", "span_id", "request_id", *_TIME_KEYS, *_LEVEL_KEYS, *_MESSAGE_KEYS}
_MAX_CHUNK = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time_ns(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        # Seconds, milliseconds, microseconds or nanoseconds since the epoch, by magnitude.
        for scale, limit in ((1e9, 1e11), (1e6, 1e14), (1e3, 1e17)):
            if abs(value) < limit:
                return round(value * scale)
        return int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None
        # Integer arithmetic: a float timestamp would lose the last nanosecond digits.
        return (moment - _EPOCH) // timedelta(microseconds=1) * 1000
    return None


def parse_line(line: str, *, now_ns: int, source: str, service: str = "") -> LogRecord:
    """One log line as a record: a JSON object's known keys mapped, else the text as the body."""
    text = line.rstrip("\r\n")
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return LogRecord(time_ns=now_ns, body=text, service=service, source=source)

    def first(keys: Sequence[str]) -> Any:
        return next((document[key] for key in keys if document.get(key) is not None), None)

    level = str(first(_LEVEL_KEYS) or "").upper()
    found = level_range(level) if level else None
    message = first(_MESSAGE_KEYS)
    request_id = document.get("request_id")
    return LogRecord(
        time_ns=_time_ns(first(_TIME_KEYS)) or now_ns,
        body="" if message is None else str(message),
        service=str(document.get("service") or service),
        level=level,
        severity_number=found[0] if found else 0,
        trace_id=_hex_or_none(document.get("trace_id"), 32),
        span_id=_hex_or_none(document.get("span_id"), 16),
        request_id=None if request_id is None else str(request_id),
        attributes={key: value for key, value in document.items() if key not in _FIXED},
        source=source,
    )


def _hex_or_none(value: Any, length: int) -> str | None:
    if isinstance(value, str) and len(value) == length:
        try:
            int(value, 16)
        except ValueError:
            return None
        return value.lower()
    return None


@dataclass
class _Open:
    path: str
    handle: IO[bytes]
    offset: int


class LogTailer:
    """Follows files matching ``globs`` and hands their new lines to ``sink``.

    ``sink(records)`` returns ``False`` (or raises) to refuse a batch; the position then stays put
    and the lines are offered again at the next poll. ``service`` names lines that carry no
    ``service`` field.
    """

    def __init__(
        self,
        globs: Sequence[str],
        state_path: Path,
        sink: Callable[[list[LogRecord]], bool | None],
        *,
        service: str = "",
        clock: Callable[[], float] = time.time,
        start_at_end: bool = False,
    ) -> None:
        if isinstance(globs, str):
            raise ConfigurationError("expected a list of path globs", field="logs.tail.paths")
        self.globs = list(globs)
        self.state_path = state_path
        self._sink = sink
        self._service = service
        self._clock = clock
        self._start_at_end = start_at_end
        self._open: dict[tuple[int, int], _Open] = {}
        self._saved = self._load_state()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _load_state(self) -> dict[tuple[int, int], int]:
        try:
            document = json.loads(self.state_path.read_text(encoding="utf-8"))
            return {
                (int(entry["device"]), int(entry["inode"])): int(entry["offset"])
                for entry in document["files"]
            }
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError) as error:
            _log.warning("vigie: ignoring unreadable tail positions %s: %s", self.state_path, error)
            return {}

    def _matching(self) -> dict[tuple[int, int], str]:
        found: dict[tuple[int, int], str] = {}
        for pattern in self.globs:
            for path in sorted(glob.glob(os.path.expanduser(pattern))):
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                found.setdefault((stat.st_dev, stat.st_ino), path)
        return found

    def _save_state(self) -> None:
        # Positions of files still matching (a rotated app.log.1 keeps its own), and open ones.
        matching = self._matching()
        paths = {**matching, **{key: opened.path for key, opened in self._open.items()}}
        saved = {key: offset for key, offset in self._saved.items() if key in matching}
        saved.update({key: opened.offset for key, opened in self._open.items()})
        self._saved = saved
        files = [
            {"path": paths[key], "device": key[0], "inode": key[1], "offset": offset}
            for key, offset in saved.items()
        ]
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_name(self.state_path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump({"files": files}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.state_path)

    def _discover(self) -> None:
        """Open files newly matching the globs, at their saved offset (or 0, or their end)."""
        for key, path in self._matching().items():
            if key in self._open or not os.path.isfile(path):
                continue
            try:
                stat = os.stat(path)
            except OSError:
                continue
            offset = self._saved.get(key, stat.st_size if self._start_at_end else 0)
            if offset > stat.st_size:
                offset = 0  # truncated while we were not running
            try:
                handle = open(path, "rb")  # noqa: SIM115 - kept open across polls
            except OSError as error:
                _log.warning("vigie: cannot open %s for tailing: %s", path, error)
                continue
            handle.seek(offset)
            self._open[key] = _Open(path, handle, offset)

    def poll(self) -> int:
        """Read what was appended since the last poll; returns how many lines the sink took."""
        with self._lock:
            self._discover()
            taken = 0
            for key, opened in list(self._open.items()):
                taken += self._drain(opened)
                if self._replaced(key, opened):
                    self._saved[key] = opened.offset
                    opened.handle.close()
                    del self._open[key]
            self._discover()  # the file created by a rename rotation, read from its start
            for opened in self._open.values():
                taken += self._drain(opened)
            self._save_state()
            return taken

    def _replaced(self, key: tuple[int, int], opened: _Open) -> bool:
        """True when the path now names another file (renamed away) or nothing."""
        try:
            stat = os.stat(opened.path)
        except OSError:
            return True
        return (stat.st_dev, stat.st_ino) != key

    def _drain(self, opened: _Open) -> int:
        try:
            size = os.fstat(opened.handle.fileno()).st_size
        except OSError:
            return 0
        if size < opened.offset:  # copytruncate: the file was emptied in place
            opened.offset = 0
        taken = 0
        while opened.offset < size:
            opened.handle.seek(opened.offset)
            chunk = opened.handle.read(min(size - opened.offset, _MAX_CHUNK))
            end = chunk.rfind(b"\n")
            if end < 0:
                break  # a line still being written
            now_ns = int(self._clock() * 1e9)
            records = [
                parse_line(
                    raw.decode("utf-8", "replace"),
                    now_ns=now_ns,
                    source=opened.path,
                    service=self._service,
                )
                for raw in chunk[: end + 1].splitlines()
                if raw.strip()
            ]
            try:
                accepted = self._sink(records) if records else True
            except Exception as error:
                _log.warning("vigie: log lines from %s not stored yet: %s", opened.path, error)
                accepted = False
            if accepted is False:
                break
            opened.offset += end + 1
            taken += len(records)
        return taken

    def start(self, interval: float = 1.0) -> None:
        """Poll every ``interval`` seconds in a background thread until :meth:`stop`."""

        def run() -> None:
            while not self._stop.wait(interval):
                try:
                    self.poll()
                except Exception as error:
                    _log.warning("vigie: log tailing failed: %s", error)

        self._thread = threading.Thread(target=run, name="vigie-log-tailer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, save positions and close the files."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            if self._open:
                self._save_state()
            for opened in self._open.values():
                opened.handle.close()
            self._open.clear()
