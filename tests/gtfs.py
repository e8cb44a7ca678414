"""GTFS-Realtime feeds for tests: built with Google's bindings, served over HTTP on loopback."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.transit import gtfs_realtime_pb2


def feed(vehicles: list[dict[str, Any]], header_ts: int | None = None) -> bytes:
    """A VehiclePositions FeedMessage: each vehicle ``id``, ``lat``, ``lon``, ``ts`` and optional
    ``speed`` (m/s), ``bearing``, ``entity_id``, ``trip_id``, ``route_id``; ``id=""`` sends no vehicle id."""
    msg = gtfs_realtime_pb2.FeedMessage()
    msg.header.gtfs_realtime_version = "2.0"
    msg.header.incrementality = gtfs_realtime_pb2.FeedHeader.FULL_DATASET
    if header_ts is not None:
        msg.header.timestamp = header_ts
    for v in vehicles:
        entity = msg.entity.add()
        entity.id = v.get("entity_id", f"e-{v['id']}")
        vp = entity.vehicle
        if v["id"]:
            vp.vehicle.id = v["id"]
        if "lat" in v:
            vp.position.latitude, vp.position.longitude = v["lat"], v["lon"]
        for name in ("speed", "bearing"):
            if name in v:
                setattr(vp.position, name, v[name])
        if "ts" in v:
            vp.timestamp = v["ts"]
        for name in ("trip_id", "route_id"):
            if name in v:
                setattr(vp.trip, name, v[name])
    return msg.SerializeToString()


class FeedServer:
    """Serves ``body`` at any path, with an ETag (its hash): ``If-None-Match`` with it gets a 304.
    Records each request's conditional headers and each answer's status."""

    def __init__(self, body: bytes = b"", etag: bool = True) -> None:
        self.body, self.etag = body, etag
        self.requests: list[dict[str, str | None]] = []
        self.statuses: list[int] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tag = f'"{hashlib.sha1(server.body).hexdigest()}"'
                sent = self.headers.get("If-None-Match")
                server.requests.append(
                    {"If-None-Match": sent, "If-Modified-Since": self.headers.get("If-Modified-Since")}
                )
                if server.etag and sent == tag:
                    server.statuses.append(304)
                    self.send_response(304)
                    self.end_headers()
                    return
                server.statuses.append(200)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(server.body)))
                if server.etag:
                    self.send_header("ETag", tag)
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/vehicle-positions.pb?key=secret-key"

    @contextmanager
    def running(self) -> Iterator[FeedServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(5)
