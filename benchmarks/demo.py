"""The one-process demo under load: prints one JSON document of figures measured in one run.

    python -m benchmarks.demo --vehicles 10000 --seconds 60

Runs ``python app/main.py --vehicles N`` as a user does (no Redis URL: its embedded store, a
Valkey child process) for ``--seconds`` of wall time, then the same demo on the in-process
fakeredis store with ``--reference-vehicles`` (2,000: what it kept up with) as the reference.
Per run:

- ``latency_ms``: event -> speed layer p50/p99/max over every event of the run (the demo's
  whole-run histogram, from its final report);
- ``realtime_factor``: simulated seconds per wall second over the run, and the worst 10-s
  window seen; ``behind_s_max``: how far the simulated clock fell behind at worst;
- ``bus_backlog_max``: events waiting on the in-process bus, sampled each second;
- ``cpu_cores``: CPU time per wall second of the demo process and of the store's child.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import run

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-viewer"
CLOCK_TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None when it is gone or unknown)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def runqueue_wait_seconds(pid: int | None) -> float | None:
    """Seconds ``pid``'s threads have spent runnable but waiting for a CPU (``schedstat``):
    on a shared machine, how much other processes held this one back."""
    if pid is None:
        return None
    total = 0.0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue
    return total


def system(base_url: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{base_url}/api/system", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        body: dict[str, Any] = json.loads(answer.read())
    return body


def run_demo(vehicles: int, seconds: float, store: str, workdir: Path) -> dict[str, Any]:
    """One demo run of ``seconds`` wall seconds after its console answers; its figures."""
    from tests.demo import Demo  # the tests' launcher: python app/main.py, stopped by its PID

    demo = Demo(workdir, "--vehicles", str(vehicles), "--status-interval", "5",
                SMARTCITY_API_TOKENS=f"viewer:{TOKEN}", SMARTCITY_EMBEDDED_STORE=store)  # fmt: skip
    samples: list[dict[str, Any]] = []
    try:
        base = demo.url(timeout=300)
        match = re.search(r"embedded store: \S+ \(pid (\d+)\)", demo.log.text())
        child = int(match.group(1)) if match else None
        t0 = time.monotonic()
        cpu0 = (cpu_seconds(demo.proc.pid), cpu_seconds(child))
        wait0 = (runqueue_wait_seconds(demo.proc.pid), runqueue_wait_seconds(child))
        while time.monotonic() - t0 < seconds:
            time.sleep(1.0)
            try:
                acc = system(base)["accounting"] or {}
            except OSError as exc:
                samples.append({"t": round(time.monotonic() - t0, 1), "error": str(exc)})
                continue
            samples.append({"t": round(time.monotonic() - t0, 1), "backlog": sum((acc.get("lag") or {}).values()),
                            **(acc.get("simulation") or {})})  # fmt: skip
        wall = time.monotonic() - t0
        cpu1 = (cpu_seconds(demo.proc.pid), cpu_seconds(child))
        wait1 = (runqueue_wait_seconds(demo.proc.pid), runqueue_wait_seconds(child))
    finally:
        demo.stop()
    demo.out.join()
    demo.log.join()
    report = json.loads(demo.out.lines[-1][1]) if demo.out.lines else {}
    ok = [s for s in samples if "error" not in s and s.get("behind_s") is not None]
    first, last = (ok[0], ok[-1]) if ok else ({}, {})
    span = (last.get("t", 0) - first.get("t", 0)) or None
    factor = None if span is None else round(1 - (last["behind_s"] - first["behind_s"]) / span, 3)
    cores = {
        name: round((b - a) / wall, 3) if a is not None and b is not None else None
        for name, a, b in (("demo", cpu0[0], cpu1[0]), ("store_child", cpu0[1], cpu1[1]))
    }
    waited = {
        name: round((b - a) / wall, 3) if a is not None and b is not None else None
        for name, a, b in (("demo", wait0[0], wait1[0]), ("store_child", wait0[1], wait1[1]))
    }
    totals = report.get("totals", {})
    return {
        "vehicles": vehicles,
        "store": report.get("store"),
        "wall_seconds": round(wall, 1),
        "events": totals.get("received"),
        "events_per_s": round(totals.get("received", 0) / wall) if wall else None,
        "all_reached_speed_layer": totals.get("valid") == totals.get("speed_layer") and bool(totals.get("valid")),
        "latency_ms": report.get("latency_ms_run"),
        "realtime_factor": factor,  # from the growth of behind_s across the run (1.0 = real time)
        "realtime_factor_worst_10s": min((s["realtime_factor"] for s in ok if s.get("realtime_factor")), default=None),
        "behind_s_max": max((s["behind_s"] for s in ok), default=None),
        "bus_backlog_max": max((s["backlog"] for s in ok), default=None),
        "cpu_cores": cores,
        # CPU per event received, which a busy machine distorts far less than latency or pace
        "cpu_us_per_event": {
            name: round(c * wall / totals["received"] * 1e6, 1) if c is not None and totals.get("received") else None
            for name, c in cores.items()
        },
        # threads runnable but not running, per wall second: > 0.1 means other processes held it back
        "runqueue_wait_per_s": waited,
        "machine_load_1min": round(os.getloadavg()[0], 2),
        "samples_failed": sum(1 for s in samples if "error" in s),
        "exit_code": demo.proc.returncode,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.demo", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=60.0, help="wall seconds of each run, after its console answers")
    p.add_argument("--reference-vehicles", type=int, default=2000, help="vehicles of the fakeredis reference run")
    p.add_argument("--no-reference", action="store_true", help="skip the fakeredis reference run")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from benchmarks.pipeline import machine

    workdir = Path(tempfile.mkdtemp(prefix="smartcity-bench-demo-"))
    try:
        result: dict[str, Any] = {"benchmark": "demo", "machine": machine()}
        result["embedded_server"] = run_demo(args.vehicles, args.seconds, "server", workdir / "server")
        if not args.no_reference:
            result["reference_fakeredis"] = run_demo(
                args.reference_vehicles, args.seconds, "fakeredis", workdir / "fakeredis"
            )
        run = result["embedded_server"]
        result["targets"] = {
            "latency_p99_ms<=200_whole_run": ((run["latency_ms"] or {}).get("p99") or 1e9) <= 200,
            "realtime_factor>=0.99": (run["realtime_factor"] or 0) >= 0.99,
            "bus_backlog_bounded(<=one_second_of_events)": (run["bus_backlog_max"] or 0) <= (run["events_per_s"] or 0),
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    run(main)
