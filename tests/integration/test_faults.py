"""Faults under load: `python app/main.py` with 2,000 vehicles while its Redis is SIGKILLed and
its S3 endpoint goes away, each for 20 s, then comes back on the same port.

Beside it an uninterrupted run of the same city (same seed, same simulated start) on its own
Redis: both must end with the same speed-layer state, and the faulted run's accounting must
hold: received = valid + dead letters, lake rows = valid = speed-layer writes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pyarrow.dataset as ds
import redis
from pyarrow import fs as pafs

from pipeline.speed_layer import SpeedLayer
from tests.integration.test_demo_process import ROOT, env, final_report
from tests.services import Forwarder, RedisServer, S3Server

VEHICLES = 2000
DURATION_S = 80
OUTAGE_S = 20


class Lines:
    """A process's stderr lines, each with when it arrived (monotonic), read in a thread."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append((time.monotonic(), line))

    def wait_for(self, text: str, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if text in line and "received 0 " not in line:
                    return at
            time.sleep(0.2)
        raise AssertionError(f"no line with {text!r} within {timeout} s:\n{self.text()[-3000:]}")

    def text(self) -> str:
        return "".join(line for _, line in self.lines)


def start_demo(tmp_path: Path, redis_url: str, start: str, **extra_env: str) -> subprocess.Popen[str]:
    args = ["--vehicles", str(VEHICLES), "--seed", "11", "--start", start, "--time-scale", "1", "--duration",
            str(DURATION_S), "--status-interval", "1", "--port", "0", "--redis-url", redis_url]  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "app/main.py", *args], cwd=ROOT, env=env(tmp_path, **extra_env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str], lines: Lines, timeout: float) -> dict[str, Any]:
    try:
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    time.sleep(0.5)  # the stderr reader's last lines
    assert proc.returncode == 0, lines.text()[-5000:]
    return final_report(stdout)


def test_redis_killed_and_s3_gone_under_load_lose_nothing(tmp_path: Path) -> None:
    start = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0).isoformat()
    with (
        RedisServer(tmp_path / "ref-redis") as ref_redis,
        RedisServer(tmp_path / "redis", persist=True) as faulty_redis,
        S3Server(tmp_path / "s3") as s3,
        Forwarder(tmp_path / "s3-endpoint", s3.port) as endpoint,
    ):
        s3.create_bucket("lake")
        ref = start_demo(tmp_path / "ref", ref_redis.url, start)
        run = start_demo(
            tmp_path / "run", faulty_redis.url, start,
            SMARTCITY_LAKE_URI="s3://lake/city", SMARTCITY_S3_ENDPOINT_URL=f"http://127.0.0.1:{endpoint.port}",
            SMARTCITY_S3_REGION=s3.region, SMARTCITY_S3_ACCESS_KEY_ID=s3.access_key,
            SMARTCITY_S3_SECRET_ACCESS_KEY=s3.secret_key,
        )  # fmt: skip
        assert ref.stderr is not None and run.stderr is not None
        ref_lines, lines = Lines(ref.stderr), Lines(run.stderr)
        try:
            lines.wait_for("events/s", timeout=120)
            time.sleep(5)
            faulty_redis.kill()
            time.sleep(OUTAGE_S)
            faulty_redis.start()  # same port; its append-only file brings the state back
            back = time.monotonic()
            time.sleep(5)
            endpoint.kill()
            time.sleep(OUTAGE_S)
            endpoint.start()
            report = finish(run, lines, timeout=DURATION_S + 120)
            reference = finish(ref, ref_lines, timeout=120)
        finally:
            for proc in (ref, run):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        log = lines.text()
        # the speed layer caught up within 10 s of Redis's return, and said so
        caught_up = next(at for at, line in lines.lines if "reachable again" in line)
        assert caught_up - back < 10, log[-3000:]
        assert log.count("keeping its writes and retrying") == 1  # once per outage, not once per try
        assert "speed layer unreachable" in log and "events wait for the speed layer" in log  # the status line
        assert "lake flush failed" in log
        totals = report["totals"]
        assert totals["received"] == totals["valid"] + totals["dead_letters"]
        assert totals["lake_rows"] == totals["valid"] == totals["speed_layer"], totals
        assert report["speed_layer_pending"] == report["speed_layer_dropped"] == 0
        assert totals == reference["totals"]  # the same city, every event accounted for in both
        s3fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{s3.port}", scheme="http", region=s3.region,
                                 access_key=s3.access_key, secret_key=s3.secret_key)  # fmt: skip
        rows = sum(
            ds.dataset(f"lake/city/{stream}", filesystem=s3fs, format="parquet", partitioning="hive").count_rows()
            for stream, counts in report["streams"].items()
            if counts["valid"]
        )
        assert rows == totals["valid"]
        faulted = SpeedLayer(redis.Redis(host="127.0.0.1", port=faulty_redis.port), "sc:").snapshot()
        uninterrupted = SpeedLayer(redis.Redis(host="127.0.0.1", port=ref_redis.port), "sc:").snapshot()
    assert len(faulted["vehicles"]) == len(uninterrupted["vehicles"]) > VEHICLES / 2
    assert faulted == uninterrupted
