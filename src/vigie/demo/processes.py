"""Child processes of ``vigie demo``: started in their own session, stopped TERM-then-KILL.

Each child gets its own process session, so a Ctrl-C in the terminal reaches only the
supervisor, which then stops the children in order (traffic first, then the app, then the
server) instead of all of them dying at once. :meth:`ChildProcess.stop` sends ``SIGTERM``,
waits ``timeout`` seconds, then sends ``SIGKILL`` to the whole process group, so nothing the
demo started outlives it.

Example::

    child = ChildProcess("app", [sys.executable, "-m", "http.server", "8001"], log=Path("app.log"))
    child.start()
    child.stop(timeout=5)   # True if it exited on SIGTERM
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["ChildProcess", "vigie_command"]


def vigie_command(*arguments: str) -> list[str]:
    """``vigie ARGS...`` run by this interpreter (works without the console script on PATH)."""
    return [sys.executable, "-m", "vigie.cli.main", *arguments]


class ChildProcess:
    """One child of the demo; its output goes to ``log`` (appended)."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.log = log
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The process id while started."""
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        """True while the process is alive."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> ChildProcess:
        """Start it (a no-op if it runs); returns self."""
        if self.running():
            return self
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("ab")
        environment = {**os.environ, **(self.env or {})}
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """SIGTERM, then SIGKILL after ``timeout`` s; True if it exited on SIGTERM in time."""
        process, self.process = self.process, None
        graceful = True
        if process is not None and process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                graceful = False
                _signal_group(process, signal.SIGKILL)
                process.wait(5)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return graceful

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of its log (to explain a failed start)."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _signal_group(process: subprocess.Popen[bytes], number: signal.Signals) -> None:
    # Only called before the process is reaped, so its pid (= its group id) is still ours.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, number)  # its own session: the group id is its pid
