"""``python app/main.py``: the whole city in one process.

Wires the city simulation -> in-process bus -> stream processor -> speed layer (an embedded
Valkey server run as a child process, or Redis with ``SMARTCITY_REDIS_URL``) + Parquet lake
(``SMARTCITY_LAKE_URI``), and reports progress, including whether the city keeps up with real
time. Ctrl-C (SIGINT) or SIGTERM drains the bus, flushes the lake, then stops the child.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: put the repo root, not app/, on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime
from typing import Any

import redis
from redis.cluster import RedisCluster

from app import create_app, credentials
from app.server import Server, url_for
from app.store import Store
from pipeline import runtime
from pipeline.accounting import Accounting, ProcessorStatus, StatusPublisher
from pipeline.embedded_redis import EmbeddedRedis
from pipeline.exceptions import ConfigError
from pipeline.mqtt import UNROUTED_TOPIC, embedded_bridge
from pipeline.processor import Processor
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from producers.backfill import BackgroundBackfill, simulation_config
from producers.gtfs_rt import Poller, Sink
from producers.network import load_network
from producers.runner import RunStats, default_start, run
from producers.simulation import CitySimulation
from producers.sinks import BusSink, batches, read_jsonl

log = logging.getLogger("smartcity")
# Simulated seconds per step. A step's reports reach the bus as one burst that the processor
# takes as one batch: 10,000 vehicles make 5,000 events per quarter second, whose last event
# waits for the whole batch; tenth-second steps cost the simulation no more and cut that wait.
STEP_S = 0.1
BEHIND_AFTER_S = 2.0  # a simulated clock this far behind its schedule: the city runs behind real time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python app/main.py", description="Smart city platform, one process.")
    p.add_argument("--vehicles", type=int, help="vehicles in the simulated city (default 1000)")
    p.add_argument("--city", help="road network: berlin (default) or braunschweig")
    p.add_argument("--seed", type=int, help="simulation seed (default 42)")
    p.add_argument("--time-scale", type=float, help="simulated seconds per wall second; 0 = flat out")
    p.add_argument("--duration", type=float, help="stop after this many simulated seconds")
    p.add_argument(
        "--start", type=datetime.fromisoformat, help="simulated start, ISO-8601 UTC (default now); same seed, same city"
    )
    p.add_argument("--replay", metavar="FILE", help="feed a recorded JSON-lines run instead of simulating")
    p.add_argument("--host", help="address to serve the console on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to serve the console on (default 8050; 0 = any free port)")
    p.add_argument("--redis-url", help="use this Redis instead of the embedded store")
    p.add_argument("--lake-uri", help="lake folder or s3://bucket/prefix (default ./data/lake)")
    p.add_argument(
        "--history-days",
        type=float,
        help="write this many days of simulated history to the lake, "
        "in the background (default 0; SMARTCITY_HISTORY_DAYS)",
    )
    p.add_argument("--status-interval", type=float, default=5.0, help="seconds between status lines")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING…")
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "vehicles": args.vehicles,
        "city": args.city,
        "seed": args.seed,
        "time_scale": args.time_scale,
        "redis_url": args.redis_url,
        "lake_uri": args.lake_uri,
        "log_level": args.log_level,
        "host": args.host,
        "port": args.port,
        "history_days": args.history_days,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def simulation(settings: Settings, duration: float | None, start: datetime | None = None) -> CitySimulation:
    return CitySimulation(simulation_config(settings, start or default_start(settings.time_scale, duration)))


def simulation_status(pace: RunStats | None, time_scale: float, now: float | None = None) -> dict[str, Any] | None:
    """Whether the simulated city keeps up with its clock: ``realtime_factor`` (simulated
    seconds per wall second, last 10 s), ``behind_s`` (how far its clock is behind schedule),
    ``behind`` (true past ``BEHIND_AFTER_S``). None for a replay, or flat out (time scale 0)."""
    if pace is None or time_scale <= 0:
        return None
    current = pace.pace(now)
    behind = current["behind_s"] is not None and current["behind_s"] >= BEHIND_AFTER_S
    return {**current, "time_scale": time_scale, "behind": behind}


def pace_text(sim: dict[str, Any] | None) -> str:
    """`` | city 1.00x real time``, or in words how far behind it runs."""
    if sim is None or sim["realtime_factor"] is None:
        return ""
    factor = sim["realtime_factor"] / sim["time_scale"]
    if sim["behind"]:
        return (f" | CITY BEHIND REAL TIME: {factor:.2f}x, {sim['behind_s']:.1f} s behind "
                "(this machine or the pipeline cannot keep up: queued events wait, latency grows)")  # fmt: skip
    return f" | city {factor:.2f}x real time"


def status_line(
    processor: Processor,
    speed: SpeedLayer,
    previous: dict[str, Any],
    dt: float,
    sim: dict[str, Any] | None = None,
) -> str:
    """One progress line; says in words when the speed layer or the lake is failing, or the
    simulation falls behind real time (``sim``: ``simulation_status``)."""
    acc = processor.accounting.snapshot()
    totals = acc["totals"]
    rate = (totals["received"] - previous.get("received", 0)) / dt if dt > 0 else 0.0
    previous.update(totals)
    try:
        summary = speed.summary()
        city = (f"vehicles {summary['active_vehicles']} incidents {summary['active_incidents']} "
                f"congested {summary['congested_segments']}")  # fmt: skip
    except redis.RedisError as exc:
        city = f"speed layer unreachable ({type(exc).__name__})"
    lat = acc["latency_ms"]
    line = (
        f"events/s {rate:7.0f} | received {totals['received']} valid {totals['valid']} "
        f"dead {totals['dead_letters']} lake {totals['lake_rows']} | {city} | "
        f"latency p50 {lat['p50']} ms p99 {lat['p99']} ms (whole run)"
        + f" | queued {sum(processor.bus.depth().values())}"
        + pace_text(sim)
    )
    if acc["speed_layer_pending"]:
        line += f" | {acc['speed_layer_pending']} events wait for the speed layer"
    if acc["speed_layer_dropped"]:
        line += f" | {acc['speed_layer_dropped']} never reached the speed layer (rebuild from the lake)"
    return line


def whole_run_latency(accounting: Accounting) -> dict[str, Any]:
    """Event -> speed layer latency over every event of the run: ``samples``, ``p50``, ``p99``, ``max`` (ms)."""
    return {"samples": len(accounting.latencies_ms)} | accounting.latency_percentiles()


def gtfs_poller(settings: Settings, ingest: Sink) -> Poller | None:
    """Polls ``SMARTCITY_GTFS_RT_URLS`` into ``ingest`` as GPS events (None when unset)."""
    feeds = settings.gtfs_rt_feeds()
    if not feeds:
        return None
    log.info("GTFS-RT: polling %d feed(s) every %g s", len(feeds), settings.gtfs_rt_poll_seconds)
    topic = settings.topics()["gps_data"]
    return Poller(feeds, ingest, topic, settings.gtfs_rt_poll_seconds).start()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.replay and not Path(args.replay).is_file():
        log.error("no such recording: %s", args.replay)
        return 2
    try:
        client, child = runtime.store_client(settings)  # before any thread: the child is forked
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if child is not None:
        child.supervise()  # a store that dies is started again on the same socket
    try:
        return serve(args, settings, client, child)
    finally:
        if child is not None:  # last: the processor has drained the bus into it
            child.stop()


def store_name(settings: Settings, child: EmbeddedRedis | None) -> str:
    if settings.redis_url is not None:
        return runtime.describe_url(settings.secret("redis_url") or "")
    if child is not None:
        return f"embedded server {child.binary.name} (pid {child.pid}, {child.socket})"
    return "embedded in-process store (fakeredis)"


def serve(
    args: argparse.Namespace, settings: Settings, client: redis.Redis | RedisCluster, child: EmbeddedRedis | None
) -> int:
    """Runs the demo on ``client``'s store until a signal, or the end of a --duration or recording."""
    store = store_name(settings, child)
    runtime.tune_interpreter()
    bus, processor = runtime.embedded(settings, client, [UNROUTED_TOPIC] if settings.mqtt_url else [])
    try:
        mqtt = embedded_bridge(settings, bus)  # devices on MQTT feed the same bus (SMARTCITY_MQTT_URL)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    speed = processor.batch.speed_layer
    log.info("speed layer: %s (prefix %r); lake: %s", store, settings.redis_prefix, settings.lake_uri)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    # days of simulated history, written to the lake by a child process once the console serves
    history = BackgroundBackfill(settings, settings.history_days) if settings.history_days > 0 else None
    # the processor's status, in this process and in the speed layer for consoles elsewhere
    pace = None if args.replay else RunStats()  # the simulation's, kept current as it runs

    def extra_status() -> dict[str, Any]:
        extra: dict[str, Any] = {"store": store, "simulation": simulation_status(pace, settings.time_scale)}
        extra["latency_ms_run"] = whole_run_latency(processor.accounting)
        extra["rules_lag"] = processor.rules_lag()
        if mqtt is not None:
            extra["mqtt"] = mqtt.status()
        if history is not None:
            extra["backfill"] = history.status()
        return extra

    status = ProcessorStatus(f"embedded:{socket.gethostname()}:{os.getpid()}", "embedded", processor.accounting,
                             processor.lag, extra=extra_status)  # fmt: skip
    processor.publisher = StatusPublisher(speed, status)
    processor.start()
    if mqtt is not None:
        mqtt.start()
    sink = BusSink(bus, settings.topics(), timeout=None)  # a pipeline that falls behind slows the city down
    app = create_app(
        settings,
        store=Store(speed, settings.fleet_cache_seconds),
        ingest=runtime.bus_ingest(bus, "http"),
        accounting=status.current,
        network_geojson=None if args.replay else load_network(settings.city).geojson(),
    )
    runtime.settle_heap()  # what is loaded now stays: no full collection rescans it
    try:
        server = Server(app, settings.host, settings.port).start()
    except OSError as exc:
        log.error("cannot serve on %s:%s: %s", settings.host, settings.port, exc)
        if mqtt is not None:
            mqtt.stop()
        processor.stop()
        return 2
    login = credentials(app).login_url(server.url)
    print(f"Smart City console: {login or server.url + '/'}", flush=True)
    if server.wildcard:  # other machines need a name for this one, not loopback
        log.info("listening on every interface: from another machine use %s",
                 url_for(socket.gethostname(), server.port))  # fmt: skip
    if login:
        generated = credentials(app).generated
        tokens = ", ".join(f"{k.removesuffix('_token')}={v}" for k, v in generated.items() if k.endswith("_token"))
        log.info("generated credentials (set SMARTCITY_USERS / SMARTCITY_API_TOKENS to choose your own): "
                 "user admin, password %s; API tokens %s", generated["admin_password"], tokens)  # fmt: skip

    def produce() -> None:
        try:
            if args.replay:
                for batch in batches(read_jsonl(args.replay), 1000):
                    if stop.is_set():
                        break
                    sink.send(batch)
            else:
                sim = simulation(settings, args.duration, args.start)
                log.info("simulating %s: %d vehicles, seed %d", settings.city, settings.vehicles, settings.seed)
                # short steps spread each second's reports instead of one burst
                run(sim, sink, args.duration, settings.time_scale, step_s=STEP_S, stop=stop, stats=pace)
        except Exception:  # the console, ingest, MQTT and the pipeline go on; the exit code says so
            log.exception("the simulation stopped after an error; the console and ingest go on until Ctrl-C")
            failed.set()
        else:
            done.set()  # a --duration or a recording ran to its end: the demo ends with it

    done, failed = threading.Event(), threading.Event()
    threading.Thread(target=produce, name="smartcity-producer", daemon=True).start()
    if history is not None:
        log.info("writing %g days of simulated history to the lake in the background", history.days)
        history.start()
    gtfs_rt = gtfs_poller(settings, runtime.bus_ingest(bus, "gtfs-rt"))  # the same path as HTTP ingest
    previous: dict[str, Any] = {}
    last = time.monotonic()
    while not stop.is_set() and not done.is_set():
        stop.wait(0.25)
        now = time.monotonic()
        if now - last >= args.status_interval:
            try:
                sim_now = simulation_status(pace, settings.time_scale)
                line = status_line(processor, speed, previous, now - last, sim_now)
                line += f" | {history.describe()}" if history is not None else ""
                level = logging.WARNING if sim_now is not None and sim_now["behind"] else logging.INFO
                log.log(level, "%s%s", line, " | the simulation stopped (see above)" if failed.is_set() else "")
            except Exception:  # a status line is never worth the process
                log.exception("status line failed")
            last = now
    stop.set()
    log.info("stopping: closing the server, draining the bus and flushing the lake…")
    server.stop()
    if history is not None:
        history.stop()
    if mqtt is not None:  # first: what it acknowledged is on the bus, which the processor drains
        mqtt.stop()
    if gtfs_rt is not None:
        gtfs_rt.stop(timeout=15)
        log.info("GTFS-RT: %s", dict(gtfs_rt.counts))
    if not processor.stop(timeout=60):
        log.error("processor did not stop within 60 s; some lake rows may be unwritten")
    final = processor.accounting.snapshot()
    final |= {"store": store, "simulation": simulation_status(pace, settings.time_scale)}
    final["latency_ms_run"] = whole_run_latency(processor.accounting)
    print(json.dumps(final), flush=True)
    return 1 if failed.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
