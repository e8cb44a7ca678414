"""What single steps of the console server cost: prints one JSON document.

    python -m benchmarks.costs

The figures behind the console server's design (README, Console server and browser), each
measured on a real ``redis-server`` holding N vehicles (default 5,000), in this process:

- ``full_gc_ms``: one full garbage collection with the console app loaded, before and after
  ``gc.freeze()`` (what ``pipeline.runtime.settle_heap`` does in each server process);
- ``fleet_rows_read_ms``: the whole fleet's rows out of Redis (one Lua call), as the fleet
  cache refreshes and as a second read for the summary's average speed would cost;
- ``fleet_rows_parse_ms`` / ``fleet_dicts_ms``: parsing those rows, and making a dict of each
  (what the fleet cache no longer does for every vehicle at each refresh).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import redis

from benchmarks import run
from benchmarks.console import fleet, percentiles
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float | None]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.costs", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from app import create_app
    from app.store import row_dict
    from benchmarks.pipeline import machine
    from tests.services import RedisServer

    work = Path(tempfile.mkdtemp(prefix="smartcity-costs-"))
    with RedisServer(work / "redis") as rs:
        speed = SpeedLayer(redis.Redis(host="127.0.0.1", port=rs.port), "costs:")
        speed.write(fleet(args.vehicles, datetime.now(UTC), 0))
        settings = Settings(_env_file=None, redis_url=rs.url, redis_prefix="costs:", api_tokens="viewer:t",
                            lake_uri=str(work / "lake"))  # fmt: skip
        create_app(settings)  # the console server's heap: Dash, Plotly, pandas, pyarrow…
        gc.collect()
        before = timed(gc.collect, 5)
        objects = len(gc.get_objects())
        gc.freeze()
        after = timed(gc.collect, 5)
        gc.unfreeze()
        raw = speed.vehicle_rows(limit=1_000_000)
        rows = orjson.loads(raw)
        result = {
            "benchmark": "costs",
            "machine": machine(),
            "vehicles": args.vehicles,
            "objects_tracked": objects,
            "full_gc_ms": {"before_freeze": before, "after_freeze": after},
            "fleet_rows_read_ms": timed(lambda: speed.vehicle_rows(limit=1_000_000), args.repeat),
            "fleet_rows_bytes": len(raw),
            "fleet_rows_parse_ms": timed(lambda: orjson.loads(raw), args.repeat),
            "fleet_dicts_ms": timed(lambda: [row_dict(r) for r in rows], args.repeat),
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    run(main)
