"""``python -m producers``: run the city simulation and write its events somewhere.

Examples::

    python -m producers --vehicles 500 --duration 60 --output run.jsonl
    python -m producers --duration 10 --time-scale 0 --output -     # flat out, to stdout
    python -m producers --kafka 127.0.0.1:9092 --partitions 6       # to Kafka, one topic per stream

With ``SMARTCITY_KAFKA_BOOTSTRAP_SERVERS`` set and no ``--output``, events go to Kafka.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from dataclasses import asdict
from datetime import UTC, datetime

from pipeline.exceptions import KafkaUnavailable
from pipeline.settings import Settings
from pipeline.topics import create_topics
from producers.backfill import life_config
from producers.daylife import LifeConfig
from producers.kafka import KafkaSink
from producers.runner import default_start, run
from producers.simulation import CitySimulation, SimulationConfig
from producers.sinks import JsonLinesSink, Sink


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m producers", description=__doc__.split("\n")[0])
    p.add_argument("--city", default="berlin", choices=["berlin", "braunschweig"], help="road network")
    p.add_argument("--vehicles", type=int, default=1000, help="vehicles in the city (default 1000)")
    p.add_argument("--sensors", type=int, default=40, help="traffic sensors (default 40)")
    p.add_argument("--stations", type=int, default=4, help="weather stations (default 4)")
    p.add_argument("--incidents-per-hour", type=float, default=6.0, help="incident rate (default 6)")
    p.add_argument(
        "--city-life",
        action="store_true",
        help="a living city: night parking, shifts, dead GPS units; default: every vehicle always reports",
    )
    p.add_argument("--rate", type=float, default=1.0, help="telemetry+GPS reports per vehicle per second")
    p.add_argument("--seed", type=int, default=42, help="same seed and --start, same events")
    p.add_argument(
        "--start", type=datetime.fromisoformat, default=None, help="simulated start time, ISO-8601 UTC (default: now)"
    )
    p.add_argument("--duration", type=float, default=None, help="simulated seconds to run (default: forever)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per wall second; 0 = as fast as possible (default 1)",
    )
    p.add_argument("--output", default=None, help="JSON-lines file, or - for stdout (default, unless Kafka is set)")
    p.add_argument(
        "--kafka", metavar="HOST:PORT", help="Kafka bootstrap servers (default: SMARTCITY_KAFKA_BOOTSTRAP_SERVERS)"
    )
    p.add_argument("--partitions", type=int, help="partitions of topics created (default: broker's)")
    p.add_argument("--replication-factor", type=int, help="replicas of topics created (default: broker's)")
    return p


def kafka_sink(bootstrap: str, args: argparse.Namespace, settings: Settings) -> KafkaSink:
    """A connected sink, the stream topics created (idempotent); raises KafkaUnavailable."""
    sink = KafkaSink(bootstrap, settings.topics(), settings.kafka_linger_ms, settings.kafka_compression)
    sink.connect()
    partitions = args.partitions or settings.kafka_partitions
    replication = args.replication_factor or settings.kafka_replication_factor
    created = create_topics(bootstrap, settings.topics().values(), partitions, replication)
    if created:
        logging.getLogger(__name__).info("created topics %s", ", ".join(created))
    return sink


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.kafka and args.output:
        p.error("choose --kafka or --output, not both")
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bootstrap = args.kafka or (settings.kafka_bootstrap_servers if args.output is None else None)
    start = args.start or default_start(args.time_scale, args.duration)
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    config = SimulationConfig(
        city=args.city,
        vehicles=args.vehicles,
        traffic_sensors=args.sensors,
        weather_stations=args.stations,
        incidents_per_hour=args.incidents_per_hour,
        report_interval_s=1.0 / args.rate,
        seed=args.seed,
        start=start,
        life=life_config(settings) if args.city_life else LifeConfig(enabled=False),
    )
    sink: Sink
    if bootstrap:
        try:
            sink = kafka_sink(bootstrap, args, settings)
        except KafkaUnavailable as exc:
            print(f"producers: {exc}", file=sys.stderr)
            return 2
    else:
        sink = JsonLinesSink(args.output or "-")
    sim = CitySimulation(config)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = run(sim, sink, args.duration, args.time_scale, stop=stop)
    finally:
        sink.close()
    summary = {"config": {k: str(v) for k, v in asdict(config).items()}, **asdict(stats)}
    failed = 0
    if isinstance(sink, KafkaSink):
        summary["kafka"] = asdict(sink.stats)
        failed = sink.stats.failed
    print(json.dumps(summary), file=sys.stderr)
    if failed:
        print(f"producers: {failed} of {sink.sent} events were not delivered to Kafka", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
