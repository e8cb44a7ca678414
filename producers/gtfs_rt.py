"""GTFS-Realtime in: transit agencies' VehiclePositions feeds, polled into the city.

Each vehicle of a feed becomes a ``gps_data`` event in the wire format, sent to a sink with the
same signature as the server's ingest (``topic, [(key, value), …]``): the in-process bus in the
demo, Kafka elsewhere, so the events meet the same validation, speed layer and lake as any other.
A feed that did not change answers 304 to ``If-None-Match``/``If-Modified-Since`` and costs nothing;
a vehicle report already sent (same vehicle, same timestamp) is not sent again. Failures (a feed
down, a body that is no FeedMessage, a bus that refuses) are counted, logged when a feed's state
changes, and never end the polling thread.

Without the demo (the distributed mode), ``python -m producers.gtfs_rt`` polls the feeds into
Kafka, or to JSON lines::

    python -m producers.gtfs_rt https://agency.example/vehicle-positions.pb --kafka 127.0.0.1:9092
    python -m producers.gtfs_rt --once --output -      # the feeds of SMARTCITY_GTFS_RT_URLS, once, to stdout
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import orjson
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2

from pipeline.exceptions import KafkaUnavailable
from pipeline.schemas import MAX_SPEED_KMH
from pipeline.settings import Settings
from producers import sinks
from producers.kafka import KafkaSink

log = logging.getLogger("producers.gtfs_rt")  # the same name when run as python -m

Sink = Callable[[str, Sequence[tuple[bytes | None, bytes]]], None]
Fetch = Callable[[str, str | None, str | None, float], "Fetched"]

# GTFS-RT carries no route type (that is in the static GTFS's routes.txt), and the city's vehicle
# types have no tram or train: every feed vehicle is a bus, so it shows and leaves by the bus rules
VEHICLE_TYPE = "bus"
MAX_FEED_BYTES = 64 << 20  # a city's whole fleet is a few hundred KiB
BATCH = 1000  # events per sink call
FORGET_S = 3600  # a vehicle silent this long (in feed time) is forgotten: its next report is new
_IDS = uuid.UUID("5b7f0c1e-6a51-4d0e-9a2c-6f1b3e8d2a47")  # namespace of the events' ids
_EARTH_M = 6_371_000.0


class FeedError(Exception):
    """A feed could not be read: ``kind`` says how (the state logged on change), the text says more."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class Fetched:
    """One answer of a feed: 200 with a body, or 304 (nothing new)."""

    status: int
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None


def describe(url: str) -> str:
    """``url`` without its query, user or password: agencies put API keys there."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def fetch(url: str, etag: str | None, last_modified: str | None, timeout: float) -> Fetched:
    """GET ``url`` conditionally; raises ``FeedError`` when there is no feed to read."""
    headers = {"Accept": "application/x-protobuf, application/octet-stream;q=0.9, */*;q=0.1"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with urlopen(Request(url, headers=headers), timeout=timeout) as resp:  # the operator's URL, any scheme
            body = resp.read(MAX_FEED_BYTES + 1)
            if len(body) > MAX_FEED_BYTES:
                raise FeedError("too large", f"over {MAX_FEED_BYTES >> 20} MiB")
            return Fetched(200, body, resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
    except HTTPError as exc:
        if exc.code == 304:
            return Fetched(304, etag=etag, last_modified=last_modified)
        raise FeedError(f"HTTP {exc.code}", str(exc.reason)) from None
    except (URLError, OSError) as exc:  # refused, unresolvable, timed out, reset
        raise FeedError("unreachable", str(getattr(exc, "reason", exc))) from None


def parse(body: bytes) -> gtfs_realtime_pb2.FeedMessage:
    feed = gtfs_realtime_pb2.FeedMessage()
    try:
        feed.ParseFromString(body)
    except DecodeError as exc:
        raise FeedError("not a FeedMessage", str(exc)) from None
    if not feed.header.gtfs_realtime_version:  # required; protobuf reads most bytes as *something*
        raise FeedError("not a FeedMessage", "no header.gtfs_realtime_version")
    return feed


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_M * math.asin(math.sqrt(min(1.0, a)))


@dataclass
class _Seen:
    ts: int  # epoch seconds of the last report sent
    lat: float
    lon: float


@dataclass
class _Feed:
    url: str
    etag: str | None = None
    last_modified: str | None = None
    state: str = "new"  # "ok", or the kind of its latest failure


class Poller:
    """Polls GTFS-RT VehiclePositions feeds and sends their vehicles to ``sink`` on ``topic``."""

    def __init__(
        self,
        urls: Iterable[str],
        sink: Sink,
        topic: str = "gps_data",
        interval_s: float = 15.0,
        timeout_s: float = 10.0,
        fetcher: Fetch = fetch,
    ) -> None:
        self.feeds = [_Feed(url) for url in urls]
        self.sink, self.topic = sink, topic
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.fetch = fetcher
        # polls, not_modified, failures, events, duplicates, no_position, speed_estimated
        self.counts: Counter[str] = Counter()
        self._seen: dict[str, _Seen] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll(self) -> int:
        """Poll every feed once; returns the events sent."""
        return sum(self.poll_feed(feed) for feed in self.feeds)

    def poll_feed(self, feed: _Feed) -> int:
        self.counts["polls"] += 1
        try:
            sent = self._poll(feed)
        except FeedError as exc:
            self._failed(feed, exc.kind, str(exc))
            return 0
        except Exception as exc:  # the bus refused (full, Kafka away), or a bug: the next poll tries again
            feed.etag = feed.last_modified = None  # so the next poll reads the feed again, not a 304
            self._failed(feed, type(exc).__name__, f"{type(exc).__name__}: {exc}")
            return 0
        if feed.state != "ok":
            if feed.state != "new":
                log.info("GTFS-RT feed %s: answering again", describe(feed.url))
            feed.state = "ok"
        return sent

    def _failed(self, feed: _Feed, kind: str, text: str) -> None:
        self.counts["failures"] += 1
        if feed.state != kind:  # once per change of state, not once per poll
            log.warning("GTFS-RT feed %s: %s (polling on every %g s)", describe(feed.url), text, self.interval_s)
            feed.state = kind

    def _poll(self, feed: _Feed) -> int:
        got = self.fetch(feed.url, feed.etag, feed.last_modified, self.timeout_s)
        if got.status == 304:
            self.counts["not_modified"] += 1
            return 0
        message = parse(got.body)
        sent = self.send(message)
        feed.etag, feed.last_modified = got.etag, got.last_modified  # only once its vehicles are sent
        return sent

    def send(self, message: gtfs_realtime_pb2.FeedMessage) -> int:
        """Send the vehicles of ``message`` not sent before; returns how many were sent."""
        received = int(datetime.now(UTC).timestamp())
        header_ts = message.header.timestamp if message.header.HasField("timestamp") else received
        batch: list[tuple[bytes | None, bytes]] = []
        pending: dict[str, _Seen] = {}
        sent = 0
        for entity in message.entity:
            if not entity.HasField("vehicle"):
                continue  # trip updates and alerts: not vehicles
            event = self.event(entity, header_ts, pending)
            if event is None:
                continue
            batch.append((str(event["device_id"]).encode(), orjson.dumps(event)))
            if len(batch) >= BATCH:
                sent += self._flush(batch, pending)
        sent += self._flush(batch, pending)
        self._forget(header_ts)
        return sent

    def _flush(self, batch: list[tuple[bytes | None, bytes]], pending: dict[str, _Seen]) -> int:
        if not batch:
            return 0
        self.sink(self.topic, list(batch))
        self._seen.update(pending)  # sent: the same reports are duplicates from now on
        n = len(batch)
        self.counts["events"] += n
        batch.clear()
        pending.clear()
        return n

    def event(
        self, entity: gtfs_realtime_pb2.FeedEntity, header_ts: int, pending: dict[str, _Seen]
    ) -> dict[str, object] | None:
        """The ``gps_data`` event of one feed entity; None when it has no position or was sent before."""
        vp = entity.vehicle
        if not vp.HasField("position"):
            self.counts["no_position"] += 1
            return None
        device = vp.vehicle.id or entity.id
        ts = vp.timestamp if vp.HasField("timestamp") else header_ts
        before = pending.get(device) or self._seen.get(device)
        if before is not None and ts <= before.ts:
            self.counts["duplicates"] += 1
            return None
        pos = vp.position
        lat, lon = pos.latitude, pos.longitude
        event: dict[str, object] = {
            "id": str(uuid.uuid5(_IDS, f"{device}\n{ts}")),  # the same report, the same id, in any process
            "device_id": device,
            "timestamp": datetime.fromtimestamp(ts, UTC).isoformat(),
            "location": [lat, lon],
            "speed": self._speed_kmh(pos, before, ts),
            "vehicle_type": VEHICLE_TYPE,
        }
        if pos.HasField("bearing") and math.isfinite(pos.bearing):
            event["heading"] = round(pos.bearing % 360, 1)
        for name in ("trip_id", "route_id"):
            if getattr(vp.trip, name):
                event[name] = getattr(vp.trip, name)
        pending[device] = _Seen(ts, lat, lon)
        return event

    def _speed_kmh(self, pos: gtfs_realtime_pb2.Position, before: _Seen | None, ts: int) -> float:
        """The feed's speed (m/s) in km/h; without one, estimated from the vehicle's previous report
        (0 for a first sighting): our events require a speed, and many agencies send none."""
        if pos.HasField("speed") and math.isfinite(pos.speed) and pos.speed >= 0:
            return round(pos.speed * 3.6, 2)
        self.counts["speed_estimated"] += 1
        if before is None or ts <= before.ts:
            return 0.0
        kmh = distance_m(before.lat, before.lon, pos.latitude, pos.longitude) / (ts - before.ts) * 3.6
        return round(kmh, 2) if kmh <= MAX_SPEED_KMH else 0.0  # a jump of the fix, not a speed

    def _forget(self, now_ts: int) -> None:
        old = [device for device, seen in self._seen.items() if now_ts - seen.ts > FORGET_S]
        for device in old:
            del self._seen[device]

    def run(self) -> None:
        """Poll until ``stop``: every feed, then wait ``interval_s``."""
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # never the end of the thread
                log.exception("GTFS-RT poll failed")
            self._stop.wait(self.interval_s)

    def start(self) -> Poller:
        self._thread = threading.Thread(target=self.run, name="smartcity-gtfs-rt", daemon=True)
        self._thread.start()
        return self

    def is_alive(self) -> bool:
        """Whether the polling thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def as_ingest(sink: sinks.Sink) -> Sink:
    """A producers' sink (Kafka, JSON lines) as the poller's ingest callable: the poller's topic
    is then the stream's name, which the sink maps to its topic."""

    def send(stream: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        sink.send([(stream, (key or b"").decode(), orjson.loads(value)) for key, value in items])

    return send


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m producers.gtfs_rt", description=__doc__.split("\n")[0])
    p.add_argument("urls", nargs="*", help="VehiclePositions feeds (default: SMARTCITY_GTFS_RT_URLS)")
    p.add_argument("--kafka", metavar="HOST:PORT", help="Kafka (default: SMARTCITY_KAFKA_BOOTSTRAP_SERVERS)")
    p.add_argument("--output", help="JSON-lines file, or - for stdout (default, unless Kafka is set)")
    p.add_argument("--once", action="store_true", help="poll each feed once, then exit")
    args = p.parse_args(argv)
    if args.kafka and args.output:
        p.error("choose --kafka or --output, not both")
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    urls = args.urls or settings.gtfs_rt_feeds()
    if not urls:
        p.error("no feeds: name them, or set SMARTCITY_GTFS_RT_URLS")
    bootstrap = args.kafka or (settings.kafka_bootstrap_servers if args.output is None else None)
    sink: sinks.Sink
    if bootstrap:
        kafka = KafkaSink(bootstrap, settings.topics(), settings.kafka_linger_ms, settings.kafka_compression)
        try:
            kafka.connect()
        except KafkaUnavailable as exc:
            print(f"gtfs_rt: {exc}", file=sys.stderr)
            return 2
        sink = kafka
    else:
        sink = sinks.JsonLinesSink(args.output or "-")
    poller = Poller(urls, as_ingest(sink), "gps_data", settings.gtfs_rt_poll_seconds)
    try:
        if args.once:
            poller.poll()
        else:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: poller.stop())
            poller.run()
    finally:
        sink.close()
    print(json.dumps(dict(poller.counts)), file=sys.stderr)
    failed = sink.stats.failed if isinstance(sink, KafkaSink) else 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
