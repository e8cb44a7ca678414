"""A week of history in seconds: the simulated past, through the validator to the lake, and
what History then shows of it (day and night), with the heatmap and route fixes."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import fakeredis
import pytest
from flask import Flask

from app import create_app
from app.console import history as history_tab
from app.store import Store
from pipeline.lake import LakeWriter, open_lake, read_table
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from pipeline.validation import Validator
from pipeline.views import hourly, read_view
from producers.backfill import BackgroundBackfill, backfill
from producers.daylife import LifeConfig
from producers.simulation import CitySimulation, SimulationConfig
from producers.week import WeekSimulation
from tests.city import api_settings, rec
from tests.unit.test_network import metres_to_polyline

BERLIN = ZoneInfo("Europe/Berlin")
END = datetime(2026, 12, 3, 0, 0, tzinfo=BERLIN).astimezone(UTC)  # local midnight, a Thursday, in the past
# (the validator re-times events from the future: a backfill always ends by now)
AUTH = {"Authorization": "Bearer viewer-token"}


def week_config(vehicles: int = 60) -> SimulationConfig:
    return SimulationConfig(vehicles=vehicles, incidents_per_hour=20, life=LifeConfig())


@pytest.fixture(scope="module")
def one_day() -> tuple[WeekSimulation, list[tuple[int, datetime, list[Any]]]]:
    week = WeekSimulation(week_config(), END - timedelta(days=1), END)
    return week, list(week.hours())


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    """A week of a 40-vehicle city backfilled into a lake by two workers, with its progress reports."""
    root = tmp_path_factory.mktemp("backfill")
    settings = Settings(_env_file=None, lake_uri=str(root / "lake"), vehicles=40, traffic_sensors=8)
    reports: list[dict[str, Any]] = []
    result = backfill(settings, 7, END, reports.append, workers=2)
    return root, result, reports


@pytest.fixture
def history_app(backfilled: Any) -> Flask:
    root, _, _ = backfilled
    return create_app(api_settings(root), store=Store(SpeedLayer(fakeredis.FakeRedis(), "bf:")))


def test_every_backfilled_event_validates_and_lies_on_its_road(one_day: Any) -> None:
    week, hours = one_day
    validator = Validator()
    gps = 0
    for _, _, events in hours:
        for stream, key, event in events[::50]:
            assert isinstance(validator.validate(stream, event), dict), event
            assert key == event["device_id"]
            if stream == "gps_data":
                gps += 1
                lat, lon = event["location"]
                assert metres_to_polyline(lat, lon, week.network.edge(event["road_segment"]).shape) < 1.0
    assert gps > 100
    ids = [e["id"] for _, _, events in hours for _, _, e in events]
    assert len(ids) == len(set(ids))


def test_the_backfill_is_the_live_fleet_by_day_and_night(one_day: Any) -> None:
    week, hours = one_day
    live = CitySimulation(SimulationConfig(vehicles=60, start=END))
    assert week.fleet.device_id == live.vehicles.device_id and week.fleet.static == live.vehicles.static
    per_hour = {h.astimezone(BERLIN).hour: {k for s, k, _ in ev if s == "gps_data"} for _, h, ev in hours}
    night = sum(len(per_hour[h]) for h in (2, 3, 4))
    day = sum(len(per_hour[h]) for h in (10, 11, 12))
    assert night < 0.4 * day, {h: len(v) for h, v in per_hour.items()}
    speeds: dict[int, list[float]] = defaultdict(list)
    for _, h, ev in hours:
        speeds[h.astimezone(BERLIN).hour] += [e["speed"] for s, _, e in ev if s == "traffic_data"]
    rush, quiet = speeds[8], speeds[3]
    assert sum(rush) / len(rush) < 0.8 * sum(quiet) / len(quiet)  # the roads are slower in the rush hour
    assert any(s == "emergency_data" for _, _, ev in hours for s, _, _ in ev)


def test_workers_sharing_the_hours_write_the_same_events() -> None:
    start = END - timedelta(hours=3)
    whole = {n: ev for n, _, ev in WeekSimulation(week_config(30), start, END).hours()}
    even = {n: ev for n, _, ev in WeekSimulation(week_config(30), start, END).hours(lambda n: n % 2 == 0)}
    odd = {n: ev for n, _, ev in WeekSimulation(week_config(30), start, END).hours(lambda n: n % 2 == 1)}
    assert len(whole) == 3 and all(whole[n] for n in whole)
    assert {n: whole[n] for n in whole if n % 2 == 0} == {n: even[n] for n in even if n % 2 == 0}
    assert {n: whole[n] for n in whole if n % 2 == 1} == {n: odd[n] for n in odd if n % 2 == 1}


def test_a_backfilled_week_is_in_the_lake_with_its_views(backfilled: Any) -> None:
    root, result, reports = backfilled
    assert result["state"] == "done" and result["dead_letters"] == 0 and result["workers"] == 2
    fractions = [r["fraction"] for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [r["state"] for r in reports][-2:] == ["views", "done"]
    fs, lake = open_lake(str(root / "lake"))
    gps = read_table(fs, lake, "gps_data")
    assert gps.num_rows == result["rows"]["gps_data"] > 10_000
    first, last = min(gps["event_time"].to_pylist()), max(gps["event_time"].to_pylist())
    assert first < END - timedelta(days=6, hours=23) and last < END
    assert read_table(fs, lake, "_deadletter").num_rows == 0
    distance = read_view(fs, lake, "distance")
    assert distance.num_rows == result["views"]["distance"] > 0
    assert min(distance["hour"].to_pylist()) <= END - timedelta(days=6, hours=23)


def test_the_history_api_shows_night_and_day_over_the_week(history_app: Flask) -> None:
    query = urlencode({"start": (END - timedelta(days=7)).isoformat(), "end": END.isoformat()})
    client = history_app.test_client()
    rows: list[dict[str, Any]] = client.get(f"/api/history/distance?{query}", headers=AUTH).get_json()["rows"]
    vehicles: dict[str, int] = defaultdict(int)
    for row in rows:
        vehicles[row["hour"]] += 1
    by_local_hour: dict[int, list[int]] = defaultdict(list)
    for hour, count in vehicles.items():
        by_local_hour[datetime.fromisoformat(hour).astimezone(BERLIN).hour].append(count)
    assert len(vehicles) >= 7 * 24 - 2  # every hour of the week has vehicles about
    night = [c for h in (2, 3, 4) for c in by_local_hour[h]]
    day = [c for h in (10, 11, 12, 13) for c in by_local_hour[h]]
    assert max(night) < min(day), (night, day)
    incidents = client.get(f"/api/history/incidents?{query}", headers=AUTH).get_json()["rows"]
    assert sum(r["incidents"] for r in incidents) > 7 * 24 * 10


def test_the_history_tab_charts_the_fleet_by_hour(history_app: Flask) -> None:
    start, end = ((END - timedelta(days=1)).strftime(history_tab.INPUT_FORMAT), END.strftime(history_tab.INPUT_FORMAT))
    with history_app.test_request_context("/"):
        figure, links = history_tab.load_fleet(start, end)
    bars, line = figure["data"]
    assert len(bars["x"]) == 24 and max(bars["y"]) <= 40 and min(bars["y"]) < max(bars["y"]) / 2
    assert line["yaxis"] == "y2" and max(line["y"]) > 0
    assert "/api/history/distance?" in links[0].href


def test_the_history_tab_reads_whole_hours_from_the_written_views(history_app: Flask, backfilled: Any) -> None:
    root, _, _ = backfilled
    fs, lake = open_lake(str(root / "lake"))
    start, end = END - timedelta(days=2, minutes=30), END  # a part-hour, then whole hours
    with history_app.test_request_context("/"):
        rows = history_tab.hourly_rows("distance", start, end)
    direct = hourly("distance", fs, lake, start, end)  # every hour from the events
    assert Counter(r["hour"] for r in rows) == Counter(r["hour"] for r in direct)
    assert len(rows) == len(direct) > 0


def test_the_speed_heatmap_is_red_when_slow_and_green_when_fast() -> None:
    hour = datetime(2026, 12, 1, 8, tzinfo=UTC)
    rows = [{"camera_id": "cam-1", "road_name": "A", "hour": hour, "avg_speed_kmh": 5.0},
            {"camera_id": "cam-2", "road_name": "B", "hour": hour, "avg_speed_kmh": 50.0}]  # fmt: skip
    scale = history_tab.traffic_figure(rows)["data"][0]["colorscale"]
    assert isinstance(scale, list)  # a name the bundled plotly.js may not know falls back silently

    def rgb(colour: str) -> tuple[int, int, int]:
        return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)

    slow, fast = rgb(scale[0][1]), rgb(scale[-1][1])
    assert slow[0] > 2 * slow[1] and fast[1] > 1.5 * fast[0]  # 0 km/h red, the top speed green


def test_a_route_that_never_moved_is_a_point_not_a_line(tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path), store=Store(SpeedLayer(fakeredis.FakeRedis(), "p:")))
    writer = LakeWriter(*app.extensions["smartcity.lake"])
    writer.add("gps_data", [rec("gps_data", 300 - 60 * i, device_id="car-still", location=[52.44, 13.52],
                                speed=0.0)[1] for i in range(4)])  # fmt: skip
    writer.flush()
    now = datetime.now(UTC)
    start, end = ((now - timedelta(hours=1)).strftime(history_tab.INPUT_FORMAT),
                  (now + timedelta(minutes=2)).strftime(history_tab.INPUT_FORMAT))  # fmt: skip
    with app.test_request_context("/"):
        replay, positions, last, _, _, viewport = history_tab.route("car-still", start, end)
    assert len(replay["points"]) == 4 and last == 3
    assert positions == []  # no line of zero length
    assert viewport["center"] == [52.44, 13.52] and "bounds" not in viewport  # bounds of no size: NaN zoom
    centre, radius, _ = history_tab.replay_position(0, replay)
    assert centre == [52.44, 13.52] and radius > 0  # the point is drawn


def test_the_background_backfill_says_how_far_it_is() -> None:
    job = BackgroundBackfill(Settings(_env_file=None, vehicles=10), 7)
    assert "0% of 7 days" in job.describe()
    job._status = {"state": "running", "days": 7, "fraction": 0.43, "events": 1234}
    assert job.describe() == "history backfill 43% of 7 days, 1234 events written"
    job._status = {"state": "done", "days": 7, "fraction": 1.0, "events": 99, "seconds": 80.2}
    assert job.describe() == "history backfilled: 7 days, 99 events in 80 s"
    assert job.status()["state"] == "done"


def test_history_goes_before_what_the_lake_holds_never_on_top(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, lake_uri=str(tmp_path / "lake"), vehicles=10, traffic_sensors=2)
    live_from = END - timedelta(hours=2)
    live = Validator().validate("gps_data", {"device_id": "car-0001", "timestamp": live_from.isoformat(),
                                             "location": [52.44, 13.52], "speed": 20.0})  # fmt: skip
    assert isinstance(live, dict)
    writer = LakeWriter(*open_lake(settings.lake_uri))
    writer.add("gps_data", [live])
    writer.flush()
    first = backfill(settings, 0.25, END, workers=1)  # 6 hours asked for, up to where the live city began
    assert first["end"] == live_from.isoformat() and first["events"] > 0
    fs, lake = open_lake(settings.lake_uri)
    times = read_table(fs, lake, "gps_data")["event_time"].to_pylist()
    assert sum(t >= live_from for t in times) == 1  # the live report alone
    again = backfill(settings, 0.25, END, workers=1)  # a restart: the lake has these hours already
    assert again["state"] == "done" and again["events"] == 0
    assert read_table(fs, lake, "gps_data").num_rows == len(times)
