"""Faults under load: `python app/main.py` with 2,000 vehicles while its Redis is SIGKILLed and
its S3 endpoint goes away, each for 20 s, then comes back on the same port.

Beside it an uninterrupted run of the same city (same seed, same simulated start) on its own
Redis: both must end with the same speed-layer state, and the faulted run's accounting must
hold: received = valid + dead letters, lake rows = valid = speed-layer writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from pipeline.speed_layer import SpeedLayer
from tests.demo import Demo, s3_lake, s3_lake_rows
from tests.services import Forwarder, RedisServer, S3Server

VEHICLES = 2000
DURATION_S = 80
OUTAGE_S = 20


def city(start: str) -> list[str]:
    """The same city for both runs: same size, seed and simulated start, in real time."""
    return ["--vehicles", str(VEHICLES), "--seed", "11", "--start", start, "--time-scale", "1",
            "--duration", str(DURATION_S), "--status-interval", "1"]  # fmt: skip


def state(port: int) -> dict[str, Any]:
    """The speed layer without ``src``: which of a vehicle's two same-instant reports (telemetry and
    GPS, on two topics) was applied last depends on scheduling, by design."""
    snap = SpeedLayer(redis.Redis(host="127.0.0.1", port=port), "sc:").snapshot()
    for vehicle in snap["vehicles"].values():
        vehicle.pop("src", None)
    return snap


def shown_within(demo: Demo, fault: Callable[[tuple[int, dict[str, Any]]], bool], timeout: float = 15) -> float:
    """Seconds until ``/api/health`` shows the fault."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if fault(demo.health()):
            return time.monotonic() - began
        time.sleep(0.2)
    raise AssertionError(f"/api/health did not show the fault within {timeout} s: {demo.health()}")


def test_redis_killed_and_s3_gone_under_load_lose_nothing(tmp_path: Path) -> None:
    start = (datetime.now(UTC) - timedelta(seconds=5)).replace(microsecond=0).isoformat()
    with (
        RedisServer(tmp_path / "ref-redis") as ref_redis,
        RedisServer(tmp_path / "redis", persist=True) as faulty_redis,
        S3Server(tmp_path / "s3") as s3,
        Forwarder(tmp_path / "s3-endpoint", s3.port) as endpoint,
    ):
        s3.create_bucket("lake")
        ref = Demo(tmp_path / "ref", *city(start), "--redis-url", ref_redis.url)
        run = Demo(
            tmp_path / "run", *city(start), "--redis-url", faulty_redis.url,
            **s3_lake(s3, endpoint.port),
        )  # fmt: skip
        try:
            assert run.log.first("events/s", timeout=120) is not None, run.log.text()[-3000:]
            time.sleep(5)
            faulty_redis.kill()
            redis_shown = shown_within(run, lambda h: h[0] == 503 and not h[1]["components"]["speed_layer"]["ok"])
            time.sleep(OUTAGE_S - redis_shown)
            faulty_redis.start()  # same port; its append-only file brings the state back
            back = time.monotonic()
            time.sleep(5)
            endpoint.kill()
            lake_shown = shown_within(run, lambda h: h[0] == 200 and h[1]["components"]["lake"]["ok"] is False)
            time.sleep(OUTAGE_S - lake_shown)
            endpoint.start()
            report = run.finish(timeout=DURATION_S + 120)
            reference = ref.finish(timeout=120)
        finally:
            ref.stop()
            run.stop()
        log = run.log.text()
        # the speed layer caught up within 10 s of Redis's return, and said so
        caught_up = run.log.first("reachable again", after=back)
        assert caught_up is not None and caught_up - back < 10, log[-3000:]
        assert log.count("keeping its writes and retrying") == 1  # once per outage, not once per try
        assert "speed layer unreachable" in log and "events wait for the speed layer" in log  # the status line
        assert "lake flush failed" in log
        totals = report["totals"]
        assert totals["received"] == totals["valid"] + totals["dead_letters"]
        assert totals["lake_rows"] == totals["valid"] == totals["speed_layer"], totals
        assert report["speed_layer_pending"] == report["speed_layer_dropped"] == 0
        assert totals == reference["totals"]  # the same city, every event accounted for in both
        rows = s3_lake_rows(s3, report)
        assert rows == totals["valid"]
        faulted, uninterrupted = state(faulty_redis.port), state(ref_redis.port)
    assert len(faulted["vehicles"]) == len(uninterrupted["vehicles"]) > VEHICLES / 2
    for kind, entities in uninterrupted.items():
        differ = {k for k in entities.keys() | faulted[kind].keys() if entities.get(k) != faulted[kind].get(k)}
        assert not differ, (kind, len(differ), [(entities.get(k), faulted[kind].get(k)) for k in sorted(differ)[:2]])
