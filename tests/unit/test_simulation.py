"""The city simulation, judged by what its events show: roads, counts, incidents, weather."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

from pipeline.schemas import CONGESTION_LEVELS, SEVERITIES, STREAMS, VEHICLE_TYPES
from pipeline.validation import DeadLetter, Validator
from producers.network import load_network
from producers.simulation import CitySimulation, Event, SimulationConfig, fleet_mix
from producers.weather import CityWeather, place_stations
from tests.unit.test_network import metres_to_polyline

START = datetime(2024, 5, 6, 7, 30, tzinfo=UTC)


def config(**overrides: Any) -> SimulationConfig:
    return SimulationConfig(**{"vehicles": 200, "start": START, **overrides})


def run(sim: CitySimulation, seconds: int, dt: float = 1.0) -> list[Event]:
    events: list[Event] = []
    for _ in range(int(seconds / dt)):
        events += sim.step(dt)
    return events


def by_stream(events: list[Event], stream: str) -> list[dict[str, Any]]:
    return [e for s, _, e in events if s == stream]


@pytest.fixture(scope="module")
def city() -> tuple[CitySimulation, list[Event], list[tuple[dict[str, Any], int]]]:
    """200 vehicles for 4 minutes with an incident; sensor reports paired with the true edge count."""
    sim = CitySimulation(config(incidents_per_hour=20))
    sim.trigger_incident("accident", "medium")
    events: list[Event] = []
    sensor_checks: list[tuple[dict[str, Any], int]] = []
    for _ in range(240):
        step = sim.step(1.0)
        events += step
        on_road = sim.in_traffic()
        for ev in by_stream(step, "traffic_data"):
            edge = sim.network.index[ev["segment_id"]]
            sensor_checks.append((ev, int(((sim.vehicles.edge == edge) & on_road).sum())))
    return sim, events, sensor_checks


def test_every_event_validates_against_the_schema(city: Any) -> None:
    sim, events, _ = city
    validator = Validator()
    seen = Counter()
    for stream, key, event in events:
        assert key == event["device_id"]
        record = validator.validate(stream, event, now=sim.now)
        assert not isinstance(record, DeadLetter), (stream, getattr(record, "reason", ""), event)
        seen[stream] += 1
    assert set(seen) == set(STREAMS)
    ids = [e["id"] for _, _, e in events]
    assert len(set(ids)) == len(ids)


def test_fields_use_the_contract_vocabulary(city: Any) -> None:
    _, events, _ = city
    for v in by_stream(events, "vehicle_data"):
        assert v["vehicle_type"] in VEHICLE_TYPES
        assert "-" in v["direction"] or v["direction"] in ("North", "East", "South", "West")
    assert {t["congestion_level"] for t in by_stream(events, "traffic_data")} <= set(CONGESTION_LEVELS)
    for e in by_stream(events, "emergency_data"):
        assert e["severity"] in SEVERITIES and e["status"] in ("Active", "Resolved")
    ts = {e["timestamp"] for _, _, e in events}
    assert min(ts) == (START + timedelta(seconds=1)).isoformat()
    assert max(ts) == (START + timedelta(seconds=240)).isoformat()


def test_fleet_has_every_vehicle_type_with_fixed_identity(city: Any) -> None:
    _, events, _ = city
    mix = fleet_mix(200)
    assert sum(mix.values()) == 200 and all(mix[t] >= 2 for t in ("ambulance", "police", "fire"))
    identity: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for v in by_stream(events, "vehicle_data"):
        identity[v["device_id"]].add((v["make"], v["model"], v["year"], v["fuel_type"], v["vehicle_type"]))
    assert len(identity) == 200
    assert all(len(ids) == 1 for ids in identity.values())
    assert {next(iter(ids))[4] for ids in identity.values()} == set(VEHICLE_TYPES)


def test_vehicles_stay_on_their_reported_road(city: Any) -> None:
    sim, events, _ = city
    net = sim.network
    for stream in ("vehicle_data", "gps_data"):
        sample = by_stream(events, stream)[::97]
        assert len(sample) > 400
        for v in sample:
            lat, lon = v["location"]
            assert metres_to_polyline(lat, lon, net.edge(v["road_segment"]).shape) < 1.0


def test_vehicles_move_along_roads_between_reports(city: Any) -> None:
    _, events, _ = city
    track: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in by_stream(events, "vehicle_data"):
        track[v["device_id"]].append(v)
    moved = 0
    for reports in track.values():
        for a, b in pairwise(reports):
            jump = metres_to_polyline(*a["location"], ((b["location"][1], b["location"][0]),) * 2)
            # No teleports, not even across junctions: at most the distance driven in one second
            # (a vehicle that has just stopped to park reports its speed now, zero).
            if b["status"] in ("driving", "patrolling", "responding"):
                assert jump <= b["speed"] / 3.6 + 0.1, (a, b)
            moved += jump > 1.0
    assert moved > 1000
    speeds = [v["speed"] for v in by_stream(events, "vehicle_data")]
    assert 10 < float(np.mean(speeds)) < 60


def test_sensor_count_is_the_vehicles_on_its_segment(city: Any) -> None:
    sim, _, checks = city
    assert len(checks) == len(sim.sensors) * 24  # every 10 s for 240 s
    assert any(count > 0 for _, count in checks)
    for event, count in checks:
        assert event["vehicle_count"] == count
        assert event["camera_id"] == event["device_id"]
        if count == 0:
            free = event["speed_limit"] * sim.weather.speed_factor
            assert event["speed"] <= free + 0.1


def test_sensor_reports_are_consistent(city: Any) -> None:
    _, events, _ = city
    per_sensor = Counter(t["device_id"] for t in by_stream(events, "traffic_data"))
    assert len(set(per_sensor.values())) == 1  # each camera exactly every interval
    busy = [t for t in by_stream(events, "traffic_data") if t["vehicle_count"] > 0]
    assert any(t["intensity"] > 0 for t in busy)
    assert all(0 <= t["occupancy"] <= 1 for t in busy)


def test_incident_lifecycle_dispatches_the_right_units() -> None:
    sim = CitySimulation(config(vehicles=120, incidents_per_hour=0))
    incident = sim.trigger_incident("accident", "low")
    assert sorted(sim.vehicles.type[i] for i in incident.responders) == ["ambulance", "police"]
    assert sim.incident_slowdown[incident.edge] < 1.0
    statuses: dict[str, list[str]] = defaultdict(list)
    reports: list[dict[str, Any]] = []
    while incident.active and sim.elapsed < 3600:
        for stream, _, e in sim.step(2.0):
            if stream == "emergency_data":
                reports.append(e)
            elif stream == "vehicle_data" and e.get("incident_id") == incident.id:
                statuses[e["device_id"]].append(e["status"])
                if e["status"] == "on_scene":
                    assert e["road_segment"] == incident.road_segment and e["speed"] == 0
                    at = ((incident.lon, incident.lat),) * 2
                    assert metres_to_polyline(*e["location"], at) < 1.0
    assert not incident.active
    assert reports[0]["status"] == "Active" and reports[-1]["status"] == "Resolved"
    assert {r["incidentId"] for r in reports} == {incident.id}
    assert len({r["device_id"] for r in reports}) == 1  # one reporting unit keys the whole story
    assert reports[0]["responders"] == 2 and reports[0]["incident_type"] == "accident"
    lead = sim.vehicles.device_id[incident.responders[0]]
    assert reports[0]["device_id"] == lead
    assert len(statuses) == 2 and all(s[0] == "responding" for s in statuses.values())
    assert any("on_scene" in s for s in statuses.values()), statuses
    assert incident.on_scene_at is not None and incident.resolved_at is not None
    assert incident.resolved_at - incident.on_scene_at >= incident.clearance_s
    assert all(sim.vehicles.status[i] == "patrolling" for i in incident.responders)
    assert all(sim.vehicles.incident[i] is None for i in incident.responders)
    assert sim.incident_slowdown.min() == 1.0  # the slowdown is gone


def _segment_speed(sim: CitySimulation, segment: str, seconds: int) -> float:
    speeds = [
        e["speed"]
        for s, _, e in run(sim, seconds)
        if s == "vehicle_data" and e["road_segment"] == segment and e["status"] == "driving"
    ]
    assert len(speeds) > 20
    return float(np.mean(speeds))


def test_an_incident_slows_traffic_on_its_road() -> None:
    net = load_network("berlin")
    probe = CitySimulation(config(vehicles=400, incidents_per_hour=0))
    edge = probe.sensors[0].edge  # the busiest road with a camera
    normal = _segment_speed(probe, net.edges[edge].id, 180)
    blocked = CitySimulation(config(vehicles=400, incidents_per_hour=0))
    blocked.trigger_incident("breakdown", "high", edge)
    slowed = _segment_speed(blocked, net.edges[edge].id, 180)
    assert slowed < 0.6 * normal


def test_rain_lowers_speeds_all_else_equal() -> None:
    speeds, factor = {}, {}
    for regime in ("Clear", "Rain"):
        sim = CitySimulation(config(vehicles=300, incidents_per_hour=0))
        sim.weather.force(regime, sim.now)
        run(sim, 30)
        samples = []
        for _ in range(90):
            sim.step(1.0)
            v = sim.vehicles.speed[sim.in_traffic()]
            samples.append(float(v[v > 1.0].mean()))  # vehicles on the move, not waiting at lights
        speeds[regime], factor[regime] = np.mean(samples), sim.weather.speed_factor
        weather = by_stream(run(sim, 60), "weather_data")
        assert {w["weather_condition"] for w in weather} == {regime}
        assert all((w["precipitation"] > 0) == (regime == "Rain") for w in weather)
    assert factor["Clear"] == 1.0 and factor["Rain"] < 0.95
    assert speeds["Rain"] / speeds["Clear"] < (1.0 + factor["Rain"]) / 2


def test_fog_cuts_visibility_and_speed() -> None:
    sim = CitySimulation(config(vehicles=0))
    sim.weather.force("Fog", sim.now)
    assert sim.weather.visibility < 1000 and sim.weather.speed_factor < 0.8
    assert sim.weather.condition == "Fog"


def test_weather_changes_smoothly_and_stations_agree() -> None:
    sim = CitySimulation(config(vehicles=0, weather_stations=4))
    events = by_stream(run(sim, 6 * 3600, dt=10.0), "weather_data")
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for w in events:
        series[w["device_id"]].append(w)
    assert len(series) == 4 and all(len(s) == 360 for s in series.values())
    conditions = set()
    for readings in series.values():
        for a, b in pairwise(readings):
            assert abs(b["temperature"] - a["temperature"]) < 1.0
            assert abs(b["humidity"] - a["humidity"]) < 5.0
            assert abs(b["wind_speed"] - a["wind_speed"]) < 4.0
            assert abs(b["precipitation"] - a["precipitation"]) < 2.0
            assert 0.5 < (b["visibility"] + 1) / (a["visibility"] + 1) < 2.0
            conditions.add(b["weather_condition"])
    assert conditions <= {"Clear", "Cloudy", "Rain", "Snow", "Fog"}
    first = [s[0]["temperature"] for s in series.values()]
    assert max(first) - min(first) < 3.0  # one city weather, small local differences


def test_air_quality_rises_with_nearby_traffic() -> None:
    net = load_network("berlin")
    weather = CityWeather(np.random.default_rng(1), START, 13.53)
    weather.force("Clear", START)
    quiet = place_stations(net, 1, np.random.default_rng(2), 60.0)[0]
    busy = place_stations(net, 1, np.random.default_rng(2), 60.0)[0]
    calm = quiet.reading(weather, np.zeros(len(net)), 0.0, np.random.default_rng(3))
    jammed = busy.reading(weather, np.full(len(net), 10.0), 0.0, np.random.default_rng(3))
    for field in ("airQualityIndex", "pm25", "no2"):
        assert jammed[field] > calm[field]


def test_same_seed_same_events_other_seed_other_events() -> None:
    first = run(CitySimulation(config(vehicles=80, incidents_per_hour=120)), 60)
    again = run(CitySimulation(config(vehicles=80, incidents_per_hour=120)), 60)
    other = run(CitySimulation(config(vehicles=80, incidents_per_hour=120, seed=7)), 60)
    assert first == again
    assert by_stream(first, "emergency_data")
    assert [e["location"] for _, _, e in first[:200]] != [e["location"] for _, _, e in other[:200]]
    assert {e["id"] for _, _, e in first}.isdisjoint({e["id"] for _, _, e in other})


def test_reports_are_staggered_over_the_interval() -> None:
    sim = CitySimulation(config(vehicles=100, report_interval_s=4.0, sensor_interval_s=10.0))
    per_step = [len(by_stream(sim.step(1.0), "gps_data")) for _ in range(40)]
    assert sum(per_step) == 100 * 10
    assert max(per_step) < 45  # spread out, not 100 at once every fourth second


def test_clock_starts_now_when_no_start_is_given() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    sim = CitySimulation(SimulationConfig(vehicles=0, start=None))
    assert before <= sim.now <= datetime.now(UTC)
    naive = CitySimulation(SimulationConfig(vehicles=0, start=datetime(2024, 1, 1, 12)))
    assert naive.now == datetime(2024, 1, 1, 12, tzinfo=UTC)
    naive.step(0.5)
    assert naive.now.isoformat() == "2024-01-01T12:00:00.500000+00:00"


def test_a_thousand_vehicles_do_not_gridlock() -> None:
    sim = CitySimulation(config(vehicles=1000, incidents_per_hour=0))
    run(sim, 240)
    samples = []
    for _ in range(60):
        sim.step(1.0)
        samples.append(float(sim.vehicles.speed[sim.in_traffic()].mean()) * 3.6)
    assert np.mean(samples) > 12.0
