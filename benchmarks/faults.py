"""What a fault under load costs the one-process platform: prints one JSON document.

    python -m benchmarks.faults [--vehicles 2000] [--outage 20]     # the one-process platform
    python -m benchmarks.faults --distributed [--vehicles 500]       # Kafka (3 brokers) + Spark

Runs ``python app/main.py`` with a simulated city (default 2,000 vehicles, real time) on a
real ``redis-server`` (append-only file, fsync every second) and an S3 lake (moto behind a TCP
endpoint), and injects, one after the other:

- ``redis_kill``: Redis SIGKILLed, started again on the same port ``--outage`` seconds later;
- ``s3_stop``: the S3 endpoint gone (connections refused) for ``--outage`` seconds.

With ``--distributed`` it starts a native cluster (3 Kafka brokers, a Spark master and 2
workers, Redis, S3), runs ``python -m producers --kafka`` in real time and the Spark job, and
SIGKILLs one Kafka broker (``kafka_broker_kill``, not restarted: three tolerate one) and
later one Spark worker with its executor (``spark_worker_kill``). There ``shown_after_s`` is
when ``/api/health`` first shows vehicle data older than 5 s (None: never stale enough to
show), ``recovered_after_s`` when the newest vehicle in the speed layer is fresh again.

For each: ``shown_after_s`` (fault -> ``/api/health`` says so), ``recovered_after_s`` (server
back -> the speed layer caught up / the lake written again), and, for the whole run, events
received, valid, dead letters, lake rows (counted in S3), speed-layer writes and ``lost``
(valid events missing from the lake or the speed layer: the goal is 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import run


def _until(check: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``check()`` holds (None: not within ``timeout``)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if check():
            return round(time.monotonic() - began, 2)
        time.sleep(0.2)
    return None


def distributed(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Kafka broker and Spark worker killed under a real-time producer; see the module doc."""
    import os
    import signal
    import subprocess
    import uuid

    import redis

    from cluster.topology import Cluster
    from pipeline.accounting import combine
    from pipeline.schemas import STREAMS
    from pipeline.speed_layer import SpeedLayer

    cluster = Cluster(work / "cluster", brokers=3, workers=2)
    state = cluster.up()
    procs: list[subprocess.Popen[str]] = []
    try:
        run = f"f{uuid.uuid4().hex[:6]}"
        base = f"s3://{state.s3_bucket}/{run}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCITY_")} | state.env()
        env |= {f"SMARTCITY_TOPIC_{s.upper()}": f"{run}_{s}" for s in STREAMS}
        env |= {"SMARTCITY_REDIS_PREFIX": f"{run}:", "SMARTCITY_LAKE_URI": f"{base}/lake",
                "SMARTCITY_SPARK_CHECKPOINT_URI": f"{base}/checkpoint",
                "SMARTCITY_SPARK_TRIGGER_SECONDS": "0.5"}  # fmt: skip
        root = Path(__file__).resolve().parent.parent
        duration = 4 * args.outage + 180  # the producer outlasts both faults and their recovery
        producer = subprocess.Popen(
            [sys.executable, "-m", "producers", "--kafka", state.bootstrap_servers or "", "--vehicles",
             str(args.vehicles), "--time-scale", "1", "--duration", str(duration), "--partitions", "3",
             "--replication-factor", "3"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(producer)
        with open(work / "spark-job.log", "w") as log:
            job = subprocess.Popen(
                [sys.executable, "-m", "pipeline.spark_job", "--jars", state.jars_option], cwd=root,
                env=env | state.spark_env(), stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            )  # fmt: skip
        procs.append(job)
        speed = SpeedLayer(redis.Redis.from_url(state.redis_url or ""), f"{run}:")

        def age() -> float:
            last = speed.summary()["last_event_ms"].get("last_v")
            return float("inf") if not last else time.time() - last / 1000

        if _until(lambda: age() < 5, 300) is None:
            raise SystemExit(f"the Spark job never caught up; see {work / 'spark-job.log'}")
        time.sleep(10)
        faults = {}
        for name, victim, whole_session in (("kafka_broker_kill", "kafka-2", False),
                                            ("spark_worker_kill", "spark-worker-1", True)):  # fmt: skip
            pid = state.processes[victim].pid
            began = time.monotonic()
            os.killpg(pid, signal.SIGKILL) if whole_session else os.kill(pid, signal.SIGKILL)
            worst, shown, fresh_since = 0.0, None, None
            while time.monotonic() - began < args.outage + 60:
                now, a = time.monotonic(), age()
                worst = max(worst, a)
                if shown is None and a > 5:
                    shown = round(now - began, 2)
                fresh_since = (fresh_since or now) if a < 3 else None
                if fresh_since is not None and now - fresh_since >= 5 and now - began >= args.outage:
                    break
                time.sleep(0.25)
            faults[name] = {"victim": victim, "shown_after_s": shown, "max_data_age_s": round(worst, 2),
                            "recovered_after_s": round(fresh_since - began, 2) if fresh_since else None}  # fmt: skip
        producer.wait(duration + 120)
        summary = json.loads(next(line for line in reversed(producer.stderr.read().splitlines())  # type: ignore[union-attr]
                                  if line.startswith("{")))  # fmt: skip
        delivered = summary["kafka"]["delivered"]

        def done() -> bool:
            statuses = [p["status"] for p in speed.processor_statuses() if p["status"]]
            acc = combine(statuses) or {}
            return (acc.get("totals") or {}).get("received", 0) >= delivered

        _until(done, 300)
        os.killpg(job.pid, signal.SIGTERM)
        job.wait(120)
        acc = combine(p["status"] for p in speed.processor_statuses() if p["status"]) or {}
        totals = acc.get("totals") or {}
        return {
            "vehicles": args.vehicles,
            "faults": faults,
            "events": {
                "offered": summary["kafka"]["produced"],
                "delivered_to_kafka": delivered,
                "producer_failures": summary["kafka"]["failed"],
                "received": totals.get("received"),
                "valid": totals.get("valid"),
                "dead_letters": totals.get("dead_letters"),
                "lake_rows": totals.get("lake_rows"),
                "speed_layer_writes": totals.get("speed_layer"),
                "lost": delivered - totals.get("valid", 0) - totals.get("dead_letters", 0),
            },
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL) if proc is not procs[0] else proc.kill()
                proc.wait()
        cluster.down()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=2000)
    p.add_argument("--outage", type=float, default=20.0, help="seconds each server stays away")
    p.add_argument("--distributed", action="store_true", help="Kafka broker and Spark worker kills instead")
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.pipeline import machine
    from tests.demo import Demo, s3_lake, s3_lake_rows
    from tests.services import Forwarder, RedisServer, S3Server

    work = Path(tempfile.mkdtemp(prefix="smartcity-faults-"))
    if args.distributed:
        figures = distributed(args, work)
        print(json.dumps({"benchmark": "faults (distributed)", "when": datetime.now(UTC).isoformat(timespec="seconds"),
                          "machine": machine(), **figures}, indent=2))  # fmt: skip
        return 0
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
            **s3_lake(s3, endpoint.port),
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
        lake_rows = s3_lake_rows(s3, report)
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
    run(main)
