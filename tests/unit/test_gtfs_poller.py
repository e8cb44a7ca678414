"""GTFS-RT vehicles as our GPS events: ids, times, units, what is skipped and why (no network)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from pipeline.settings import Settings
from pipeline.validation import Validator
from producers.gtfs_rt import Fetched, Poller, describe
from tests.gtfs import feed

T = 1_800_000_000


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, Any]]] = []

    def __call__(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        self.sent += [(topic, key, orjson.loads(value)) for key, value in items]


def poll(*bodies: bytes) -> tuple[Poller, list[dict[str, Any]]]:
    """Poll a feed answering ``bodies`` in turn; the events sent."""
    answers = iter(bodies)
    sink = Recorder()
    poller = Poller(["https://agency.example/vp"], sink, "gps-topic", fetcher=lambda *_: Fetched(200, next(answers)))
    for _ in bodies:
        poller.poll()
    assert {topic for topic, _, _ in sink.sent} <= {"gps-topic"}
    return poller, [event for _, _, event in sink.sent]


def test_a_vehicle_becomes_a_valid_gps_event() -> None:
    body = feed([{"id": "v1", "lat": 52.5, "lon": 13.4, "speed": 12.5, "bearing": 45.0, "ts": T, "trip_id": "t9",
                  "route_id": "M10"}])  # fmt: skip
    _, (event,) = poll(body)
    assert event["device_id"] == "v1" and event["vehicle_type"] == "bus"
    assert event["speed"] == pytest.approx(45.0) and event["heading"] == 45.0
    assert event["timestamp"] == "2027-01-15T08:00:00+00:00"
    assert event["location"] == pytest.approx([52.5, 13.4], abs=1e-5)
    assert (event["trip_id"], event["route_id"]) == ("t9", "M10")
    record = Validator().validate("gps_data", orjson.dumps(event), now=datetime(2027, 1, 15, 8, 0, 5, tzinfo=UTC))
    assert isinstance(record, dict), record  # the pipeline takes it as it is


def test_ids_times_and_bearings_where_a_feed_leaves_them_out() -> None:
    body = feed(
        [
            {"id": "", "entity_id": "entity-7", "lat": 52.5, "lon": 13.4, "speed": 1.0},  # no vehicle id, no time
            {"id": "v2", "lat": 52.5, "lon": 13.4, "speed": 1.0, "bearing": -90.0, "ts": T},
            {"id": "v3", "lat": 52.5, "lon": 13.4, "speed": 1.0, "bearing": 370.0, "ts": T},
            {"id": "v4", "ts": T},  # no position: nothing to show
        ],
        header_ts=T - 30,
    )
    poller, events = poll(body)
    by_id = {e["device_id"]: e for e in events}
    assert set(by_id) == {"entity-7", "v2", "v3"} and poller.counts["no_position"] == 1
    assert by_id["entity-7"]["timestamp"] == "2027-01-15T07:59:30+00:00"  # the feed's own time
    assert "heading" not in by_id["entity-7"]
    assert (by_id["v2"]["heading"], by_id["v3"]["heading"]) == (270.0, 10.0)


def test_without_a_speed_it_is_estimated_from_the_previous_report() -> None:
    first = feed([{"id": "v1", "lat": 52.5, "lon": 13.4, "ts": T}])
    later = feed([{"id": "v1", "lat": 52.5009, "lon": 13.4, "ts": T + 10}])  # ~100 m north in 10 s
    poller, (one, two) = poll(first, later)
    assert one["speed"] == 0.0  # a first sighting: nothing to estimate from
    assert two["speed"] == pytest.approx(36.0, rel=0.01)
    assert poller.counts["speed_estimated"] == 2


def test_the_same_report_is_one_event_with_one_id() -> None:
    body = feed([{"id": "v1", "lat": 52.5, "lon": 13.4, "speed": 3.0, "ts": T}] * 2)  # listed twice, polled twice
    poller, events = poll(body, body)
    assert len(events) == 1 and poller.counts["duplicates"] == 3
    _, again = poll(body)  # another process polling the same feed names the report alike
    assert again[0]["id"] == events[0]["id"]
    older = feed([{"id": "v1", "lat": 52.6, "lon": 13.4, "speed": 3.0, "ts": T - 60}])
    poller, events = poll(body, older)
    assert len(events) == 1  # an older report than one sent is not news either


def test_urls_are_logged_without_their_keys() -> None:
    assert describe("https://user:pw@api.agency.example:8443/gtfs/vp.pb?api_key=s3cret") == (
        "https://api.agency.example:8443/gtfs/vp.pb"
    )


def test_feed_urls_are_a_comma_separated_setting() -> None:
    settings = Settings(_env_file=None, gtfs_rt_urls=" https://a.example/vp , ,https://b.example/vp?key=k ")
    assert settings.gtfs_rt_feeds() == ["https://a.example/vp", "https://b.example/vp?key=k"]
    assert Settings(_env_file=None).gtfs_rt_feeds() == [] and Settings(_env_file=None).gtfs_rt_poll_seconds == 15
