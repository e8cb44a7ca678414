"""What a fault under load costs the one-process platform: prints one JSON document.

    python -m benchmarks.faults [--vehicles 2000] [--outage 20]

Runs ``python app/main.py`` with a simulated city (default 2,000 vehicles, real time) on a
real ``redis-server`` (append-only file, fsync every second) and an S3 lake (moto behind a TCP
endpoint), and injects, one after the other:

- ``redis_kill``: Redis SIGKILLed, started again on the same port ``--outage`` seconds later;
- ``s3_stop``: the S3 endpoint gone (connections refused) for ``--outage`` seconds.

For each: ``shown_after_s`` (fault -> ``/api/health`` says so), ``recovered_after_s`` (server
back -> the speed layer caught up / the lake written again), and, for the whole run, events
received, valid, dead letters, lake rows (counted in S3), speed-layer writes and ``lost``
(valid events missing from the lake or the speed layer: the goal is 0).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
from pyarrow import fs as pafs


def _until(check: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``check()`` holds (None: not within ``timeout``)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return round(time.monotonic() - began, 2)
        time.sleep(0.2)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=2000)
    p.add_argument("--outage", type=float, default=20.0, help="seconds each server stays away")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.pipeline import machine
    from tests.demo import Demo
    from tests.services import Forwarder, RedisServer, S3Server

    work = Path(tempfile.mkdtemp(prefix="smartcity-faults-"))
    duration = 4 * args.outage + 40
    faults: dict[str, dict[str, Any]] = {}
    with (
        RedisServer(work / "redis", persist=True) as rs,
        S3Server(work / "s3") as s3,
        Forwarder(work / "s3-endpoint", s3.port) as endpoint,
    ):
        s3.create_bucket("lake")
        demo = Demo(
            work, "--vehicles", str(args.vehicles), "--time-scale", "1", "--duration", str(duration),
            "--status-interval", "1", "--redis-url", rs.url,
            SMARTCITY_LAKE_URI="s3://lake/city", SMARTCITY_S3_ENDPOINT_URL=f"http://127.0.0.1:{endpoint.port}",
            SMARTCITY_S3_REGION=s3.region, SMARTCITY_S3_ACCESS_KEY_ID=s3.access_key,
            SMARTCITY_S3_SECRET_ACCESS_KEY=s3.secret_key,
        )  # fmt: skip
        try:
            if demo.log.first("events/s", timeout=180) is None:
                raise SystemExit(f"the demo never got going:\n{demo.log.text()[-3000:]}")
            time.sleep(10)

            began = time.monotonic()
            rs.kill()
            shown = _until(lambda: not demo.health()[1].get("components", {}).get("speed_layer", {}).get("ok"), 30)
            time.sleep(max(0.0, args.outage - (time.monotonic() - began)))
            rs.start()
            back = time.monotonic()
            caught_up = demo.log.first("reachable again", after=back, timeout=60)
            faults["redis_kill"] = {
                "outage_s": round(back - began, 1),
                "shown_after_s": shown,
                "recovered_after_s": round(caught_up - back, 2) if caught_up else None,
            }
            time.sleep(10)

            began = time.monotonic()
            endpoint.kill()
            shown = _until(lambda: demo.health()[1].get("components", {}).get("lake", {}).get("ok") is False, 30)
            time.sleep(max(0.0, args.outage - (time.monotonic() - began)))
            endpoint.start()
            back = time.monotonic()
            written = _until(lambda: _lake_age(demo) < time.monotonic() - back, 90)  # rows landed since
            faults["s3_stop"] = {"outage_s": round(back - began, 1), "shown_after_s": shown,
                                 "recovered_after_s": written}  # fmt: skip
            report = demo.finish(timeout=duration + 180)
        finally:
            demo.stop()
        s3fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{s3.port}", scheme="http", region=s3.region,
                                 access_key=s3.access_key, secret_key=s3.secret_key)  # fmt: skip
        lake_rows = sum(
            ds.dataset(f"lake/city/{stream}", filesystem=s3fs, format="parquet", partitioning="hive").count_rows()
            for stream, counts in report["streams"].items()
            if counts["valid"]
        )
    totals = report["totals"]
    print(json.dumps({
        "benchmark": "faults",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "vehicles": args.vehicles,
        "faults": faults,
        "events": {
            "received": totals["received"],
            "valid": totals["valid"],
            "dead_letters": totals["dead_letters"],
            "lake_rows_in_s3": lake_rows,
            "speed_layer_writes": totals["speed_layer"],
            "speed_layer_dropped": report["speed_layer_dropped"],
            "lost": (totals["valid"] - lake_rows) + (totals["valid"] - totals["speed_layer"]),
            "accounting_holds": totals["received"] == totals["valid"] + totals["dead_letters"],
        },
        "latency_ms": report["latency_ms"],
    }, indent=2))  # fmt: skip
    return 0


def _lake_age(demo: Any) -> float:
    """Seconds since the lake last took rows, as ``/api/health`` says (inf when unknown)."""
    age = demo.health()[1].get("components", {}).get("lake", {}).get("last_write_age_seconds")
    return float("inf") if age is None else float(age)


if __name__ == "__main__":
    sys.exit(main())
