"""GTFS-Realtime in: a feed served over HTTP on loopback, polled into the server's ingest path."""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from google.transit import gtfs_realtime_pb2

from pipeline.validation import Validator
from producers.gtfs_rt import Poller
from producers.gtfs_rt import main as gtfs_rt_main
from producers.sinks import read_jsonl
from tests.demo import Demo
from tests.gtfs import FeedServer, feed

IDS = {"gtfs-bus-1", "gtfs-bus-2", "gtfs-bus-3"}


@pytest.fixture
def now() -> int:
    """This test's now (epoch s): the feed's reports are seconds old when the test runs, however
    long the session has been going (the city's active window is in event time)."""
    return int(time.time())


@pytest.fixture
def buses(now: int) -> list[dict[str, Any]]:
    return [
        {"id": "gtfs-bus-1", "lat": 52.4410, "lon": 13.5210, "speed": 10.0, "bearing": 90.0, "ts": now - 20,
         "trip_id": "t1", "route_id": "r7"},
        {"id": "gtfs-bus-2", "lat": 52.4420, "lon": 13.5220, "speed": 0.0, "bearing": 180.0, "ts": now - 15},
        {"id": "gtfs-bus-3", "lat": 52.4430, "lon": 13.5230, "speed": 5.5, "bearing": 359.0, "ts": now - 10},
    ]  # fmt: skip


class Counting:
    """The app's ingest, counting the events it was handed."""

    def __init__(self, app: Flask) -> None:
        self.ingest = app.extensions["smartcity.ingest"]
        self.events = 0

    def __call__(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.events += len(items)
        self.ingest(topic, items)


def gtfs_vehicles(client: FlaskClient) -> dict[str, dict[str, Any]]:
    resp = client.get("/api/vehicles/locations?type=bus")
    assert resp.status_code == 200
    return {v["id"]: v for v in resp.json["vehicles"] if v["id"].startswith("gtfs-")}


def test_a_feeds_buses_appear_on_the_map(
    app: Flask, client: FlaskClient, now: int, buses: list[dict[str, Any]]
) -> None:
    with FeedServer(feed(buses, header_ts=now)).running() as server:
        poller = Poller([server.url], Counting(app))
        assert poller.poll() == 3
    shown = gtfs_vehicles(client)
    assert set(shown) == IDS
    one = shown["gtfs-bus-1"]
    assert one["speed"] == pytest.approx(36.0)  # 10 m/s
    assert one["heading"] == pytest.approx(90.0) and one["vehicle_type"] == "bus"
    assert (one["lat"], one["lon"]) == pytest.approx((52.4410, 13.5210), abs=1e-5)  # float32 in GTFS-RT
    assert one["ts"] == (now - 20) * 1000
    assert shown["gtfs-bus-3"]["speed"] == pytest.approx(19.8)
    # and back out, to a trip planner, as they came in
    out = gtfs_realtime_pb2.FeedMessage()
    out.ParseFromString(client.get("/gtfs-rt/vehicle-positions").data)
    back = {e.vehicle.vehicle.id: e.vehicle for e in out.entity if e.id in IDS}
    assert set(back) == IDS
    assert back["gtfs-bus-1"].position.speed == pytest.approx(10.0) and back["gtfs-bus-1"].timestamp == now - 20


def test_a_feed_polled_again_adds_nothing(app: Flask, client: FlaskClient, buses: list[dict[str, Any]]) -> None:
    sink = Counting(app)
    with FeedServer(feed(buses)).running() as server:
        poller = Poller([server.url], sink)
        poller.poll()
        assert poller.poll() == 0  # unchanged: 304
    assert server.statuses == [200, 304]
    assert server.requests[0]["If-None-Match"] is None and server.requests[1]["If-None-Match"] is not None
    assert sink.events == 3 and poller.counts["not_modified"] == 1


def test_reports_already_sent_are_not_sent_again_by_a_feed_without_etags(
    app: Flask, client: FlaskClient, now: int, buses: list[dict[str, Any]]
) -> None:
    sink = Counting(app)
    with FeedServer(feed(buses), etag=False).running() as server:
        poller = Poller([server.url], sink)
        poller.poll()
        poller.poll()  # the same reports again: a 200 each time
        moved = [*buses[:2], {**buses[2], "lat": 52.4440, "ts": now - 5}]
        server.body = feed(moved)
        assert poller.poll() == 1  # only the bus with a new report
    assert server.statuses == [200, 200, 200]
    assert sink.events == 4 and poller.counts["duplicates"] == 3 + 2
    assert gtfs_vehicles(client)["gtfs-bus-3"]["lat"] == pytest.approx(52.4440, abs=1e-5)
    assert app.extensions["smartcity.store"].speed.summary()["active_vehicles"] == 3 + 3  # the seeded city's 3


def test_a_feed_that_is_down_is_logged_once_and_polled_on(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    sink = Counting(app)
    caplog.set_level(logging.INFO, logger="producers.gtfs_rt")
    poller = Poller([f"http://127.0.0.1:{port}/feed?api_key=secret-key"], sink, interval_s=0.01).start()
    try:
        deadline = time.monotonic() + 30
        while poller.counts["polls"] < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert poller.is_alive()  # the thread goes on
    finally:
        poller.stop(timeout=5)
    assert poller.counts["failures"] == poller.counts["polls"] >= 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    assert "secret-key" not in caplog.text  # a feed URL's API key is never logged
    assert sink.events == 0


def test_a_body_that_is_no_feed_is_logged_once_until_the_feed_is_back(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture, buses: list[dict[str, Any]]
) -> None:
    caplog.set_level(logging.INFO, logger="producers.gtfs_rt")
    with FeedServer(b"<html>maintenance</html>").running() as server:
        poller = Poller([server.url], Counting(app))
        for _ in range(3):
            assert poller.poll() == 0
        server.body = feed(buses)
        assert poller.poll() == 3
        assert poller.poll() == 0
    messages = [r.getMessage() for r in caplog.records]
    assert sum("not a FeedMessage" in m for m in messages) == 1
    assert sum("answering again" in m for m in messages) == 1
    assert poller.counts["failures"] == 3 and set(gtfs_vehicles(client)) == IDS


def test_events_the_bus_refused_are_sent_again_at_the_next_poll(
    app: Flask, client: FlaskClient, buses: list[dict[str, Any]]
) -> None:
    from pipeline.exceptions import BusFull

    refuse = [True]
    ingest = Counting(app)

    def sink(topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        if refuse[0]:
            raise BusFull("no room")
        ingest(topic, items)

    with FeedServer(feed(buses)).running() as server:
        poller = Poller([server.url], sink)
        assert poller.poll() == 0
        refuse[0] = False
        assert poller.poll() == 3  # read again in full (no If-None-Match), none counted as sent before
    assert server.statuses == [200, 200] and server.requests[1]["If-None-Match"] is None
    assert set(gtfs_vehicles(client)) == IDS


def test_the_demo_polls_the_feeds_it_is_given(tmp_path: Path, buses: list[dict[str, Any]]) -> None:
    """``python app/main.py`` with SMARTCITY_GTFS_RT_URLS: the feed's buses on its API, its counts at the end."""
    buses = [{**b, "ts": int(time.time()) - 5} for b in buses]
    with FeedServer(feed(buses)).running() as server:
        settings = {"SMARTCITY_GTFS_RT_URLS": server.url, "SMARTCITY_GTFS_RT_POLL_SECONDS": "0.5"}
        demo = Demo(tmp_path, "--vehicles", "5", SMARTCITY_API_TOKENS="viewer:demo-viewer", **settings)
        try:
            url, shown = demo.url(), set()
            deadline = time.monotonic() + 60
            while shown != IDS and time.monotonic() < deadline:
                request = urllib.request.Request(f"{url}/api/vehicles/locations?type=bus",
                                                 headers={"Authorization": "Bearer demo-viewer"})  # fmt: skip
                with urllib.request.urlopen(request, timeout=5) as answer:
                    shown = {v["id"] for v in json.loads(answer.read())["vehicles"]} & IDS
                time.sleep(0.2)
            assert shown == IDS, demo.log.text()[-3000:]
            while len(server.statuses) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            demo.stop()
    assert len(server.statuses) >= 3 and set(server.statuses[1:]) == {304}  # polled on; an unchanged feed read once
    assert "GTFS-RT: polling 1 feed(s) every 0.5 s" in demo.log.text()
    assert "'events': 3" in demo.log.text()  # its counts, logged as it stops
    assert "secret-key" not in demo.log.text() + demo.out.text()


def test_the_command_polls_feeds_to_json_lines_that_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buses: list[dict[str, Any]]
) -> None:
    """``python -m producers.gtfs_rt`` (what the distributed mode runs, with --kafka): here to a file."""
    out = tmp_path / "gtfs.jsonl"
    with FeedServer(feed(buses)).running() as server:
        monkeypatch.setenv("SMARTCITY_GTFS_RT_URLS", server.url)
        assert gtfs_rt_main(["--once", "--output", str(out)]) == 0
    events = list(read_jsonl(out))
    assert {(stream, key) for stream, key, _ in events} == {("gps_data", i) for i in IDS}
    assert all(isinstance(Validator().validate(stream, event), dict) for stream, _, event in events)
