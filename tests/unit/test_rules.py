"""The rule engine: alerts fire on crossing (enter, exit, speed in a zone, congestion held for M
minutes, AQI above a threshold, a new serious incident, an advisory), once, and never twice for a
replayed batch; bad zones and rules, and Redis away, never stop a batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
import redis

from pipeline.accounting import Accounting
from pipeline.alerts import AlertLog
from pipeline.lake import LakeWriter, open_lake, read_table
from pipeline.processor import BatchProcessor, RawEvent
from pipeline.rulebook import RuleBook
from pipeline.rules import RuleEngine, alert_id, by_stream
from pipeline.schemas import ALERTS
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
CENTRE = [[13.50, 52.40], [13.60, 52.40], [13.60, 52.50], [13.50, 52.50], [13.50, 52.40]]
INSIDE, OUTSIDE = [52.45, 13.55], [52.30, 13.30]  # [lat, lon] as events carry them
_VALIDATOR = Validator()


def zone(name: str = "Centre", ring: list[list[float]] = CENTRE) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {"name": name}}


def event(stream: str, s: float, **fields: Any) -> tuple[str, dict[str, Any]]:
    out = _VALIDATOR.validate(stream, {"timestamp": (T0 + timedelta(seconds=s)).isoformat(), **fields})
    assert isinstance(out, dict), out
    return stream, out


def car(s: float, where: list[float], speed: float = 30.0, device: str = "car-1", **more: Any) -> Any:
    return event("vehicle_data", s, device_id=device, location=where, speed=speed, vehicle_type="car", **more)


class Setup:
    def __init__(self, client: redis.Redis | None = None) -> None:
        self.client = client or fakeredis.FakeRedis()
        self.book = RuleBook(self.client, "r:")
        self.log = AlertLog(self.client, "r:")
        self.acc = Accounting()
        self.engine = self.new_engine()

    def new_engine(self) -> RuleEngine:
        """A processor's engine (a second one stands for a restart, or another Spark executor)."""
        return RuleEngine(self.book, self.log, reload_s=0.0)

    def run(self, *records: Any, engine: RuleEngine | None = None) -> list[dict[str, Any]]:
        return (engine or self.engine).evaluate(by_stream(records), self.acc)


@pytest.fixture
def s() -> Setup:
    return Setup()


def kinds(alerts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["kind"], a["entity"]) for a in alerts]


def test_a_vehicle_entering_and_leaving_a_zone_raises_one_alert_each(s: Setup) -> None:
    zone_id, _ = s.book.add_zone(zone())
    enter, _ = s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id, "severity": "high"})
    s.book.add_rule({"name": "out", "kind": "zone_exit", "zone": zone_id})
    assert s.run(car(0, OUTSIDE)) == []
    alerts = s.run(car(1, INSIDE), car(2, INSIDE))
    assert kinds(alerts) == [("zone_enter", "car-1")]
    (hit,) = alerts
    assert hit["rule"] == enter and hit["severity"] == "high" and "Centre" in hit["message"]
    assert hit["time"] == (T0 + timedelta(seconds=1)).isoformat()
    assert s.run(car(3, INSIDE)) == []  # still inside: nothing
    assert kinds(s.run(car(4, OUTSIDE), car(5, OUTSIDE))) == [("zone_exit", "car-1")]
    assert [a["kind"] for a in s.log.list()] == ["zone_exit", "zone_enter"]
    assert s.acc.alerts == 2


def test_a_vehicle_type_rule_ignores_other_types_and_a_typeless_gps_fix_keeps_the_known_type(s: Setup) -> None:
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "buses in", "kind": "zone_enter", "zone": zone_id, "vehicle_type": "bus"})
    assert s.run(car(0, INSIDE)) == []
    bus_out = event("vehicle_data", 1, device_id="bus-1", location=OUTSIDE, speed=20.0, vehicle_type="bus")
    bus_in = event("gps_data", 2, device_id="bus-1", location=INSIDE, speed=20.0)  # no type in a GPS fix
    assert kinds(s.run(bus_out, bus_in)) == [("zone_enter", "bus-1")]


def test_speed_in_a_zone_fires_once_until_it_drops_back_below(s: Setup) -> None:
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "fast", "kind": "speed_in_zone", "zone": zone_id, "threshold": 50})
    assert s.run(car(0, OUTSIDE, 90)) == []  # fast, but outside
    assert kinds(s.run(car(1, INSIDE, 70), car(2, INSIDE, 80))) == [("speed_in_zone", "car-1")]
    assert s.run(car(3, INSIDE, 75)) == []  # still above: the same episode
    assert s.run(car(4, INSIDE, 40)) == []  # back below
    (again,) = s.run(car(5, INSIDE, 60))
    assert again["kind"] == "speed_in_zone" and "60 km/h" in again["message"]


def traffic(s: float, level: str, camera: str = "cam-1") -> Any:
    return event("traffic_data", s, device_id=camera, camera_id=camera, location=INSIDE, segment_id="seg-9",
                 congestion_level=level, road_name="Main Street")  # fmt: skip


def test_congestion_fires_once_it_held_for_the_rules_minutes(s: Setup) -> None:
    s.book.add_rule({"name": "jam", "kind": "congestion", "threshold": 3, "minutes": 5, "severity": "high"})
    assert s.run(traffic(0, "heavy"), traffic(120, "severe")) == []  # 2 minutes
    assert s.run(traffic(240, "heavy")) == []  # 4 minutes: not yet (the start survived the batch)
    (jam,) = s.run(traffic(300, "heavy"), traffic(360, "heavy"))
    assert (jam["kind"], jam["entity"]) == ("congestion", "seg-9") and "Main Street" in jam["message"]
    assert jam["time"] == (T0 + timedelta(seconds=300)).isoformat()
    assert s.run(traffic(420, "severe")) == []  # the same jam
    assert s.run(traffic(480, "moderate"), traffic(540, "heavy")) == []  # eased, then a new jam begins
    assert kinds(s.run(traffic(840, "heavy"))) == [("congestion", "seg-9")]


def weather(s: float, aqi: float, station: str = "ws-1", **more: Any) -> Any:
    return event("weather_data", s, device_id=station, location=INSIDE, temperature=10.0, airQualityIndex=aqi, **more)


def test_aqi_crossing_fires_once_per_crossing(s: Setup) -> None:
    s.book.add_rule({"name": "smog", "kind": "aqi", "threshold": 150, "severity": "medium"})
    assert s.run(weather(0, 100)) == []
    assert kinds(s.run(weather(1, 160), weather(2, 170))) == [("aqi", "ws-1")]
    assert s.run(weather(3, 180)) == []
    assert s.run(weather(4, 90)) == []
    assert kinds(s.run(weather(5, 151))) == [("aqi", "ws-1")]


def test_state_survives_a_restart_and_is_shared_by_a_second_executor(s: Setup) -> None:
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    assert kinds(s.run(car(0, INSIDE))) == [("zone_enter", "car-1")]
    other = s.new_engine()
    assert s.run(car(1, INSIDE), engine=other) == []  # it knows car-1 is inside already


def test_a_replayed_batch_raises_nothing_twice(s: Setup) -> None:
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    s.book.add_rule({"name": "smog", "kind": "aqi", "threshold": 150})
    batch = [car(0, OUTSIDE), car(1, INSIDE), weather(1, 200)]
    first = s.run(*batch)
    assert sorted(kinds(first)) == [("aqi", "ws-1"), ("zone_enter", "car-1")]
    s.client.delete(s.engine.inside_key, s.engine.latch_key)  # even with the state lost (the log dedupes by id)
    assert s.run(*batch) == []
    assert s.log.unread_count() == 2
    stream: Any = s.client.xrange(s.log.stream_key)
    assert len(stream) == 2  # each alert once on the webhook stream


def test_a_new_serious_incident_is_an_alert_once_ever(s: Setup) -> None:
    def incident(t: float, severity: str, status: str = "Active") -> Any:
        return event("emergency_data", t, device_id="u1", incidentId="inc-7", incident_type="fire", status=status,
                     severity=severity, location=INSIDE, description="smoke")  # fmt: skip

    assert s.run(incident(0, "low")) == []
    (alert,) = s.run(incident(1, "critical"))
    assert alert["id"] == "incident:inc-7" and alert["rule"] is None and alert["severity"] == "critical"
    assert s.run(incident(2, "critical")) == []
    s.log.client.delete(s.log.data_key)  # dropped from the log: still raised once only
    assert s.run(incident(3, "high")) == []


def test_an_advisory_in_a_weather_event_is_an_alert_per_new_text(s: Setup) -> None:
    (alert,) = s.run(weather(0, 50, advisory="Storm warning until 18:00", severity="high"))
    assert alert["kind"] == "advisory" and alert["severity"] == "high" and "Storm" in alert["message"]
    assert s.run(weather(1, 50, advisory="Storm warning until 18:00")) == []
    assert s.run(weather(2, 50)) == []
    assert kinds(s.run(weather(3, 50, advisory="Storm warning until 18:00"))) == [("advisory", "ws-1")]


def test_a_bad_zone_or_rule_is_skipped_and_the_others_still_fire(s: Setup, caplog: pytest.LogCaptureFixture) -> None:
    good, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": good})
    bowtie = zone("Bow", [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]])  # edited into Redis by hand: invalid
    s.client.hset(s.book.zones_key, "z-bad", orjson.dumps(bowtie))
    s.client.hset(s.book.rules_key, "r-bad", orjson.dumps({"name": "x", "kind": "zone_enter", "zone": "z-bad",
                                                            "severity": "low"}))  # fmt: skip
    s.client.hset(s.book.rules_key, "r-odd", orjson.dumps({"name": "y", "kind": "aqi", "severity": "low"}))
    s.client.incr(s.book.version_key)
    assert kinds(s.run(car(0, INSIDE))) == [("zone_enter", "car-1")]
    assert s.run(car(1, OUTSIDE)) == []
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 3 and s.acc.rules_errors == 0


def test_a_change_of_the_rule_book_is_picked_up_within_the_reload_period(s: Setup) -> None:
    now = [0.0]
    engine = RuleEngine(s.book, s.log, reload_s=1.0, clock=lambda: now[0])
    assert engine.evaluate(by_stream([weather(0, 300)])) == []
    s.book.add_rule({"name": "smog", "kind": "aqi", "threshold": 150})
    now[0] = 0.5
    assert engine.evaluate(by_stream([weather(1, 300)])) == []  # not due to look yet
    now[0] = 1.0
    assert kinds(engine.evaluate(by_stream([weather(2, 300)]))) == [("aqi", "ws-1")]


def test_redis_away_is_counted_and_the_batch_goes_on_to_the_lake(tmp_path: Path) -> None:
    server = fakeredis.FakeServer()
    s = Setup(fakeredis.FakeRedis(server=server))
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    fs, root = open_lake(str(tmp_path))
    batch = BatchProcessor(SpeedLayer(fakeredis.FakeRedis(), "p:"), LakeWriter(fs, root), accounting=s.acc,
                           rules=s.engine)  # fmt: skip
    raw = orjson.dumps({"device_id": "car-1", "timestamp": T0.isoformat(), "location": INSIDE, "speed": 5.0})
    server.connected = False
    batch.process([RawEvent("vehicle_data", raw)])
    assert s.acc.rules_errors == 1 and s.acc.streams["vehicle_data"].speed_layer == 1
    server.connected = True
    raw2 = orjson.dumps({"device_id": "car-1", "timestamp": (T0 + timedelta(seconds=1)).isoformat(),
                         "location": INSIDE, "speed": 5.0})  # fmt: skip
    batch.process([RawEvent("vehicle_data", raw2)])
    batch.flush_lake(force=True)
    assert read_table(fs, root, "vehicle_data").num_rows == 2
    (row,) = read_table(fs, root, ALERTS).to_pylist()
    assert row["kind"] == "zone_enter" and row["entity"] == "car-1" and row["latitude"] == INSIDE[0]
    assert row["alert_id"] == s.log.list()[0]["id"] and s.acc.alerts == 1
    assert s.acc.streams.keys() == set(s.acc.streams) and ALERTS not in s.acc.streams


def test_alert_ids_are_deterministic() -> None:
    assert alert_id("r-1", "car-1", "e-1") == alert_id("r-1", "car-1", "e-1") != alert_id("r-1", "car-1", "e-2")
    assert len(alert_id("x")) == 20


def test_one_crossing_reported_by_both_vehicle_streams_is_one_alert_even_when_processed_apart(s: Setup) -> None:
    """Two Spark tasks may take a vehicle's vehicle_data and gps_data of one micro-batch at once,
    both reading the state from before the crossing: the crossing's alert id is the same."""
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    s.run(car(0, OUTSIDE))
    before: Any = s.client.hgetall(s.engine.inside_key)
    assert kinds(s.run(car(1, INSIDE))) == [("zone_enter", "car-1")]
    s.client.delete(s.engine.inside_key)
    if before:
        s.client.hset(s.engine.inside_key, mapping=before)  # the other task read the state before
    gps = event("gps_data", 1.4, device_id="car-1", location=INSIDE, speed=30.0)
    assert s.run(gps, engine=s.new_engine()) == []  # the same crossing: already in the log
    assert s.log.unread_count() == 1


def test_a_lagging_gps_stream_does_not_replay_a_crossing(s: Setup) -> None:
    """The vehicle stream is ahead of the GPS stream (another topic, read in another batch): the
    GPS fixes older than the vehicle's last crossing change nothing."""
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    s.book.add_rule({"name": "out", "kind": "zone_exit", "zone": zone_id})
    ahead = s.run(car(0, OUTSIDE), car(1, INSIDE), car(2, INSIDE), car(3, OUTSIDE))
    assert kinds(ahead) == [("zone_enter", "car-1"), ("zone_exit", "car-1")]
    lagging = [event("gps_data", t, device_id="car-1", location=where, speed=30.0)
               for t, where in ((0, OUTSIDE), (1, INSIDE), (2, INSIDE))]  # fmt: skip
    assert s.run(*lagging) == []
    assert kinds(s.run(car(4, INSIDE))) == [("zone_enter", "car-1")]  # a new crossing still counts


def test_the_sweep_and_the_strtree_locate_the_same_zones(s: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from pipeline import compiled_book

    for i in range(12):  # overlapping squares, one with a hole-like notch (a concave polygon)
        x, y = 13.40 + 0.02 * i, 52.40 + 0.01 * (i % 3)
        ring = [[x, y], [x + 0.05, y], [x + 0.05, y + 0.05], [x + 0.025, y + 0.01], [x, y + 0.05], [x, y]]
        zone_id, _ = s.book.add_zone(zone(f"z{i}", ring))
        s.book.add_rule({"name": f"in {i}", "kind": "zone_enter", "zone": zone_id})
    book = s.engine.current()
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(13.38, 13.72, 5000), rng.uniform(52.38, 52.48, 5000)
    swept = book.locate(lons, lats)
    monkeypatch.setattr(compiled_book, "SWEEP_ZONES", 0)
    assert book.locate(lons, lats) == swept and 500 < len(swept) < 5000


def test_a_vehicle_silent_for_two_active_windows_is_forgotten_and_one_seen_meanwhile_is_not(s: Setup) -> None:
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    engine = RuleEngine(s.book, s.log, reload_s=0.0, active_s=10.0)
    first = (int(T0.timestamp()) // 10 + 1) * 10 - T0.timestamp()  # the first second of a window

    def run(*records: Any) -> list[tuple[str, str]]:
        return kinds(engine.evaluate(by_stream(records)))

    assert run(car(first, INSIDE), car(first, INSIDE, device="car-2")) == [
        ("zone_enter", "car-1"),
        ("zone_enter", "car-2"),
    ]
    assert run(car(first + 12, INSIDE, device="car-2")) == []  # the next window: car-1 is kept one more
    assert run(car(first + 13, INSIDE)) == []  # car-1 seen in it: still known to be inside
    assert run(car(first + 25, INSIDE, device="car-2")) == []
    assert run(car(first + 36, INSIDE, device="car-2")) == []  # car-1 silent since the window of first + 13
    assert s.client.hkeys(engine.inside_key) + s.client.hkeys(engine.inside_before_key) == [b"car-2"]
    assert s.client.hkeys(engine.parked_key) == [b"car-1"]  # forgotten but for its zone (and type and time)
    assert run(car(first + 37, INSIDE)) == []  # seen again where it was: no enter
    assert not s.client.exists(engine.parked_key)
    assert run(car(first + 500, INSIDE, device="car-2")) == []  # silent for long too, in the zone all along
    assert s.client.hkeys(engine.inside_key) == [b"car-2"] and not s.client.exists(engine.inside_before_key)
    assert s.client.hkeys(engine.parked_key) == [b"car-1"]
    assert run(car(first + 501, OUTSIDE), car(first + 502, INSIDE)) == [("zone_enter", "car-1")]


def test_a_vehicle_parked_in_a_zone_for_three_windows_moves_within_it_silently_and_leaves_it_with_an_alert(
    s: Setup,
) -> None:
    zone_id, _ = s.book.add_zone(zone("Depot"))
    for kind in ("zone_enter", "zone_exit"):
        s.book.add_rule({"name": kind, "kind": kind, "zone": zone_id})
    engine = RuleEngine(s.book, s.log, reload_s=0.0, active_s=10.0)

    def run(*records: Any) -> list[tuple[str, str]]:
        return kinds(engine.evaluate(by_stream(records)))

    def bus(t: float, where: list[float]) -> Any:
        return event("vehicle_data", t, device_id="bus-7", location=where, speed=0.0, vehicle_type="bus")

    assert run(bus(0, INSIDE)) == [("zone_enter", "bus-7")]
    for t in (10, 20, 30, 40):  # the night: other vehicles drive on, window after window
        assert run(car(t, OUTSIDE)) == []
    assert s.client.hkeys(engine.inside_key) + s.client.hkeys(engine.inside_before_key) == []  # forgotten,
    assert s.client.hkeys(engine.parked_key) == [b"bus-7"]  # but for its zone
    assert run(bus(45, [52.46, 13.56])) == []  # the morning: it moves within the depot
    assert run(bus(46, OUTSIDE)) == [("zone_exit", "bus-7")]


def test_parked_vehicles_are_bounded_the_longest_silent_forgotten_first(
    s: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pipeline.rule_batch.PARKED_KEPT", 2)
    zone_id, _ = s.book.add_zone(zone())
    s.book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    engine = RuleEngine(s.book, s.log, reload_s=0.0, active_s=10.0)

    def run(*records: Any) -> list[tuple[str, str]]:
        return kinds(engine.evaluate(by_stream(records)))

    for n, t in enumerate((0, 10, 20)):  # one vehicle a window, each silent after
        assert run(car(t, INSIDE, device=f"bus-{n}")) == [("zone_enter", f"bus-{n}")]
    for t in (30, 40, 50, 60):
        run(car(t, OUTSIDE))
    assert sorted(s.client.hkeys(engine.parked_key)) == [b"bus-1", b"bus-2"]
    assert run(car(61, INSIDE, device="bus-0"), car(61, INSIDE, device="bus-2")) == [("zone_enter", "bus-0")]
