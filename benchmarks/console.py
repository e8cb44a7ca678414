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
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from benchmarks import run
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator

TOKEN = "bench-viewer"
HEAD = re.compile(r'\{"type":"delta","event_ms":(\d+),"oldest_ms":(\d+),"ts":(\d+)')
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
    errors = [0]
    lock = threading.Lock()
    per_worker = rate / workers
    t0 = time.perf_counter() + 0.2

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while True:
            due = t0 + (n + k / workers) / per_worker
            if due - t0 > seconds:
                break
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
    return {"path": path, "offered_per_s": rate, "seconds": seconds, "errors": errors[0], **percentiles(latencies)}


def start_clients(
    client: Callable[[], None], n: int, settled: threading.Semaphore, timeout: float
) -> list[threading.Thread]:
    """``n`` threads running ``client``; returns once each has released ``settled`` (connected,
    or failed to) or ``timeout`` passed for it."""
    threads = [threading.Thread(target=client, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for _ in range(n):
        settled.acquire(timeout=timeout)
    return threads


def ws_fanout(
    port: int, speed: SpeedLayer, clients: int, seconds: float, vehicles: int, encoding: str
) -> dict[str, Any]:
    delays: list[float] = []  # the oldest vehicle event in a delta -> client
    newest: list[float] = []  # the newest vehicle event in a delta -> client
    built: dict[int, int] = {}  # event_ms -> when the server built its delta
    received: list[float] = []  # client receipt after the server built the delta
    writes: dict[int, float] = {}  # event_ms -> when the speed-layer write returned
    lock = threading.Lock()
    stop = threading.Event()
    settled = threading.Semaphore(0)  # one release per client: connected or failed
    failures: list[str] = []

    def client() -> None:
        url = f"ws://127.0.0.1:{port}/ws/realtime?token={TOKEN}&encoding={encoding}"
        connected = False
        try:
            with connect(url, max_size=None, compression=None) as ws:
                ws.recv(timeout=60)  # the snapshot
                connected = True
                settled.release()
                while not stop.is_set():
                    try:
                        data = ws.recv(timeout=2, decode=False)  # bytes: no UTF-8 check of 361 KB
                    except TimeoutError:
                        continue
                    # the head names the oldest and newest vehicle event (stamped just before its write)
                    # and when the server built the message: reading only the head keeps 200
                    # clients' parsing and decoding, on this same machine, out of the figures
                    if encoding == "gzip":
                        data = zlib.decompressobj(wbits=31).decompress(data, 120)
                    head = HEAD.match(data[:120].decode("utf-8", "replace"))
                    if head:
                        now_ms = time.time() * 1000
                        event_ms, oldest_ms, ts = (int(g) for g in head.groups())
                        with lock:
                            delays.append(now_ms - oldest_ms)
                            newest.append(now_ms - event_ms)
                            received.append(now_ms - ts)
                            built[event_ms] = ts
        except Exception as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}" + ("" if connected else " (connecting)"))
            if not connected:
                settled.release()

    threads = start_clients(client, clients, settled, 180)
    http_result: dict[str, Any] = {}
    load = threading.Thread(
        target=lambda: http_result.update(http_load(port, "/api/analytics/summary", 20, seconds, workers=2))
    )
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
    stop.set()
    for t in threads:
        t.join(5)
    return {
        "clients": clients,
        "encoding": encoding,
        "client_failures": len(failures),
        "first_failures": failures[:3],
        "vehicles_moving_per_s": vehicles,
        "event_to_client_delivery": percentiles(delays),  # for every vehicle in the delta
        "newest_event_to_client": percentiles(newest),
        "stages": {  # where the delivery time goes
            "speed_layer_write": percentiles([w - e for e, w in writes.items()]),
            "write_to_delta_built": percentiles([built[e] - w for e, w in writes.items() if e in built]),
            "delta_built_to_client": percentiles(received),
        },
        "console_http_meanwhile": http_result,
    }


def shutdown(server: Any, clients: int) -> dict[str, Any]:
    """SIGTERM the server with ``clients`` sockets open; seconds until all were closed and
    until the process exited."""
    port = server.port
    closed: list[float] = []
    codes: list[int | None] = []
    lock = threading.Lock()
    ready = threading.Semaphore(0)

    def client() -> None:
        try:
            with connect(f"ws://127.0.0.1:{port}/ws/realtime?token={TOKEN}", max_size=None) as ws:
                ws.recv(timeout=60)  # the snapshot
                ready.release()
                try:
                    while True:
                        ws.recv(timeout=60)
                except ConnectionClosed as exc:
                    with lock:
                        closed.append(time.monotonic())
                        codes.append(exc.rcvd.code if exc.rcvd else None)
        except Exception:
            ready.release()

    threads = start_clients(client, clients, ready, 120)
    proc = server.proc
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    exited = time.monotonic() - start
    for t in threads:
        t.join(10)
    return {
        "clients": clients,
        "clients_closed": len(closed),
        "close_codes": sorted(set(c for c in codes if c is not None)),
        "all_sockets_closed_s": round(max(closed) - start, 2) if len(closed) == clients else None,
        "process_exited_s": round(exited, 2),
        "exit_code": proc.returncode,
    }


@contextlib.contextmanager
def console_server(vehicles: int, **settings: str) -> Iterator[tuple[SpeedLayer, Any]]:
    """A real redis-server holding ``vehicles`` and the production server reading it:
    (the speed layer, to move them; the server, with its ``port``). Both stop on exit."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.services import Gunicorn, RedisServer

    work = Path(tempfile.mkdtemp(prefix="smartcity-console-bench-"))
    with RedisServer(work / "redis") as rs:
        speed = SpeedLayer(redis.Redis(host="127.0.0.1", port=rs.port), "bench:")
        speed.write(fleet(vehicles, datetime.now(UTC), 0))
        env = {"SMARTCITY_REDIS_URL": rs.url, "SMARTCITY_REDIS_PREFIX": "bench:",
               "SMARTCITY_API_TOKENS": f"viewer:{TOKEN}", "SMARTCITY_LAKE_URI": str(work / "lake"),
               **{f"SMARTCITY_{k.upper()}": v for k, v in settings.items()}}  # fmt: skip
        os.environ.update(env)  # inherited by the server process
        with Gunicorn(work / "gunicorn") as server:
            yield speed, server


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.console", description=__doc__.split("\n")[0])
    p.add_argument("--vehicles", type=int, default=5000)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--clients", type=int, default=200)
    args = p.parse_args(argv)
    from benchmarks.pipeline import machine

    with console_server(args.vehicles) as (speed, server):
        port = server.port
        # a freshly started worker's first seconds (first reads, lazy imports) are not its steady state
        http_load(port, "/api/vehicles/locations", args.rate, 3)
        south, west, north, east = BBOX
        viewport = f"{south},{west},{(south + north) / 2},{(west + east) / 2}"
        result = {
            "benchmark": "console",
            "machine": machine(),
            "server": "gunicorn -k gevent, 1 worker",
            "vehicles_in_speed_layer": args.vehicles,
            "api": [
                http_load(port, "/api/vehicles/locations", args.rate, args.seconds),
                http_load(port, f"/api/vehicles/locations?bbox={viewport}", args.rate, args.seconds),
                http_load(port, "/api/vehicles/locations?limit=100", args.rate, args.seconds),
            ],
            "websocket": [
                ws_fanout(port, speed, args.clients, args.seconds, args.vehicles, encoding)
                for encoding in ("gzip", "text")
            ],
            "shutdown": shutdown(server, args.clients),  # last: it stops the server
        }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    run(main)
