"""Tailing JSON log files: parsing, partial lines, rename and copytruncate rotation, restart."""

from __future__ import annotations

import json
import os
from pathlib import Path

from vigie.telemetry.log_tailing import LogTailer, parse_line
from vigie.telemetry.records import LogRecord


class Collector:
    """A sink recording the bodies it took; can refuse batches."""

    def __init__(self) -> None:
        self.records: list[LogRecord] = []
        self.refuse = False

    def __call__(self, records: list[LogRecord]) -> bool:
        if self.refuse:
            return False
        self.records.extend(records)
        return True

    @property
    def bodies(self) -> list[str]:
        return [record.body for record in self.records]


def _line(message: str, **fields: object) -> str:
    return json.dumps({"timestamp": "2026-11-21T17:20:28.123Z", "level": "INFO",
                       "message": message, **fields}) + "\n"  # fmt: skip


def _append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write(text)


def test_json_line_fields_are_mapped() -> None:
    """Known keys become fields, others attributes; plain text stays the body."""
    record = parse_line(
        _line(
            "answered",
            service="faq-bot",
            trace_id="0AF7651916CD43DD8448EB211C80319C",
            span_id="b7ad6b7169203331",
            request_id="req-123",
            tokens=49,
            level="WARNING",
        ),
        now_ns=1,
        source="app.log",
    )
    assert (record.body, record.service, record.level, record.severity_number) == (
        "answered",
        "faq-bot",
        "WARNING",
        13,
    )
    assert record.time_ns == 1_795_281_628_123_000_000
    assert (record.trace_id, record.span_id, record.request_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
        "req-123",
    )
    assert record.attributes == {"tokens": 49}
    plain = parse_line("Traceback (most recent call last):\n", now_ns=7, source="a", service="s")
    assert (plain.body, plain.time_ns, plain.service, plain.level) == (
        "Traceback (most recent call last):",
        7,
        "s",
        "",
    )
    assert parse_line('{"ts": 1700000000.5, "msg": "x"}', now_ns=0, source="a").time_ns == (
        1_700_000_000_500_000_000
    )


def test_partial_lines_wait_and_refused_batches_are_offered_again(tmp_path: Path) -> None:
    """A line without newline is not read yet; a refusing sink does not move the position."""
    log = tmp_path / "app.log"
    log.write_text(_line("one") + '{"message": "tw')
    sink = Collector()
    tailer = LogTailer([str(tmp_path / "*.log")], tmp_path / "pos.json", sink)
    assert tailer.poll() == 1
    _append(log, 'o"}\n')
    sink.refuse = True
    assert tailer.poll() == 0
    sink.refuse = False
    assert tailer.poll() == 1
    assert sink.bodies == ["one", "two"]
    tailer.stop()


def test_rename_rotation_reads_the_old_file_to_its_end_then_the_new_one(tmp_path: Path) -> None:
    """app.log renamed to app.log.1 and recreated: nothing lost, nothing twice."""
    log = tmp_path / "app.log"
    log.write_text(_line("a"))
    sink = Collector()
    # The glob also matches rotated files: they must not be read again.
    tailer = LogTailer([str(tmp_path / "app.log*")], tmp_path / "pos.json", sink)
    tailer.poll()
    _append(log, _line("b"))
    os.rename(log, tmp_path / "app.log.1")
    _append(tmp_path / "app.log.1", _line("c"))  # written by the app before it reopened
    log.write_text(_line("d"))
    tailer.poll()
    _append(log, _line("e"))
    tailer.poll()
    tailer.poll()
    assert sink.bodies == ["a", "b", "c", "d", "e"]
    tailer.stop()


def test_copytruncate_rotation_restarts_at_zero(tmp_path: Path) -> None:
    """A file truncated in place is read again from its start."""
    log = tmp_path / "app.log"
    log.write_text(_line("a") + _line("b"))
    sink = Collector()
    tailer = LogTailer([str(log)], tmp_path / "pos.json", sink)
    tailer.poll()
    (tmp_path / "app.log.1").write_text(log.read_text())  # the copy
    with open(log, "w"):
        pass  # the truncate
    _append(log, _line("c"))
    tailer.poll()
    assert sink.bodies == ["a", "b", "c"]
    tailer.stop()


def test_restart_resumes_from_saved_positions(tmp_path: Path) -> None:
    """Lines written while the tailer was down are read once after restart, old ones not again."""
    log = tmp_path / "app.log"
    log.write_text(_line("a") + _line("b"))
    first = Collector()
    tailer = LogTailer([str(tmp_path / "*.log")], tmp_path / "state" / "pos.json", first)
    tailer.poll()
    tailer.stop()
    _append(log, _line("c"))
    (tmp_path / "new.log").write_text(_line("n"))
    second = Collector()
    again = LogTailer([str(tmp_path / "*.log")], tmp_path / "state" / "pos.json", second)
    again.poll()
    again.stop()
    assert first.bodies == ["a", "b"]
    assert sorted(second.bodies) == ["c", "n"]
    saved = json.loads((tmp_path / "state" / "pos.json").read_text())
    offsets = {Path(entry["path"]).name: entry["offset"] for entry in saved["files"]}
    assert offsets == {"app.log": log.stat().st_size, "new.log": len(_line("n"))}
