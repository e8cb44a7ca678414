"""Process records: the cluster signals only a process it started, and its leftovers."""

from __future__ import annotations

import dataclasses
import subprocess
import time
from pathlib import Path

from cluster.process import ProcessRecord, spawn


def test_a_record_stops_its_process_and_nothing_else(tmp_path: Path) -> None:
    proc, record = spawn(["sleep", "300"], tmp_path / "sleep.log", marker="sleep 300")
    other = subprocess.Popen(["sleep", "301"])
    try:
        reused = dataclasses.replace(record, starttime=record.starttime - 1)  # same pid, another process
        wrong_program = dataclasses.replace(record, marker="redis-server")
        assert record.running() and not reused.running() and not wrong_program.running()
        assert not reused.stop() and not wrong_program.stop()
        assert proc.poll() is None

        assert record.stop()
        assert proc.wait(5) is not None and not record.running()
        assert not record.stop()  # idempotent
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
        proc.kill()
        proc.wait()


def test_children_left_in_the_session_are_stopped_with_it(tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    # a shell that leaves a background child behind when it is terminated (as a worker's executor could)
    proc, record = spawn(["bash", "-c", f"sleep 302 & echo $! > {child_pid}; wait"], tmp_path / "sh.log", "sleep 302")
    try:
        for _ in range(500):
            if child_pid.exists() and child_pid.read_text().strip():
                break
            time.sleep(0.01)
        child = ProcessRecord.of(int(child_pid.read_text()), "sleep 302")
        assert child.running()
        assert record.stop()
        assert not child.running()
    finally:
        proc.kill()
        proc.wait()
