"""MQTT ingest benchmark: prints one JSON document of figures measured in one run.

    python -m benchmarks.mqtt

A real ``mosquitto`` and a real ``redis-server`` are started on free loopback ports (and stopped).
The devices are one ``mosquitto_pub -q 1 -l`` (a gateway publishing GPS events of 2,000 vehicles,
each stamped with the wall time when written to it). The broker saves its database every
``--save-every`` changes (a crash loses at most that many); its own rate when saving on every
change, as the restart test runs it, is measured apart.

- ``mosquitto_alone``: the broker's own rate, the same publisher -> mosquitto -> a bare paho subscriber
  (QoS 1, paho's automatic acknowledgements), nothing else: the ceiling for what follows.
- ``flat_out``: as many messages as the publisher can send, through the MQTT bridge (manual
  acknowledgements after the bus took each one) -> in-process bus -> processor -> Redis + lake:
  messages/s into the speed layer, first to last write.
- ``paced``: a fixed offered rate (default 5,000/s) for a while: messages/s sustained into the
  speed layer and publish -> speed-layer latency, p50/p99/max over every message (each sample
  kept; ``--samples FILE`` writes them). A message's latency is taken when the speed-layer call
  holding it returns (the last call of its batch: an upper bound).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks import run
from benchmarks.pipeline import machine
from pipeline import runtime
from pipeline.speed_layer import SpeedLayer


def devices(port: int, prefix: str, count: int, rate: float = 0.0) -> Callable[[], dict[str, Any]]:
    """The devices: ``count`` GPS events of 2,000 vehicles, stamped with the wall time when written,
    ``rate`` per second (0 = flat out), QoS 1, published by mosquitto's own C client
    (``mosquitto_pub -l``, one message per line, as a gateway on ``prefix/gps_data/gateway-1``):
    a Python publisher (paho) tops out near 5,000 acknowledged messages/s on this machine, below
    what is measured here. Returns a function that waits until it has sent and got every PUBACK."""
    binary = shutil.which("mosquitto_pub")
    if binary is None:
        raise SystemExit("mosquitto_pub is not installed: apt install mosquitto-clients")
    cmd = [binary, "-h", "127.0.0.1", "-p", str(port), "-t", f"{prefix}/gps_data/gateway-1", "-q", "1", "-l",
           "-i", f"bench-devices-{prefix}"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    figures: dict[str, Any] = {"messages": count, "publisher": "mosquitto_pub -q 1 -l"}

    def write() -> None:
        assert proc.stdin is not None
        t0 = time.perf_counter()
        step = max(1, int(rate / 1000)) if rate else 500  # lines per write: 1 ms of the offered rate
        for i in range(0, count, step):
            if rate:
                wait = t0 + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            stamp = datetime.now(UTC).isoformat()
            proc.stdin.write(b"".join(
                b'{"device_id":"car-%d","timestamp":"%s","location":[52.44,13.52],"speed":30.0}\n'
                % (j % 2000, stamp.encode()) for j in range(i, min(count, i + step))
            ))  # fmt: skip
        proc.stdin.close()
        figures["written_per_s"] = round(count / (time.perf_counter() - t0))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()

    def result() -> dict[str, Any]:
        writer.join()
        proc.wait(600)
        return figures

    return result


def mosquitto_alone(port: int, count: int) -> dict[str, Any]:
    """Publisher -> mosquitto -> a bare subscriber; the subscriber's receive rate."""
    times: list[float] = []

    def on_message(*_: Any) -> None:
        times.append(time.perf_counter())

    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-bare", protocol=mqtt.MQTTv5)
    sub.on_message = on_message
    sub.connect("127.0.0.1", port)
    sub.subscribe("bare/#", qos=1)
    sub.loop_start()
    time.sleep(0.5)
    result = devices(port, "bare", count)
    publisher = result()
    settle(lambda: len(times), count)
    sub.disconnect()
    sub.loop_stop()
    return {"received": len(times), "messages_per_s": rate(times), "publisher": publisher}


def settle(progress: Callable[[], int], count: int, quiet_s: float = 10.0) -> None:
    """Wait until ``progress()`` reaches ``count``, or stops moving for ``quiet_s``."""
    last, since = -1, time.monotonic()
    while (now := progress()) < count and time.monotonic() - since < quiet_s:
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.05)


def rate(times: Sequence[float]) -> int | None:
    return round((len(times) - 1) / (times[-1] - times[0])) if len(times) > 1 and times[-1] > times[0] else None


def percentiles(samples: list[float]) -> dict[str, float | None]:
    ordered = sorted(samples)
    if not ordered:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50_ms": pick(0.5), "p99_ms": pick(0.99), "max_ms": round(ordered[-1] * 1000, 1)}


class Timing:
    """Wraps a speed layer: every applied message's publish -> applied latency, and when."""

    def __init__(self, speed: SpeedLayer) -> None:
        self.latencies: list[float] = []
        self.applied_at: list[tuple[float, int]] = []  # (perf_counter, messages) per call
        self._times: dict[int, list[float]] = {}
        encode, apply = speed.encode, speed.apply

        def timed_encode(records: Any, dead: Any = ()) -> Any:
            chunks = encode(records, dead)
            if chunks:  # the last call carries the batch's times: applied last, an upper bound
                self._times[id(chunks[-1])] = [r["event_time"].timestamp() for _, r in records]
            return chunks

        def timed_apply(chunk: Any) -> Any:
            out = apply(chunk)
            now, times = time.time(), self._times.pop(id(chunk), [])
            self.latencies.extend(now - t for t in times)
            self.applied_at.append((time.perf_counter(), chunk.events))
            return out

        speed.encode = timed_encode  # type: ignore[method-assign,assignment]
        speed.apply = timed_apply  # type: ignore[method-assign]

    def rate(self) -> int | None:
        """Messages/s into the speed layer, from the first write to the last."""
        if len(self.applied_at) < 2:
            return None
        first, last = self.applied_at[0][0], self.applied_at[-1][0]
        return round(sum(n for _, n in self.applied_at[1:]) / (last - first)) if last > first else None


def through_platform(port: int, client: redis.Redis, workdir: Path, name: str, count: int, offered: float) -> Any:
    """Publisher -> mosquitto -> bridge -> bus -> processor -> Redis + lake."""
    from tests.mqtt import Platform, mqtt_settings

    settings = mqtt_settings(workdir / f"lake-{name}", f"mqtt://127.0.0.1:{port}", name)
    platform = Platform(settings, client)
    timing = Timing(platform.processor.batch.speed_layer)
    platform.start()
    result = devices(port, f"city-{name}", count, offered)
    publisher = result()
    settle(lambda: len(timing.latencies), count)
    totals = platform.stop()["totals"]
    figures = {
        "messages": count,
        "offered_per_s": offered or "flat out",
        "publisher": publisher,
        "speed_layer_messages_per_s": timing.rate(),
        **percentiles(timing.latencies),
        "samples": len(timing.latencies),
        "accounting": {k: totals[k] for k in ("received", "valid", "dead_letters", "speed_layer", "lake_rows")},
    }
    return figures, timing.latencies


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mqtt", description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=50_000, help="messages of each flat-out run")
    p.add_argument("--rate", type=float, default=5000, help="offered messages/s of the paced run")
    p.add_argument("--seconds", type=float, default=30, help="length of the paced run")
    p.add_argument(
        "--save-every",
        type=int,
        default=10_000,
        help="mosquitto's autosave_interval (changes between saves) for the runs through the platform",
    )
    p.add_argument(
        "--durable-messages",
        type=int,
        default=10_000,
        help="messages through a mosquitto that saves on every change (its own rate only)",
    )
    p.add_argument("--samples", help="write every latency sample of the paced run (s, JSON list) here")
    args = p.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.services import MosquittoServer, RedisServer  # the launchers the tests use

    runtime.tune_interpreter()  # as app/main.py does
    workdir = Path(tempfile.mkdtemp(prefix="smartcity-bench-mqtt-"))
    durable = MosquittoServer(workdir / "mosquitto-durable")  # saves on every change, as the tests run it
    broker = MosquittoServer(workdir / "mosquitto", save_every=args.save_every)
    server = RedisServer(workdir / "redis")
    broker.start()
    server.start()
    client = redis.Redis(host="127.0.0.1", port=server.port)
    try:
        usage = subprocess.run([broker.command()[0], "-h"], capture_output=True, text=True, timeout=10).stdout
        version = usage.split("mosquitto version ")[-1].split()[0] if "mosquitto version" in usage else None
        result: dict[str, Any] = {
            "benchmark": "mqtt",
            "machine": machine(),
            "mosquitto": version,
            "redis_server": client.info("server").get("redis_version"),
            "paho_mqtt": importlib.metadata.version("paho-mqtt"),
        }
        result["mosquitto_save_every"] = args.save_every
        result["mosquitto_alone"] = mosquitto_alone(broker.port, args.messages)
        with durable:
            result["mosquitto_alone_saving_every_change"] = mosquitto_alone(durable.port, args.durable_messages)
        result["flat_out"], _ = through_platform(broker.port, client, workdir, "flat", args.messages, 0)
        paced = int(args.rate * args.seconds)
        result["paced"], samples = through_platform(broker.port, client, workdir, "paced", paced, args.rate)
        if args.samples:
            Path(args.samples).write_text(json.dumps(samples))
        flat, sustained = (
            result["flat_out"]["speed_layer_messages_per_s"] or 0,
            result["paced"]["speed_layer_messages_per_s"] or 0,
        )
        result["targets"] = {
            "flat_out_into_speed_layer_per_s>=5000": flat >= 5000,
            f"paced_{args.rate:.0f}_per_s_kept_up": sustained >= 0.98 * args.rate,
        }
        print(json.dumps(result, indent=2))
    finally:
        client.close()
        server.stop()
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run(main)
