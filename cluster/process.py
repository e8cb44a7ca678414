"""Processes the cluster starts, recorded so that only they are ever signalled.

A process is named by its PID *and* its start time (``/proc/<pid>/stat``), so a PID the kernel
has since given to another program is never mistaken for ours; its command line must also still
contain the marker recorded at start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cluster.exceptions import ClusterError


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dataclass(frozen=True)
class ProcessRecord:
    pid: int
    starttime: int  # clock ticks after boot: with the pid, names exactly one process
    marker: str  # a string its command line contains

    @classmethod
    def of(cls, pid: int, marker: str) -> ProcessRecord:
        fields = _stat(pid)
        if fields is None:
            raise ClusterError(f"process {pid} exited at once")
        return cls(pid, int(fields[19]), marker)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(int(data["pid"]), int(data["starttime"]), str(data["marker"]))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def running(self) -> bool:
        """Whether the process we started is still there (a zombie counts as gone)."""
        fields = _stat(self.pid)
        if fields is None or int(fields[19]) != self.starttime:
            return False
        if fields[0] == "Z":
            _reap(self.pid)
            return False
        cmdline = _cmdline(self.pid)
        for _ in range(50):  # empty for a moment while the process is inside execve (spark-class execs java)
            if cmdline:
                break
            time.sleep(0.01)
            cmdline = _cmdline(self.pid)
        return not cmdline or self.marker in cmdline  # still empty: pid + start time decide

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop this process (see :func:`stop_all`); returns whether there was anything to stop."""
        return bool(stop_all([self], timeout))


def stop_all(records: Sequence[ProcessRecord], timeout: float = 15.0) -> list[ProcessRecord]:
    """SIGTERM to those still running, all at once (a Kafka quorum shuts down together, not
    node by node), SIGKILL to any left after ``timeout``; then whatever is left in the sessions
    they led (e.g. a Spark worker's executors). Returns the records that were running."""
    running = [r for r in records if r.running()]
    for record in running:
        _signal(record.pid, signal.SIGTERM)
    if not _wait(lambda: any(r.running() for r in running), timeout):
        for record in running:
            if record.running():
                _signal(record.pid, signal.SIGKILL)
        _wait(lambda: any(r.running() for r in running), 5.0)
    leftovers = [pid for r in running for pid in _session_members(r.pid)]
    for pid in leftovers:
        _signal(pid, signal.SIGKILL)
    _wait(lambda: any(_alive(pid) for pid in leftovers), 5.0)
    return running


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _wait(running: Callable[[], bool], timeout: float) -> bool:
    """Whether ``running()`` turned false within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while running():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _session_members(sid: int) -> list[int]:
    """Live processes of session ``sid``: only the process we started with a new session (and
    its descendants) can be in it."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def spawn(
    command: Sequence[str], log_path: Path, marker: str, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start ``command`` as a daemon that outlives us: its own session (a Ctrl-C in our terminal
    does not reach it), stdin closed, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=full_env, cwd=cwd, start_new_session=True,
        )  # fmt: skip
    return proc, ProcessRecord.of(proc.pid, marker)
