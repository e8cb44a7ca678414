"""``python -m producers``: run the city simulation and write its events somewhere.

Examples::

    python -m producers --vehicles 500 --duration 60 --output run.jsonl
    python -m producers --duration 10 --time-scale 0 --output -     # flat out, to stdout
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import asdict
from datetime import UTC, datetime

from producers.runner import default_start, run
from producers.simulation import CitySimulation, SimulationConfig
from producers.sinks import JsonLinesSink


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m producers", description=__doc__.split("\n")[0])
    p.add_argument("--city", default="berlin", choices=["berlin", "braunschweig"], help="road network")
    p.add_argument("--vehicles", type=int, default=1000, help="vehicles in the city (default 1000)")
    p.add_argument("--sensors", type=int, default=40, help="traffic sensors (default 40)")
    p.add_argument("--stations", type=int, default=4, help="weather stations (default 4)")
    p.add_argument("--incidents-per-hour", type=float, default=6.0, help="incident rate (default 6)")
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
    p.add_argument("--output", default="-", help="JSON-lines file, or - for stdout (default)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
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
    )
    sim = CitySimulation(config)
    sink = JsonLinesSink(args.output)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stats = run(sim, sink, args.duration, args.time_scale, stop=stop)
    finally:
        sink.close()
    print(json.dumps({"config": {k: str(v) for k, v in asdict(config).items()}, **asdict(stats)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
