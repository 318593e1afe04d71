"""Children of `vigie demo` stop on SIGTERM, or are killed after the timeout."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from vigie.demo.processes import ChildProcess, vigie_command

STUBBORN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for_text(path: Path, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in path.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, f"{text!r} never logged"
        time.sleep(0.05)


def test_sigterm_stops_a_well_behaved_child(tmp_path: Path) -> None:
    """A child that exits on SIGTERM is stopped gracefully; stop() says so."""
    child = ChildProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                         log=tmp_path / "sleeper.log").start()  # fmt: skip
    pid = child.pid
    assert pid is not None
    assert child.running()
    assert child.stop(timeout=5) is True
    assert not child.running()
    assert not _alive(pid)


def test_a_child_ignoring_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    """SIGTERM, then SIGKILL once the timeout has passed; stop() returns False."""
    log = tmp_path / "stubborn.log"
    child = ChildProcess("stubborn", [sys.executable, "-c", STUBBORN], log=log).start()
    _wait_for_text(log, "ready")
    pid = child.pid
    assert pid is not None
    started = time.monotonic()
    assert child.stop(timeout=0.5) is False
    assert 0.5 <= time.monotonic() - started < 5
    assert not _alive(pid)
    assert child.tail() == "ready"


def test_environment_and_command(tmp_path: Path) -> None:
    """The child gets the extra environment; vigie_command runs this interpreter's vigie."""
    log = tmp_path / "env.log"
    code = "import os; print(os.environ['VIGIE_DEMO_PASSWORD'])"
    child = ChildProcess("env", [sys.executable, "-c", code], log=log,
                         env={"VIGIE_DEMO_PASSWORD": "pw"}).start()  # fmt: skip
    assert child.process is not None
    child.process.wait(10)
    child.stop()
    assert log.read_text(encoding="utf-8") == "pw\n"
    assert vigie_command("demo") == [sys.executable, "-m", "vigie.cli.main", "demo"]
