"""Pipeline benchmark: prints one JSON document of figures measured in one run.

    python -m benchmarks.pipeline            # or: make bench

- ``simulation``: the city simulation alone (2,000 vehicles at 1 Hz by default): events/s
  flat out, and CPU seconds per simulated second (< 1.0 means real time on under one core).
- ``throughput``: events/s through bus -> validation -> speed layer -> Parquet lake, into a
  real ``redis-server`` and into the embedded store, all events drained and flushed; into Redis
  also the CPU per event on each side (this process; Redis, and its Lua script alone), which
  says which side is the limit.
- ``latency``: event -> speed-layer p50/p99/max at a fixed offered load (10,000 events/s), over
  every event of the run (``samples`` == ``events``), lake flushes included.
- ``redis_benchmark``: ``redis-benchmark -P 16 -t hset`` on the same Redis, the physical
  reference; ``throughput_vs_redis_hset`` is our events/s over its HSET ops/s.
- ``rules_cost``: the same throughput into Redis without rules and with 100 zones and 100 alert
  rules in the rule book (``rules_bench``: zones in a grid over the city, rules of every kind),
  in alternating order (with, without, without, with, ...: ``--rules-rounds`` pairs), so that
  neither side is the cold or the late one; each run's figures, each pair's ratio, and the
  ratio of the totals (``--no-rules``: skip).
- ``rules_profile`` (``--rules-profile``): the same batches through ``BatchProcessor`` in this
  thread under cProfile's CPU clock, without and with the rules (validation, speed layer and
  lake buffers included, no threads or bus): CPU microseconds per event each side, and the rule
  engine's own (``RuleEngine.evaluate``, cumulative). Less noisy than the throughput on a busy
  machine: it counts this process's CPU only.

A real redis-server is started on a free loopback port (and stopped) unless ``--redis-url``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import redis

from benchmarks import run
from pipeline import runtime
from pipeline.alerts import AlertLog
from pipeline.bus import InProcessBus
from pipeline.lake import LakeWriter, open_lake
from pipeline.processor import BatchProcessor, Processor
from pipeline.rulebook import RuleBook
from pipeline.rules import RuleEngine
from pipeline.schemas import STREAMS
from pipeline.speed_layer import SpeedLayer
from producers.simulation import CitySimulation, SimulationConfig

Message = tuple[str, bytes, bytes]


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "python": platform.python_version(), "os": platform.platform()}


def simulate(vehicles: int, seconds: int, start: datetime) -> tuple[dict[str, Any], list[Message]]:
    """Run the simulation flat out; returns its figures and the serialised events."""
    sim = CitySimulation(SimulationConfig(vehicles=vehicles, start=start, seed=7))
    for _ in range(5):  # warm-up: first steps place vehicles and plan routes
        sim.step(1.0)
    dumps = orjson.dumps
    out: list[Message] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(seconds):
        out.extend((stream, key.encode(), dumps(ev)) for stream, key, ev in sim.step(1.0))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    per_stream = {s: sum(1 for m in out if m[0] == s) for s in STREAMS}
    return {
        "vehicles": vehicles,
        "simulated_seconds": seconds,
        "events": len(out),
        "events_per_stream": per_stream,
        "events_per_s_flat_out": round(len(out) / wall),
        "cpu_s_per_simulated_s": round(cpu / seconds, 4),  # < 1: real time on under one core
    }, out


def processor_for(
    client: redis.Redis, lake_dir: str, rules: list[Message] | None = None
) -> tuple[InProcessBus, Processor]:
    """A processor into ``client``; with ``rules`` (the run's messages), also a rule book of 100
    zones and 100 rules over the city they cover, evaluated on every batch."""
    fs, root = open_lake(lake_dir)
    bus = InProcessBus(list(STREAMS), capacity=50_000)
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    engine = rules_bench(client, prefix, rules) if rules is not None else None
    batch = BatchProcessor(SpeedLayer(client, prefix), LakeWriter(fs, root), rules=engine)
    return bus, Processor(bus, batch)


def rules_bench(client: redis.Redis, prefix: str, messages: list[Message], zones: int = 100) -> RuleEngine:
    """A rule book of ``zones`` zones (a grid of squares over the vehicles' extent, each 60 % of
    its cell, so vehicles cross their edges) and 100 rules: 40 enter, 20 exit, 20 speed above
    40 km/h in a zone, 10 congestion (heavy for 2 minutes), 10 AQI above 100."""
    lats, lons = [], []
    for stream, _, value in messages[:20_000]:
        if stream == "vehicle_data":
            lat, lon = orjson.loads(value)["location"]
            lats.append(lat)
            lons.append(lon)
    south, north, west, east = min(lats), max(lats), min(lons), max(lons)
    side = round(zones**0.5)
    dlat, dlon = (north - south) / side, (east - west) / side
    book = RuleBook(client, prefix)
    ids = []
    for i in range(side * side):
        la, lo = south + (i // side + 0.2) * dlat, west + (i % side + 0.2) * dlon
        ring = [[lo, la], [lo + 0.6 * dlon, la], [lo + 0.6 * dlon, la + 0.6 * dlat], [lo, la + 0.6 * dlat], [lo, la]]
        feature = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                   "properties": {"name": f"zone {i}"}}  # fmt: skip
        ids.append(book.add_zone(feature)[0])
    for i in range(40):
        book.add_rule({"name": f"enter {i}", "kind": "zone_enter", "zone": ids[i % len(ids)]})
    for i in range(20):
        book.add_rule({"name": f"exit {i}", "kind": "zone_exit", "zone": ids[(40 + i) % len(ids)]})
    for i in range(20):
        book.add_rule(
            {"name": f"speed {i}", "kind": "speed_in_zone", "zone": ids[(60 + i) % len(ids)], "threshold": 40}
        )
    for i in range(10):
        book.add_rule({"name": f"jam {i}", "kind": "congestion", "threshold": 3, "minutes": 2})
    for i in range(10):
        book.add_rule({"name": f"smog {i}", "kind": "aqi", "threshold": 100 + i})
    return RuleEngine(book, AlertLog(client, prefix))


def redis_cpu(client: redis.Redis) -> tuple[float, float]:
    """Redis's CPU seconds so far, and the microseconds its Lua script calls took."""
    cpu = client.info("cpu")
    calls = client.info("commandstats").get("cmdstat_evalsha", {})
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), float(calls.get("usec", 0))


def throughput(client: redis.Redis, messages: list[Message], lake_dir: str, rules: bool = False) -> dict[str, Any]:
    """All messages offered as fast as possible; timed until drained and flushed (``rules``:
    with 100 zones and 100 rules evaluated on every batch)."""
    real = not isinstance(client, fakeredis.FakeRedis)
    bus, proc = processor_for(client, lake_dir, messages if rules else None)
    chunks: list[tuple[str, list[tuple[bytes | None, bytes]]]] = []  # grouped before the clock starts
    for i in range(0, len(messages), 1000):
        for stream in STREAMS:
            items: list[tuple[bytes | None, bytes]] = [(k, v) for s, k, v in messages[i : i + 1000] if s == stream]
            if items:
                chunks.append((stream, items))
    redis0 = redis_cpu(client) if real else (0.0, 0.0)
    proc.start()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for stream, items in chunks:
        bus.produce_many(stream, items, timeout=120)
    proc.stop(timeout=600)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    totals = proc.accounting.snapshot()["totals"]
    if totals["received"] != len(messages) or totals["lake_rows"] != totals["valid"]:
        raise RuntimeError(f"benchmark lost events: {totals} for {len(messages)} offered")
    n = len(messages)
    out = {"events": n, "seconds": round(elapsed, 2), "events_per_s": round(n / elapsed),
           "python_cpu_us_per_event": round(cpu / n * 1e6, 2)}  # fmt: skip
    if rules:
        acc = proc.accounting
        out.update(alerts=acc.alerts, rules_errors=acc.rules_errors)
    if real:  # the other side: Redis's CPU per event, and its script calls' share of it
        redis1 = redis_cpu(client)
        out["redis_cpu_us_per_event"] = round((redis1[0] - redis0[0]) / n * 1e6, 2)
        out["redis_lua_us_per_event"] = round((redis1[1] - redis0[1]) / n, 2)
    return out


def latency(client: redis.Redis, messages: list[Message], rate: int, seconds: float, lake_dir: str) -> dict[str, Any]:
    """Offer ``rate`` events/s in 10 ms slices for ``seconds``; event -> speed layer percentiles
    over every event (the lake flushing every 10 s meanwhile, on its own thread)."""
    bus, proc = processor_for(client, lake_dir)
    proc.start()
    per_tick = max(1, rate // 100)
    n = min(len(messages), int(rate * seconds))
    t0 = time.perf_counter()
    sent = 0
    while sent < n:
        due = t0 + sent / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        tick: dict[str, list[tuple[bytes | None, bytes]]] = {}
        for stream, key, value in messages[sent : sent + per_tick]:
            tick.setdefault(stream, []).append((key, value))
        for stream, items in tick.items():  # a slice's events at once, as a gateway hands them on
            bus.produce_many(stream, items, timeout=60)
        sent += per_tick
    offered_s = time.perf_counter() - t0
    proc.stop(timeout=600)
    lat = proc.accounting.latency_percentiles()
    return {
        "offered_events_per_s": rate,
        "achieved_offer_events_per_s": round(sent / offered_s),
        "events": sent,
        "samples": len(proc.accounting.latencies_ms),  # every event's latency, not the last few
        "lake_files": proc.batch.lake.files_written,
        "p50_ms": lat["p50"],
        "p99_ms": lat["p99"],
        "max_ms": lat["max"],
    }


def rules_cost(client: redis.Redis, messages: list[Message], workdir: Path, rounds: int) -> dict[str, Any]:
    """Throughput without and with 100 zones and 100 rules, ``rounds`` pairs run in ABBA order
    (with, without, without, with, ...) after the pipeline's own run, so a warm-up or a drift of
    the machine weighs on both sides alike."""
    runs: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    order = [side for r in range(rounds) for side in ((True, False) if r % 2 == 0 else (False, True))]
    for i, with_rules in enumerate(order):
        runs[with_rules].append(throughput(client, messages, str(workdir / f"lake-rules-{i}"), rules=with_rules))

    def rate(side: list[dict[str, Any]]) -> int:
        return round(sum(r["events"] for r in side) / sum(r["seconds"] for r in side))

    def mean(side: list[dict[str, Any]], key: str) -> float | None:
        values = [r[key] for r in side if key in r]
        return round(sum(values) / len(values), 2) if values else None

    without, with_ = rate(runs[False]), rate(runs[True])
    pairs = zip(runs[True], runs[False], strict=True)
    return {
        "zones": 100, "rules": 100, "order": ["with" if w else "without" for w in order],
        "events_per_s_without_rules": without, "events_per_s_with_rules": with_,
        "ratio": round(with_ / without, 3),  # of the totals: events over seconds, each side
        "pair_ratios": [round(w["events_per_s"] / o["events_per_s"], 3) for w, o in pairs],
        **{f"{key}_without_with": [mean(runs[False], key), mean(runs[True], key)]
           for key in ("python_cpu_us_per_event", "redis_cpu_us_per_event")},
        "runs_without_rules": runs[False],
        "runs_with_rules": runs[True],
    }  # fmt: skip


def rules_profile(client: redis.Redis, messages: list[Message], workdir: Path, batch: int = 5000) -> dict[str, Any]:
    """CPU microseconds per event through ``BatchProcessor`` (prepare and commit, in 5,000-event
    batches), without and with 100 zones and 100 rules, under cProfile's CPU clock."""
    import cProfile
    import pstats

    from pipeline.processor import RawEvent

    batches = [[RawEvent(s, v, "", 0.0) for s, _, v in messages[i : i + batch]] for i in range(0, len(messages), batch)]
    out: dict[str, Any] = {"events": len(messages), "batch": batch}
    for side, with_rules in (("without", False), ("with", True)):
        fs, root = open_lake(str(workdir / f"lake-profile-{side}"))
        prefix = f"prof{uuid.uuid4().hex[:6]}:"
        engine = rules_bench(client, prefix, messages) if with_rules else None
        proc = BatchProcessor(SpeedLayer(client, prefix), LakeWriter(fs, root), rules=engine)
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        for events in batches:
            proc.process(events)
        profile.disable()
        stats: Any = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        total = sum(tt for _, _, tt, _, _ in stats.values())
        out[f"cpu_us_per_event_{side}_rules"] = round(total / len(messages) * 1e6, 2)
        if with_rules:
            engine_s = max((ct for (_, _, name), (_, _, _, ct, _) in stats.items() if name == "evaluate"), default=0.0)
            out["rule_engine_cpu_us_per_event"] = round(engine_s / len(messages) * 1e6, 2)
            out["alerts"] = proc.accounting.alerts
    out["ratio"] = round(out["cpu_us_per_event_without_rules"] / out["cpu_us_per_event_with_rules"], 3)
    return out


def redis_benchmark(port: int) -> dict[str, Any]:
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return {"error": "redis-benchmark not installed (apt install redis-tools)"}
    cmd = [binary, "-h", "127.0.0.1", "-p", str(port), "-P", "16", "-t", "hset", "-n", "400000", "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    match = re.search(r"HSET: ([\d.]+) requests per second", out.replace("\r", "\n"))
    return {"command": " ".join(cmd[1:]), "hset_ops_per_s": round(float(match.group(1))) if match else None}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=2000)
    p.add_argument("--seconds", type=int, default=90, help="simulated seconds of events to generate")
    p.add_argument("--latency-rate", type=int, default=10_000)
    p.add_argument("--latency-seconds", type=float, default=30.0)
    p.add_argument("--embedded-events", type=int, default=60_000, help="events for the embedded-store run")
    p.add_argument("--redis-url", help="use this Redis instead of starting one")
    p.add_argument("--no-rules", action="store_true", help="skip the runs with 100 zones and 100 rules")
    p.add_argument("--rules-rounds", type=int, default=2, help="pairs of runs without / with rules (ABBA order)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency run")
    p.add_argument(
        "--rules-profile", action="store_true", help="also the CPU per event with and without rules, profiled"
    )
    args = p.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.services import RedisServer  # the same launcher the tests use

    runtime.tune_interpreter()  # as app/main.py does
    workdir = Path(tempfile.mkdtemp(prefix="smartcity-bench-"))
    server = None
    if args.redis_url:
        client = redis.Redis.from_url(args.redis_url)
        port = client.connection_pool.connection_kwargs.get("port", 6379)
    else:
        server = RedisServer(workdir / "redis")
        server.start()
        client, port = redis.Redis(host="127.0.0.1", port=server.port), server.port
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=args.seconds + 60)
        sim_figures, messages = simulate(args.vehicles, args.seconds, start)
        result: dict[str, Any] = {
            "benchmark": "pipeline",
            "machine": machine(),
            "redis_server": client.info("server").get("redis_version"),
            "simulation": sim_figures,
        }
        result["redis_benchmark"] = redis_benchmark(port)
        result["throughput_redis"] = throughput(client, messages, str(workdir / "lake-redis"))
        subset = messages[: args.embedded_events]
        result["throughput_embedded"] = throughput(fakeredis.FakeRedis(), subset, str(workdir / "lake-embedded"))
        if not args.no_rules:
            result["rules_cost"] = rules_cost(client, messages, workdir, max(1, args.rules_rounds))
            if args.rules_profile:
                result["rules_profile"] = rules_profile(client, messages, workdir)
        if not args.no_latency:
            result["latency_redis"] = latency(
                client, messages, args.latency_rate, args.latency_seconds, str(workdir / "lake-latency")
            )
        hset = result["redis_benchmark"].get("hset_ops_per_s")
        if hset:
            result["throughput_vs_redis_hset"] = round(result["throughput_redis"]["events_per_s"] / hset, 3)
        result["targets"] = {
            "throughput_redis_events_per_s>=100000": result["throughput_redis"]["events_per_s"] >= 100_000,
            "throughput_vs_redis_hset>=0.065": result.get("throughput_vs_redis_hset", 0) >= 0.065,
            "simulation_2000_vehicles_under_one_core": sim_figures["cpu_s_per_simulated_s"] < 1.0,
        }
        if "latency_redis" in result:
            lat = result["latency_redis"]
            result["targets"][f"latency_p99_ms<=50_at_{args.latency_rate}_per_s_every_sample"] = (
                lat["p99_ms"] or 1e9
            ) <= 50 and lat["samples"] == lat["events"]
        if "rules_cost" in result:
            result["targets"]["rules_cost<=10%_with_100_zones_100_rules"] = result["rules_cost"]["ratio"] >= 0.9
        print(json.dumps(result, indent=2))
    finally:
        client.close()
        if server:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    run(main)
