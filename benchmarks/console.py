"""Console server benchmark: prints one JSON document.

    python -m benchmarks.console

Starts a real ``redis-server`` and the documented production server (gunicorn, gevent
workers) on loopback, puts 5,000 vehicles in the speed layer and measures:

- ``api``: ``GET /api/vehicles/locations`` latency p50/p99 at a fixed offered rate
  (200 requests/s), for the default page (limit 1000) and a map viewport (bbox), after 3 s
  of the same load to warm the server up (not counted);
- ``websocket``: delivery latency of pushed deltas to N clients while all 5,000 vehicles
  move once a second, and console HTTP latency measured at the same time;
- ``shutdown``: SIGTERM to the server with N sockets open: until every client has its close
  frame, and until the process has exited (the lake is flushed and nothing is left waiting).

The load generator runs on the same 2-core machine as the server: figures include its cost.
Its WebSocket clients are asyncio (``benchmarks.wsclients``: one event loop per process,
``--loadgen-processes``), and each WebSocket figure reports their CPU time over the measured
window (``loadgen_cpu_s``) and how late their event loops ran (``loadgen_loop_lag``): a late
loop stamps arrivals late, so a high lag says the load generator, not the server, set the
figure. ``--workers N`` runs N gevent workers (each with its own push hub).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from benchmarks import run, wsclients
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator

TOKEN = "bench-viewer"
BBOX = (52.424, 13.512, 52.455, 13.549)  # the Berlin network's extent


def fleet(n: int, t: datetime, step: int) -> list[tuple[str, dict[str, Any]]]:
    validator, out = Validator(), []
    south, west, north, east = BBOX
    for i in range(n):
        lat = south + (north - south) * ((i * 7919 + step * 13) % 1000) / 1000
        lon = west + (east - west) * ((i * 104729 + step * 31) % 1000) / 1000
        event = {"device_id": f"car-{i:05d}", "timestamp": t.isoformat(), "location": [lat, lon],
                 "speed": 30.0 + i % 20, "vehicle_type": ("car", "bus", "taxi")[i % 3]}  # fmt: skip
        rec = validator.validate("vehicle_data", event, now=t + timedelta(minutes=1))
        assert isinstance(rec, dict), rec
        out.append(("vehicle_data", rec))
    return out


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "n": 0}
    s = sorted(samples)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(len(s) * q))], 2)

    return {"p50_ms": at(0.5), "p95_ms": at(0.95), "p99_ms": at(0.99), "n": len(s)}


def http_load(port: int, path: str, rate: float, seconds: float, workers: int = 8) -> dict[str, Any]:
    """Open-loop-ish load: each worker sends on its own schedule, keep-alive connections."""
    latencies: list[float] = []
    errors, sent = [0], [0]
    lock = threading.Lock()
    per_worker = rate / workers
    t0 = time.perf_counter() + 0.2

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while True:
            due = t0 + (n + k / workers) / per_worker
            if due - t0 > seconds or time.perf_counter() - t0 > seconds:  # a server that never
                break  # answers (each try waits out the timeout) must not hold the benchmark for ever
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            start = time.perf_counter()  # from the scheduled time would include our own queueing
            try:
                conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            with lock:
                sent[0] += 1
                if ok:
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    errors[0] += 1
            n += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"path": path, "offered_per_s": rate, "seconds": seconds, "sent": sent[0], "errors": errors[0],
            **percentiles(latencies)}  # fmt: skip


def ws_fanout(
    port: int, speed: SpeedLayer, clients: int, seconds: float, vehicles: int, encoding: str, processes: int = 1
) -> dict[str, Any]:
    writes: dict[int, float] = {}  # event_ms -> when the speed-layer write returned
    url = f"ws://127.0.0.1:{port}/ws/realtime?token={TOKEN}&encoding={encoding}"
    with wsclients.clients(url, encoding, clients, processes) as fanout:
        http_result: dict[str, Any] = {}
        load = threading.Thread(
            target=lambda: http_result.update(http_load(port, "/api/analytics/summary", 20, seconds, workers=2))
        )
        cpu, load_before = time.process_time(), os.getloadavg()[0]
        load.start()
        step = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            tick = time.monotonic()
            records = fleet(vehicles, datetime.now(UTC), step)
            now = datetime.now(UTC)  # event time = when the batch reaches the speed-layer write
            for _, record in records:
                record["event_time"] = now
            speed.write(records)
            writes[int(now.timestamp() * 1000)] = time.time() * 1000
            step += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        load.join()
        cpu = time.process_time() - cpu
        reports = fanout.stop()
    samples = [s for r in reports for s in r["samples"]]
    failures = [f for r in reports for f in r["failures"]]
    built = {event_ms: ts for _, event_ms, _, ts in samples}  # event_ms -> when the server built its delta
    return {
        "clients": clients,
        "encoding": encoding,
        "clients_connected": fanout.connected,
        "client_failures": len(failures),
        "first_failures": failures[:3],
        "vehicles_moving_per_s": vehicles,
        "messages_received": sum(r["messages"] for r in reports),
        "event_to_client_delivery": percentiles([now - oldest for now, _, oldest, _ in samples]),  # every vehicle
        "newest_event_to_client": percentiles([now - event for now, event, _, _ in samples]),
        "stages": {  # where the delivery time goes
            "speed_layer_write": percentiles([w - e for e, w in writes.items()]),
            "write_to_delta_built": percentiles([built[e] - w for e, w in writes.items() if e in built]),
            "delta_built_to_client": percentiles([now - ts for now, _, _, ts in samples]),
        },
        "console_http_meanwhile": http_result,
        # the load generator shares the machine: its CPU over the measured window, and how late its
        # event loops ran (late loops stamp arrivals late); the writer is this process
        "loadgen_processes": processes,
        "loadgen_cpu_s": round(sum(r["cpu_s"] for r in reports), 2),
        "loadgen_loop_lag": percentiles([lag for r in reports for lag in r["loop_lag_ms"]]),
        "loadgen_distinct_messages": sum(r["distinct_messages"] for r in reports),
        "writer_cpu_s": round(cpu, 2),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def shutdown(server: Any, clients: int, processes: int = 1) -> dict[str, Any]:
    """SIGTERM the server with ``clients`` sockets open; seconds until all were closed and
    until the process exited."""
    url = f"ws://127.0.0.1:{server.port}/ws/realtime?token={TOKEN}"
    with wsclients.clients(url, "text", clients, processes, connect_timeout=120) as fanout:
        proc = server.proc
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        exited = time.monotonic() - start
        time.sleep(0.5)  # a close frame the clients' loops have not yet read
        reports = fanout.stop()
    closed = [c for r in reports for c in r["closed"]]
    return {
        "clients": clients,
        "clients_connected": fanout.connected,
        "clients_closed": len(closed),
        "close_codes": sorted(set(code for _, code in closed if code is not None)),
        "all_sockets_closed_s": round(max(t for t, _ in closed) - start, 2) if len(closed) == clients else None,
        "process_exited_s": round(exited, 2),
        "exit_code": proc.returncode,
    }


@contextlib.contextmanager
def console_server(
    vehicles: int, workers: int = 1, connections: int | None = None, **settings: str
) -> Iterator[tuple[SpeedLayer, Any]]:
    """A real redis-server holding ``vehicles`` and the production server (``workers`` gevent
    workers; ``connections`` per worker, else ``app/gunicorn_conf.py``'s) reading it: (the speed
    layer, to move them; the server, with its ``port``). Both stop on exit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.services import Gunicorn, RedisServer

    work = Path(tempfile.mkdtemp(prefix="smartcity-console-bench-"))
    with RedisServer(work / "redis") as rs:
        speed = SpeedLayer(redis.Redis(host="127.0.0.1", port=rs.port), "bench:")
        speed.write(fleet(vehicles, datetime.now(UTC), 0))
        env = {"SMARTCITY_REDIS_URL": rs.url, "SMARTCITY_REDIS_PREFIX": "bench:",
               "SMARTCITY_API_TOKENS": f"viewer:{TOKEN}", "SMARTCITY_LAKE_URI": str(work / "lake"),
               "SMARTCITY_SECRET_KEY": "bench-secret",  # one session key for every worker
               **{f"SMARTCITY_{k.upper()}": v for k, v in settings.items()}}  # fmt: skip
        os.environ.update(env)  # inherited by the server process
        flags = ["--workers", str(workers)] + (
            [] if connections is None else ["--worker-connections", str(connections)]
        )
        with Gunicorn(work / "gunicorn", None, None, *flags) as server:
            yield speed, server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.console", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=5000)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--workers", type=int, default=1, help="gunicorn gevent workers (default 1)")
    p.add_argument("--worker-connections", type=int, help="connections per worker (default: app/gunicorn_conf.py's)")
    p.add_argument(
        "--loadgen-processes",
        type=int,
        default=1,
        help="processes the WebSocket clients are spread over, one event loop each (default 1)",
    )
    args = p.parse_args(argv)
    from benchmarks.pipeline import machine

    with console_server(args.vehicles, args.workers, args.worker_connections) as (speed, server):
        port = server.port
        # a freshly started worker's first seconds (first reads, lazy imports) are not its steady state
        http_load(port, "/api/vehicles/locations", args.rate, 3)
        south, west, north, east = BBOX
        viewport = f"{south},{west},{(south + north) / 2},{(west + east) / 2}"
        result = {
            "benchmark": "console",
            "machine": machine(),
            "server": f"gunicorn -k gevent, {args.workers} worker{'s' if args.workers > 1 else ''}"
            + ("" if args.worker_connections is None else f", {args.worker_connections} connections each"),
            "vehicles_in_speed_layer": args.vehicles,
            "api": [
                http_load(port, "/api/vehicles/locations", args.rate, args.seconds),
                http_load(port, f"/api/vehicles/locations?bbox={viewport}", args.rate, args.seconds),
                http_load(port, "/api/vehicles/locations?limit=100", args.rate, args.seconds),
            ],
            "websocket": [
                ws_fanout(port, speed, args.clients, args.seconds, args.vehicles, encoding, args.loadgen_processes)
                for encoding in ("gzip", "text")
            ],
            "shutdown": shutdown(server, args.clients, args.loadgen_processes),  # last: it stops the server
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    run(main)
