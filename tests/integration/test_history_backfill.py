"""`python app/main.py --history-days 1`: a day of history written in the background while the
live city and its API go on, with progress in the status line and /api/system."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.demo import Demo

TOKEN = "viewer-tok"


def get(url: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        return json.loads(resp.read())


def backfill_status(base: str) -> dict[str, Any]:
    accounting = get(base + "/api/system")["accounting"] or {}
    status: dict[str, Any] = accounting.get("backfill") or {}
    return status


def test_the_demo_backfills_a_day_while_the_live_city_runs(tmp_path: Path) -> None:
    demo = Demo(tmp_path, "--vehicles", "30", "--history-days", "1", "--status-interval", "1",
                SMARTCITY_API_TOKENS=f"viewer:{TOKEN}", SMARTCITY_CITY_LIFE="true",
                SMARTCITY_TRAFFIC_SENSORS="10")  # fmt: skip
    try:
        base = demo.url()
        live_during_backfill, fractions = 0, []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = backfill_status(base)
            vehicles = get(base + "/api/vehicles/locations")["vehicles"]
            if status.get("state") in ("starting", "running", "views"):
                fractions.append(status["fraction"])
                live_during_backfill += bool(vehicles)  # the live city answers meanwhile
            if status.get("state") in ("done", "failed"):
                break
            time.sleep(0.5)
        assert status["state"] == "done", (status, demo.log.text()[-3000:])
        assert live_during_backfill > 0 and fractions == sorted(fractions)
        assert status["events"] > 0 and status["dead_letters"] == 0
        assert demo.log.first("history backfill ", timeout=5) is not None  # "…NN% of 1 days, N events written"
        assert demo.log.first("history backfilled: 1 days", timeout=10) is not None
        # the history API has rows for hours a day back, from the lake
        now = datetime.now(UTC)
        query = urlencode(
            {"start": (now - timedelta(hours=23)).isoformat(), "end": (now - timedelta(hours=19)).isoformat()}
        )
        distance = get(f"{base}/api/history/distance?{query}")["rows"]
        traffic = get(f"{base}/api/history/traffic?{query}")["rows"]
        weather = get(f"{base}/api/history/weather?{query}")["rows"]
        assert distance and traffic and weather
        vehicle = distance[0]["vehicle"]
        route = get(f"{base}/api/history/vehicles/{vehicle}/route?{query}")["rows"]
        assert route and all(now - timedelta(hours=23) <= datetime.fromisoformat(r["event_time"]) for r in route)
        # and the live state is the live city's: nothing from the past reached the speed layer
        for v in get(base + "/api/vehicles/locations")["vehicles"]:
            assert v["ts"] / 1000 > (now - timedelta(minutes=5)).timestamp(), v
        assert (tmp_path / "lake" / "views" / "distance").is_dir()
    finally:
        demo.stop()
    assert demo.proc.returncode == 0, demo.log.text()[-3000:]


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children of children too), from /proc."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += sorted(kids - found)
            found |= kids
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # gone meanwhile
        return b""


def test_a_killed_demo_takes_its_backfill_with_it(tmp_path: Path) -> None:
    from tests.integration.test_embedded_store import alive, gone_within

    demo = Demo(tmp_path, "--vehicles", "300", "--history-days", "7", "--status-interval", "1",
                SMARTCITY_API_TOKENS=f"viewer:{TOKEN}")  # fmt: skip
    try:
        base = demo.url()
        deadline = time.monotonic() + 120
        while backfill_status(base).get("state") != "running" and time.monotonic() < deadline:
            time.sleep(0.5)
        assert backfill_status(base).get("state") == "running", demo.log.text()[-3000:]
        # "running" is reported before the backfill has started its workers: wait for the tree
        below: set[int] = set()
        while len(below) < 3 and time.monotonic() < deadline:
            below = descendants(demo.proc.pid)
            time.sleep(0.2)
        backfill = [p for p in below if b"producers.backfill" in cmdline(p)]
        assert backfill and len(below) >= 3  # the backfill, its workers (and the embedded store)
        demo.proc.kill()  # SIGKILL: no handler of the demo runs
        demo.proc.wait(10)
        assert all(gone_within(p, 15) for p in below), [p for p in below if alive(p)]
    finally:
        demo.stop()
