"""One time zone on every chart, input and table, named; the Overview's day from the lake."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest
from flask import Flask
from pydantic import ValidationError

from app import create_app
from app.console import chart, history, overview, system, traffic, weather
from app.store import Store
from pipeline.lake import LakeWriter, open_lake
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, simulated_lake

BERLIN = ZoneInfo("Europe/Berlin")
WINTER = datetime(2026, 12, 7, 13, 3, 5, tzinfo=UTC)  # 14:03:05 CET
SUMMER = datetime(2026, 7, 7, 13, 3, 5, tzinfo=UTC)  # 15:03:05 CEST
HOUR = datetime(2026, 12, 7, 13, tzinfo=UTC)
SPAN = (HOUR - timedelta(hours=3), HOUR + timedelta(hours=1))


def test_times_are_wall_clock_times_of_the_zone_shown() -> None:
    assert chart.zone(False, "Europe/Berlin") == BERLIN and chart.zone(True, "Europe/Berlin") == ZoneInfo("UTC")
    assert chart.times([WINTER, SUMMER, None], BERLIN) == ["2026-12-07T14:03:05", "2026-07-07T15:03:05", None]
    # epoch milliseconds (the live summaries), ISO text and a naive time (UTC) are the same moment
    same = [WINTER.timestamp() * 1000, WINTER.isoformat(), WINTER.replace(tzinfo=None)]
    assert chart.times(same, BERLIN) == ["2026-12-07T14:03:05"] * 3
    assert chart.clock(WINTER, BERLIN) == "2026-12-07 14:03:05 CET"
    assert chart.clock(SUMMER, BERLIN, "%H:%M") == "15:03 CEST"
    assert chart.clock(WINTER, ZoneInfo("UTC")) == "2026-12-07 13:03:05 UTC"
    axis = chart.time_axis(BERLIN, (HOUR, HOUR + timedelta(hours=1)))
    assert axis["title"]["text"] == "time (Europe/Berlin)" and axis["range"] == [
        "2026-12-07T14:00:00",
        "2026-12-07T15:00:00",
    ]


def test_the_city_zone_is_a_setting_the_app_passes_to_the_console(tmp_path: Path) -> None:
    assert Settings(_env_file=None).city_timezone == "Europe/Berlin"
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(_env_file=None, city_timezone="Mars/Olympus")
    app = create_app(
        api_settings(tmp_path, city_timezone="America/New_York"), store=Store(SpeedLayer(fakeredis.FakeRedis(), "tz:"))
    )
    with app.app_context():
        assert chart.city_zone() == "America/New_York" and chart.zone(False) == ZoneInfo("America/New_York")
    assert chart.city_zone() == chart.DEFAULT_ZONE  # outside an app


# Every figure builder of the console: how to draw it with one row at HOUR (None: it has no time axis).
SAMPLES: dict[Callable[..., dict[str, Any]], Callable[[Any], dict[str, Any]] | None] = {
    overview.trend_figure: lambda tz: overview.trend_figure({"t": [HOUR], "vehicles": [3]}, "vehicles", "V", tz),
    traffic.congestion_figure: lambda tz: traffic.congestion_figure(
        [{"t": HOUR, "mean_speed": 30.0, **dict.fromkeys(traffic.LEVELS, 1)}], SPAN, tz
    ),
    weather.series_figure: lambda tz: weather.series_figure(
        [{"t": HOUR, "station": "ws-1", "aqi": 40.0}], "aqi", "AQI", SPAN, None, tz
    ),
    history.traffic_figure: lambda tz: history.traffic_figure(
        [{"hour": HOUR, "camera_id": "c", "road_name": "R", "avg_speed_kmh": 20.0}], SPAN, tz
    ),
    history.incidents_figure: lambda tz: history.incidents_figure(
        [{"hour": HOUR, "incident_type": "fire", "incidents": 1}], SPAN, tz
    ),
    history.weather_figure: lambda tz: history.weather_figure(
        [{"hour": HOUR, "station": "ws", "avg_temperature_c": 3.0, "avg_aqi": 20.0}], SPAN, tz
    ),
    history.fleet_figure: lambda tz: history.fleet_figure([{"hour": HOUR, "distance_km": 4.0}], SPAN, tz),
    traffic.worst_figure: None,  # speed per segment now
    weather.readings_figure: None,  # readings per station now
}


READERS = {traffic.recent_figure}  # reads the lake, then draws congestion_figure


def test_every_figure_builder_of_the_console_is_checked_for_its_time_axis() -> None:
    builders = {
        f
        for module in (overview, traffic, weather, history, system)
        for name, f in inspect.getmembers(module, inspect.isfunction)
        if name.endswith("_figure") and f.__module__ == module.__name__
    }
    assert builders - READERS == set(SAMPLES), "a new chart: add it to SAMPLES (with its time axis, if it has one)"


@pytest.mark.parametrize("build", [b for b in SAMPLES.values() if b is not None])
@pytest.mark.parametrize(
    ("tz", "name", "first_hour"), [(BERLIN, "Europe/Berlin", "14"), (ZoneInfo("UTC"), "UTC", "13")]
)
def test_every_time_axis_names_its_zone_and_shows_its_times(
    build: Callable[[Any], dict[str, Any]], tz: ZoneInfo, name: str, first_hour: str
) -> None:
    figure = build(tz)
    axis = figure["layout"]["xaxis"]
    assert axis["title"]["text"].endswith(f"({name})"), axis
    xs = [x for trace in figure["data"] for x in trace["x"]]
    assert xs and all(f"{first_hour}:00" in str(x) or f" {first_hour}:00" in str(x) for x in xs), xs


def test_history_inputs_are_read_in_the_zone_shown_and_follow_a_switch() -> None:
    assert history.parse_range("2026-12-07T14:00", "2026-12-07T15:30", BERLIN) == (HOUR, HOUR + timedelta(minutes=90))
    # switched to UTC: the range chosen stays the same moments, shown in UTC
    with create_app(Settings(_env_file=None), store=Store(SpeedLayer(fakeredis.FakeRedis(), "tz:"))).app_context():
        start, end, label = history.inputs("24h", ZoneInfo("UTC"), "2026-12-07T14:00", "2026-12-07T15:30", rezone=True)
        assert (start, end, label) == ("2026-12-07T13:00", "2026-12-07T14:30", "From (UTC)")
        back = history.inputs("24h", BERLIN, start, end, rezone=True)
        assert back == ("2026-12-07T14:00", "2026-12-07T15:30", "From (Europe/Berlin)")
    caption = history.replay_position(0, {"vehicle": "car-1", "points": [
        {"t": WINTER.isoformat(), "lat": 52.4, "lon": 13.5, "speed": 12.0}]}, BERLIN)[2]  # fmt: skip
    assert "2026-12-07 14:03:05 CET" in caption


def test_system_tables_name_the_zone_of_their_times() -> None:
    letters = [{"received_ms": WINTER.timestamp() * 1000, "stream": "gps_data", "reason": "r", "raw": "{}"}]
    table = str(system.dead_letter_table(letters, BERLIN))
    assert "Received (Europe/Berlin)" in table and "2026-12-07 14:03:05 CET" in table


def test_a_fresh_console_shows_yesterdays_events_in_the_overview_trends(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=22)  # a whole hour, the day before
    simulated_lake(LakeWriter(*open_lake(str(tmp_path / "lake"))), start, steps=359, seed=3)  # up to :59:50
    app = create_app(api_settings(tmp_path), store=Store(SpeedLayer(fakeredis.FakeRedis(), "fresh:")))
    overview.lake_trend(app).refresh(app, now)  # the read the Overview starts in the background
    with app.test_request_context("/"):  # a console just started: no live summary recorded
        vehicles, speed, congested, events = overview.day_figures(now, BERLIN)
    (line,) = vehicles["data"]
    at = dict(zip(line["x"], line["y"], strict=True))
    middle = chart.wall(start + timedelta(minutes=30), BERLIN).isoformat()
    assert at[middle] == 40  # the simulated city's 40 vehicles, at the middle of their hour, in Berlin time
    assert vehicles["layout"]["xaxis"]["title"]["text"] == "time (Europe/Berlin)"
    assert [y for y in line["y"] if y is not None] == [40]  # the hours without reports are gaps, not zeros
    assert vehicles["layout"]["xaxis"]["range"] == chart.times((now - timedelta(hours=24), now), BERLIN)

    def there(figure: dict[str, Any], trace: int = 0) -> Any:
        return dict(zip(figure["data"][trace]["x"], figure["data"][trace]["y"], strict=True))[middle]

    assert 0 < there(speed) < 130 and there(congested) is not None
    streams = {trace["name"]: there(events, i) for i, trace in enumerate(events["data"])}
    assert {"gps", "traffic", "weather"} <= set(streams) and streams["gps"] > 0


def test_live_points_follow_the_lakes_hours() -> None:
    day = {"t": [HOUR, HOUR + timedelta(hours=1)], "vehicles": [40, 41]}
    live_start = HOUR + timedelta(minutes=50)
    live = {"t": [live_start.timestamp() * 1000], "vehicles": [42]}
    assert overview.joined(day, live)["vehicles"] == [40, 42]  # the lake's later point lies among the live minutes
    assert overview.joined(day, None)["vehicles"] == [40, 41]


def test_the_lakes_day_is_read_at_most_once_a_minute_and_kept_when_the_lake_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[datetime] = []

    def read(now: datetime) -> dict[str, Any]:
        reads.append(now)
        return {"t": [now], "vehicles": [len(reads)]}

    monkeypatch.setattr(overview, "lake_history", read)
    app = Flask(__name__)
    cache = overview.LakeTrend(ttl=60)
    with app.app_context():
        first = cache.points(HOUR)  # the first read is waited for
        assert first is not None and first["vehicles"] == [1]
        assert cache.points(HOUR) is first and len(reads) == 1  # within the minute: no second read

    def fail(now: datetime) -> dict[str, Any]:
        raise OSError("the lake is away")

    monkeypatch.setattr(overview, "lake_history", fail)
    cache.refresh(app, HOUR)
    assert cache.points(HOUR) is first  # what was read last stays drawn
