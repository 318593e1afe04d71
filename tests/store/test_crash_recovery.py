"""kill -9 a real writer process at random moments: every acknowledged sample survives."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vigie.store.tsdb import DiskStorage

SERIES = 20
STEP = 1_000
# Tiny block ranges so that head cuts, checkpoints and compactions happen while being killed.
RANGES = (60_000, 180_000, 540_000)

WRITER = f"""
import sys
from vigie.store.tsdb import DiskStorage

storage = DiskStorage(sys.argv[1], block_ranges={RANGES!r}, retention_ms=None)
series = storage.querier().select([], 0, 2**62)
t = max((int(s.timestamps[-1]) for s in series), default=0) + {STEP}
while True:
    appender = storage.appender()
    for i in range({SERIES}):
        appender.append({{"__name__": "crash_test", "i": str(i)}}, t, t * (i + 1) / 7)
    appender.commit()
    print(t, flush=True)
    t += {STEP}
"""


@pytest.mark.slow
def test_acknowledged_samples_survive_kill_9(tmp_path: Path) -> None:
    """20 rounds of start, ingest, SIGKILL at a random moment; then every acked batch is there."""
    data_dir = tmp_path / "data"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(1234)
    acked: list[int] = []
    deadline = time.monotonic() + 40
    rounds = 0
    while rounds < 20 and time.monotonic() < deadline:
        process = subprocess.Popen(
            [sys.executable, str(script), str(data_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        time.sleep(rng.uniform(0.2, 1.5))
        process.send_signal(signal.SIGKILL)
        out, err = process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL, err.decode()
        acked += [int(line) for line in out.decode().split()]
        rounds += 1
    assert rounds >= 10, rounds
    assert len(acked) > 100, len(acked)
    with DiskStorage(data_dir, block_ranges=RANGES, retention_ms=None) as storage:
        found = storage.querier().select([], 0, 2**62)
        assert len(found) == SERIES
        for series in found:
            i = int(series.labels["i"])
            stored = dict(zip(series.timestamps.tolist(), series.values.tolist(), strict=True))
            missing = [t for t in acked if t not in stored]
            assert missing == [], (
                f"series {i}: {len(missing)} acked samples lost, first {missing[:3]}"
            )
            assert all(stored[t] == t * (i + 1) / 7 for t in acked)
        report = storage.check()
        assert report.ok, report.problems
        assert storage.stats().blocks >= 1
