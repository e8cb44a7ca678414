"""``python -m cluster up|down|status|env|jars`` (wrapped by ``scripts/cluster``).

The native distributed cluster on loopback, no Docker: Kafka (KRaft), a Spark standalone
master with workers, Redis and an S3 API (moto), started as daemons that outlive this command.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from cluster.exceptions import ClusterError
from cluster.health import check
from cluster.jars import ROOT, fetch_all
from cluster.topology import SERVICES, Cluster, ClusterState
from pipeline.exceptions import KafkaUnavailable
from pipeline.settings import Settings
from pipeline.topics import create_topics


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/cluster", description=" ".join(__doc__.split("\n")[2:4]))
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", type=Path, default=ROOT / ".cluster", help="state, logs and data (default .cluster/)")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="start the cluster and print the settings that point at it")
    up.add_argument("--brokers", type=int, default=1, choices=[1, 3], help="Kafka brokers (3: RF 3, min ISR 2)")
    up.add_argument("--workers", type=int, default=2, help="Spark workers, 1 core and 1 GiB each (default 2)")
    up.add_argument("--only", default=",".join(SERVICES), help=f"services to start (default {','.join(SERVICES)})")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for health")
    up.add_argument("--redis-cluster", action="store_true", help="Redis as a Redis Cluster of 3 masters")
    sub.add_parser("down", parents=[common], help="stop the processes `up` started (only those)")
    status = sub.add_parser("status", parents=[common], help="health of each service; exit 1 if any is unhealthy")
    status.add_argument("--json", action="store_true")
    sub.add_parser("env", parents=[common], help="print `export SMARTCITY_…=…` lines for the running cluster")
    sub.add_parser("jars", parents=[common], help="fetch the Kafka and Spark jars with mvn (a set-up step; cached)")
    return p


def exports(state: ClusterState) -> str:
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in state.env().items())


def up(args: argparse.Namespace) -> int:
    settings = Settings()
    services = tuple(s.strip() for s in args.only.split(",") if s.strip())
    t0 = time.monotonic()
    cluster = Cluster(args.dir, args.brokers, args.workers, services, redis_cluster=args.redis_cluster)
    state = cluster.up(args.timeout)
    if state.bootstrap_servers:
        created = create_topics(state.bootstrap_servers, settings.topics().values(), settings.kafka_partitions)
        if created:
            print(f"cluster: created topics {', '.join(created)}")
    print(f"cluster: up in {time.monotonic() - t0:.1f} s; state and logs in {args.dir}")
    print(f'# point the product at it (or: eval "$(scripts/cluster env)"):\n{exports(state)}')
    return 0


def status(args: argparse.Namespace) -> int:
    state = ClusterState.load(args.dir)
    if state is None:
        print(f"cluster: not running (no {args.dir / 'state.json'})", file=sys.stderr)
        return 1
    report = check(state)
    if args.json:
        print(json.dumps([h.__dict__ for h in report], indent=2))
    else:
        for h in report:
            print(f"{h.service:<15} {'ok' if h.ok else 'FAIL':<5} {h.address:<55} {h.detail}")
        print(f"processes: {', '.join(f'{n} ({r.pid})' for n, r in state.processes.items())}")
    return 0 if all(h.ok for h in report) else 1


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "up":
            return up(args)
        if args.command == "status":
            return status(args)
        if args.command == "down":
            stopped = Cluster(args.dir).down()
            print(f"cluster: stopped {', '.join(stopped)}" if stopped else "cluster: nothing was running")
            return 0
        if args.command == "env":
            state = ClusterState.load(args.dir)
            if state is None:
                print("cluster: not running", file=sys.stderr)
                return 1
            print(exports(state))
            return 0
        fetch_all()
        return 0
    except (ClusterError, KafkaUnavailable) as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
