"""Redis Cluster benchmark: the pipeline's events/s into a Redis Cluster of three masters
beside one redis-server, the same events in the same run; prints one JSON document.

    python -m benchmarks.cluster [--vehicles 2000] [--seconds 60]

- ``throughput_redis``: events/s through bus -> validation -> speed layer -> Parquet lake into
  one ``redis-server`` (one shard), as ``benchmarks.pipeline`` measures it.
- ``throughput_cluster``: the same into a 3-master cluster (12 shards, 4 per master).
- ``redis_cpu_s``: CPU seconds the Redis servers spent on each run (all nodes summed), and per
  1,000 events: what a master costs per event, the figure that scales out (on this machine
  every node shares the same cores, so the cluster's events/s measures overhead, not scale).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from redis.cluster import RedisCluster

from benchmarks import run
from benchmarks.pipeline import Message, machine, simulate, throughput
from pipeline.speed_layer import CLUSTER_SHARDS


def cpu_seconds(ports: list[int]) -> float:
    """CPU seconds (user + system) the redis-servers on ``ports`` have used so far."""
    total = 0.0
    for port in ports:
        client = redis.Redis(host="127.0.0.1", port=port)
        info = client.info("cpu")
        total += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        client.close()
    return total


def measured(client: Any, ports: list[int], messages: list[Message], lake_dir: str) -> dict[str, Any]:
    cpu0 = cpu_seconds(ports)
    result = throughput(client, messages, lake_dir)
    cpu = cpu_seconds(ports) - cpu0
    return result | {"redis_cpu_s": round(cpu, 2), "redis_cpu_ms_per_1000_events": round(cpu * 1e6 / len(messages), 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=2000)
    p.add_argument("--seconds", type=int, default=60, help="simulated seconds of events to generate")
    args = p.parse_args(argv)

    from tests.services import RedisClusterServer, RedisServer  # the same launchers the tests use

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=args.seconds + 30)
    sim, messages = simulate(args.vehicles, args.seconds, start)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        workdir = Path(tmp)
        result: dict[str, Any] = {"benchmark": "cluster", "machine": machine(), "simulation": sim}
        with RedisServer(workdir / "redis") as server, RedisClusterServer(workdir / "redis-cluster") as cluster:
            single = redis.Redis(host="127.0.0.1", port=server.port)
            many = RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
            result["redis_server"] = single.info("server").get("redis_version")
            result["cluster"] = {"masters": len(cluster.nodes), "shards": CLUSTER_SHARDS}
            ports = [node.port for node in cluster.nodes]
            result["throughput_redis"] = measured(single, [server.port], messages, str(workdir / "lake-redis"))
            result["throughput_cluster"] = measured(many, ports, messages, str(workdir / "lake-cluster"))
            single.close()
            many.close()
        ratio = result["throughput_cluster"]["events_per_s"] / result["throughput_redis"]["events_per_s"]
        result["cluster_vs_redis"] = round(ratio, 3)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    run(main)
