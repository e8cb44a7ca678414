"""What serving the city's buses as GTFS-Realtime costs: prints one JSON document.

    python -m benchmarks.gtfs [--buses 1000] [--cars 1000] [--repeat 200]

A city of N buses (with position, speed and heading) and M cars is written to a real
``redis-server`` (started on a free loopback port, stopped after) and, as a second figure, to
the embedded store (fakeredis). For each, p50/p99 over ``--repeat`` builds of:

- ``build_ms``: the whole feed as ``GET /gtfs-rt/vehicle-positions`` makes it: the buses read
  through the ``Store`` (no fleet cache: every build reads Redis), the FeedMessage built and
  serialised to bytes (the target: <= 50 ms for 1,000 buses);
- ``read_ms`` / ``protobuf_ms``: its two halves; ``json_ms``: ``?format=json`` instead of bytes;
- ``request_ms`` (real Redis only): the same GET through the Flask app, auth and all;
- ``build_with_fleet_cache_ms``: ``build_ms`` with the fleet cache the servers run with (1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import redis

from app.gtfs_feed import as_json, city_feed, vehicle_positions
from app.store import Store
from benchmarks import run
from benchmarks.console import percentiles
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Record, Validator


def timed(fn: Callable[[], Any], repeat: int, pause_s: float = 0.0) -> dict[str, float | None]:
    """p50/p95/p99 of ``repeat`` calls of ``fn``, ``pause_s`` apart."""
    fn()  # warm: the Lua script loaded, the first protobuf classes made
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
        time.sleep(pause_s)
    return percentiles(samples)


def city(buses: int, cars: int, now: datetime) -> list[tuple[str, Record]]:
    """``buses`` buses and ``cars`` cars around Berlin-Köpenick, each reported in the last minute."""
    validator, out = Validator(), []
    for i in range(buses + cars):
        kind = "bus" if i < buses else "car"
        event = {
            "device_id": f"{kind}-{i:05d}", "timestamp": (now - timedelta(seconds=i % 60)).isoformat(),
            "location": [52.42 + (i * 7919 % 1000) / 30_000, 13.50 + (i * 104729 % 1000) / 20_000],
            "speed": float(i % 55), "heading": float(i * 37 % 360), "vehicle_type": kind,
        }  # fmt: skip
        rec = validator.validate("gps_data", event, now=now)
        assert isinstance(rec, dict), rec
        out.append(("gps_data", rec))
    return out


def figures(speed: SpeedLayer, repeat: int) -> dict[str, Any]:
    store = Store(speed)  # no fleet cache: each build reads Redis, the worst case
    cached = Store(speed, fleet_cache_s=1.0)
    rows = store.vehicle_locations(vehicle_type="bus", limit=100_000)
    feed = city_feed(store, time.time())
    return {
        "buses_in_feed": len(feed.entity),
        "feed_bytes": len(feed.SerializeToString()),
        "build_ms": timed(lambda: city_feed(store, time.time()).SerializeToString(), repeat),
        "read_ms": timed(lambda: store.vehicle_locations(vehicle_type="bus", limit=100_000), repeat),
        "protobuf_ms": timed(lambda: vehicle_positions(rows, time.time()).SerializeToString(), repeat),
        "json_ms": timed(lambda: as_json(city_feed(store, time.time())), repeat),
        # as the demo and gunicorn run it (SMARTCITY_FLEET_CACHE_SECONDS=1): the fleet read at most once a
        # second and shared with the map's clients; the build that refreshes it pays for the whole fleet (builds
        # 25 ms apart: one in 40 refreshes)
        "build_with_fleet_cache_ms": timed(lambda: city_feed(cached, time.time()).SerializeToString(), repeat, 0.025),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.gtfs", description=__doc__.split("\n")[0])
    p.add_argument("--buses", type=int, default=1000)
    p.add_argument("--cars", type=int, default=1000, help="other vehicles, which the feed leaves out")
    p.add_argument("--repeat", type=int, default=200)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app import create_app
    from benchmarks.pipeline import machine
    from pipeline.settings import Settings
    from tests.services import RedisServer

    before_load = round(os.getloadavg()[0], 2)
    records = city(args.buses, args.cars, datetime.now(UTC))
    work = Path(tempfile.mkdtemp(prefix="smartcity-gtfs-"))
    with RedisServer(work / "redis") as rs:
        speed = SpeedLayer(redis.Redis(host="127.0.0.1", port=rs.port), "gtfs:")
        speed.write(records)
        real = figures(speed, args.repeat)
        settings = Settings(_env_file=None, api_tokens="viewer:t", lake_uri=str(work / "lake"))
        client = create_app(settings, store=Store(speed)).test_client()
        headers = {"Authorization": "Bearer t"}
        real["request_ms"] = timed(lambda: client.get("/gtfs-rt/vehicle-positions", headers=headers), args.repeat)
    embedded = SpeedLayer(fakeredis.FakeRedis(), "gtfs:")
    embedded.write(records)
    result = {
        "benchmark": "gtfs",
        "machine": machine(),
        "load_average_1m": {"before": before_load, "after": round(os.getloadavg()[0], 2)},  # others' work on the cores
        "buses": args.buses,
        "cars": args.cars,
        "repeat": args.repeat,
        "target_build_ms": 50,
        "redis": real,
        "embedded_store": figures(embedded, args.repeat),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    run(main)
