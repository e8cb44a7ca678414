"""`python app/main.py` as a user runs it: from the repo root, against a real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import redis

from pipeline.speed_layer import SpeedLayer
from tests.services import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")}
    # a steady fleet: these tests count every vehicle (the living city parks some: tests/unit/test_daylife.py)
    out.update({"SMARTCITY_LAKE_URI": str(tmp_path / "lake"), "PYTHONUNBUFFERED": "1", "SMARTCITY_CITY_LIFE": "false"})
    out.update(extra)
    return out


def demo(tmp_path: Path, *args: str, timeout: float = 300, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python app/main.py ARGS`` from the repo root, as the README says."""
    return subprocess.run(
        [sys.executable, "app/main.py", "--port", "0", *args],
        cwd=ROOT, env=env(tmp_path, **extra_env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def final_report(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def lake_rows(path: Path, stream: str) -> int:
    return ds.dataset(path / stream, format="parquet", partitioning="hive").count_rows()


def test_demo_runs_a_simulated_city_into_redis(tmp_path: Path, redis_server: RedisServer) -> None:
    args = ["--vehicles", "80", "--duration", "60", "--time-scale", "0", "--redis-url", redis_server.url]
    proc = demo(tmp_path, *args, SMARTCITY_REDIS_PREFIX="demo1:")
    assert proc.returncode == 0, proc.stderr
    report = final_report(proc.stdout)
    totals = report["totals"]
    assert totals["received"] > 80 * 2 * 50
    assert totals["dead_letters"] == 0
    assert totals["valid"] == totals["lake_rows"] == totals["speed_layer"]
    assert lake_rows(tmp_path / "lake", "gps_data") == report["streams"]["gps_data"]["valid"]
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    assert SpeedLayer(client, "demo1:").summary()["active_vehicles"] == 80
    # and the speed layer rebuilds from that lake with the documented command
    rebuilt = subprocess.run(
        [sys.executable, "-m", "pipeline.rebuild"], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=env(tmp_path, SMARTCITY_REDIS_URL=redis_server.url, SMARTCITY_REDIS_PREFIX="demo1-rebuilt:"),
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert sum(json.loads(rebuilt.stdout).values()) == totals["valid"]
    assert SpeedLayer(client, "demo1-rebuilt:").summary()["active_vehicles"] == 80
    refused = subprocess.run(
        [sys.executable, "-m", "pipeline.rebuild"], cwd=ROOT, env=env(tmp_path), capture_output=True
    )
    assert refused.returncode == 2 and b"SMARTCITY_REDIS_URL" in refused.stderr


def test_sigterm_drains_and_flushes_the_lake(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "app/main.py", "--vehicles", "50", "--status-interval", "1", "--port", "0"],
        cwd=ROOT, env=env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        assert proc.stderr is not None
        for line in proc.stderr:  # wait until events are flowing
            if "events/s" in line and "received 0 " not in line:
                break
            assert time.monotonic() < deadline, "no status line with events within 60 s"
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    report = final_report(stdout)
    assert report["totals"]["valid"] > 0
    assert report["totals"]["lake_rows"] == report["totals"]["valid"]
    written = sum(lake_rows(tmp_path / "lake", s) for s in ("vehicle_data", "gps_data"))
    assert written == report["streams"]["vehicle_data"]["valid"] + report["streams"]["gps_data"]["valid"]


def test_an_unreachable_redis_is_a_clear_error(tmp_path: Path) -> None:
    proc = demo(tmp_path, "--duration", "1", "--redis-url", "redis://:s3cret@127.0.0.1:1/0", timeout=60)
    assert proc.returncode == 2
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in proc.stderr
    assert "s3cret" not in proc.stderr


def test_a_recorded_run_replays_through_the_demo(tmp_path: Path) -> None:
    help_text = subprocess.run([sys.executable, "-m", "producers", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert help_text.returncode == 0 and "--vehicles" in help_text.stdout
    recording = tmp_path / "run.jsonl"
    args = ["--vehicles", "30", "--duration", "20", "--time-scale", "0", "--seed", "5", "--output", str(recording)]
    rec = subprocess.run(
        [sys.executable, "-m", "producers", *args],
        cwd=ROOT, env=env(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    recorded = recording.read_bytes().count(b"\n")
    assert recorded > 30 * 2 * 19
    proc = demo(tmp_path, "--replay", str(recording), timeout=120)
    assert proc.returncode == 0, proc.stderr
    totals = final_report(proc.stdout)["totals"]
    assert totals["received"] == totals["valid"] == totals["lake_rows"] == recorded


def test_a_missing_recording_is_a_clear_error(tmp_path: Path) -> None:
    proc = demo(tmp_path, "--replay", str(tmp_path / "nope.jsonl"), timeout=60)
    assert proc.returncode == 2
    assert "no such recording" in proc.stderr


def test_the_demo_serves_the_live_city_over_http(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "app/main.py", "--vehicles", "40", "--port", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=env(tmp_path, SMARTCITY_API_TOKENS="viewer:v-tok,ingest:i-tok,operator:o-tok"),
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("Smart City console: http://127.0.0.1:"), line
        base = line.split(": ", 1)[1].strip().removesuffix("/")
        vehicles: list[Any] = []
        deadline = time.monotonic() + 30
        while len(vehicles) < 40 and time.monotonic() < deadline:
            time.sleep(0.5)
            vehicles = get(base + "/api/vehicles/locations", "v-tok")["vehicles"]
        assert len(vehicles) == 40
        incident = {"device_id": "citizen-app", "incidentId": "HTTP-1", "incident_type": "fire", "status": "Active",
                    "severity": "critical", "timestamp": datetime.now(UTC).isoformat(), "location": [52.44, 13.53],
                    "description": "<img src=x onerror=alert(1)>"}  # fmt: skip
        assert post(base + "/api/ingest/emergency_data", "i-tok", incident) == 202
        time.sleep(2)  # the bound for an ingested incident to show up
        active = get(base + "/api/emergency/incidents", "v-tok")["incidents"]
        assert [i["description"] for i in active if i["id"] == "HTTP-1"] == ["<img src=x onerror=alert(1)>"]
        assert post(base + "/api/emergency/incidents/HTTP-1/resolve", "o-tok", None) == 202
        time.sleep(1)
        assert "HTTP-1" not in [i["id"] for i in get(base + "/api/emergency/incidents", "v-tok")["incidents"]]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0


def get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def post(url: str, token: str, body: Any) -> int:
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return int(resp.status)


def test_a_producer_that_fails_stops_only_itself(tmp_path: Path) -> None:
    """A recording cut short mid-line (a recorder that crashed): the replay stops with an error,
    the console and the pipeline go on until SIGTERM, and the exit code says what happened."""
    from tests.demo import Demo

    event = {"device_id": "car-1", "timestamp": datetime.now(UTC).isoformat(), "location": [52.44, 13.52],
             "speed": 20.0}  # fmt: skip
    recording = tmp_path / "cut.jsonl"
    good = [json.dumps({"stream": "gps_data", "key": "car-1", "event": event | {"id": f"e{i}"}}) for i in range(5)]
    recording.write_text("\n".join(good) + '\n{"stream": "gps_data", "key": "car-1", "eve')
    demo = Demo(tmp_path, "--replay", str(recording), "--status-interval", "1")
    try:
        assert demo.log.first("the simulation stopped after an error", timeout=120) is not None, demo.log.text()
        assert demo.log.first("the simulation stopped (see above)", timeout=30) is not None  # the status line
        assert demo.health()[0] == 200  # still serving
    finally:
        demo.stop()
    assert demo.proc.returncode == 1
    report = json.loads(demo.out.lines[-1][1])
    assert report["totals"]["received"] == report["totals"]["lake_rows"] == 5
