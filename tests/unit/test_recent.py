"""Congestion and weather over the last hours, read from a lake the simulation filled, and
charted by the Traffic and Weather tabs."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fakeredis
import pyarrow.compute as pc
import pytest
from flask import Flask

from app import create_app
from app.console import chart, ids, recent, traffic, weather
from app.store import Store
from pipeline.lake import LakeWriter, open_lake, read_table
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, rec, simulated_lake

START = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)  # the simulated hour spans two partitions
SIMULATED = timedelta(hours=1)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One simulated hour (10-s steps) of a 40-vehicle city in a lake, from START."""
    root = tmp_path_factory.mktemp("tabs")
    simulated_lake(LakeWriter(*open_lake(str(root / "lake"))), START, steps=360, seed=7)
    return root


@pytest.fixture
def lake_app(lake: Path) -> Flask:
    return create_app(api_settings(lake), store=Store(SpeedLayer(fakeredis.FakeRedis(), "tabs:")))


@pytest.fixture
def empty_app(tmp_path: Path) -> Flask:
    return create_app(api_settings(tmp_path), store=Store(SpeedLayer(fakeredis.FakeRedis(), "tabs:")))


def test_congestion_counts_each_sensor_once_a_minute_at_its_last_level(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    rows = recent.congestion(fs, root, START, START + SIMULATED, bucket_s=60)
    assert len(rows) == 60 and rows[0]["t"] == START
    raw = read_table(fs, root, "traffic_data").to_pylist()
    last: dict[tuple[datetime, str], tuple[datetime, str]] = {}
    for r in raw:
        key = (r["event_time"].replace(second=0, microsecond=0), r["camera_id"])
        if key not in last or r["event_time"] >= last[key][0]:
            last[key] = (r["event_time"], r["congestion_level"])
    per_minute: dict[datetime, list[str]] = defaultdict(list)
    for (minute, _), (_, level) in last.items():
        per_minute[minute].append(level)
    for row in rows:
        levels = per_minute[row["t"]]
        assert row["sensors"] == len(levels) == 40
        assert [row[lvl] for lvl in ("free", "light", "moderate", "heavy", "severe")] == [
            levels.count(lvl) for lvl in ("free", "light", "moderate", "heavy", "severe")
        ]
        assert row["congested"] == row["heavy"] + row["severe"]
        assert 0 < row["mean_speed"] < 130


def test_congestion_reads_only_the_window_and_missing_hours_are_no_rows(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    # from the second half of the simulated hour on into hours no one wrote
    rows = recent.congestion(fs, root, START + timedelta(minutes=45), START + timedelta(hours=4), bucket_s=300)
    newest = pc.max(read_table(fs, root, "traffic_data")["event_time"]).as_py()
    buckets = [START + timedelta(minutes=45 + 5 * i) for i in range(12)]
    assert [r["t"] for r in rows] == [b for b in buckets if b <= newest]
    assert recent.congestion(fs, root, START - timedelta(hours=5), START - timedelta(hours=2)) == []
    assert recent.weather(*open_lake(str(lake / "nothing-here")), START, START + SIMULATED) == []


def test_the_window_ends_where_the_current_bucket_starts() -> None:
    start, end = recent.window(datetime(2026, 11, 26, 12, 7, 31, 500, tzinfo=UTC), 300)
    assert (start, end) == (datetime(2026, 11, 26, 9, 5, tzinfo=UTC), datetime(2026, 11, 26, 12, 5, tzinfo=UTC))
    assert recent.hours(start, end) == [datetime(2026, 11, 26, h, tzinfo=UTC) for h in (9, 10, 11, 12)]
    # the weather charts (means, maxima) take the bucket still filling too: a demo shows them at once
    now = datetime(2026, 11, 26, 12, 7, 31, 500, tzinfo=UTC)
    assert recent.window(now, 300, current=True) == (datetime(2026, 11, 26, 9, 5, tzinfo=UTC), now)


def test_the_traffic_tab_charts_congestion_over_the_last_hours(lake_app: Flask) -> None:
    with lake_app.test_request_context("/"):
        figure = traffic.recent_figure(START + SIMULATED + timedelta(seconds=20))
    levels = {t["name"]: t for t in figure["data"] if t.get("stackgroup")}
    assert set(levels) == {"free", "light", "moderate", "heavy", "severe"}
    minutes = len(levels["free"]["x"])
    assert minutes == 60  # the window's end is START + 1 h: the hour simulated, minute by minute
    assert all(sum(levels[lvl]["y"][i] for lvl in levels) == 40 for i in range(minutes))
    (speed,) = [t for t in figure["data"] if t.get("yaxis") == "y2"]
    assert len(speed["y"]) == minutes
    # wall-clock times in the zone asked for (UTC by default), the zone named on the axis
    assert figure["layout"]["xaxis"]["range"][1] == (START + SIMULATED).replace(tzinfo=None).isoformat()
    assert figure["layout"]["xaxis"]["title"]["text"] == "time (UTC)"


def test_an_empty_or_unreadable_lake_is_an_empty_chart_that_says_so(empty_app: Flask) -> None:
    now = datetime.now(UTC)
    with empty_app.test_request_context("/"):
        figure = traffic.recent_figure(now)
        assert figure["data"] == [] and "No traffic reports" in figure["layout"]["annotations"][0]["text"]
        assert all(f["data"] == [] for f in weather.recent_figures(now))
        # a file that is not Parquet (half copied in, say) is a message too, never an error
        fs, root = empty_app.extensions["smartcity.lake"]
        hour = recent.window(now, 60)[1] - timedelta(minutes=1)
        folder = f"{root}/traffic_data/date={hour:%Y-%m-%d}/hour={hour:%H}"
        fs.create_dir(folder)
        with fs.open_output_stream(f"{folder}/part-broken.parquet") as out:
            out.write(b"not parquet at all")
        broken = traffic.recent_figure(now)
    assert broken["data"] == [] and "could not be read" in broken["layout"]["annotations"][0]["text"]


def test_the_weather_tab_charts_each_station_over_the_last_hours(lake_app: Flask) -> None:
    with lake_app.test_request_context("/"):
        figures = weather.recent_figures(START + SIMULATED)
        fs, root = lake_app.extensions["smartcity.lake"]
    stations = sorted(set(pc.unique(read_table(fs, root, "weather_data")["device_id"]).to_pylist()))
    assert len(figures) == len(weather.SERIES) == 4
    for figure, (key, _, threshold) in zip(figures, weather.SERIES.values(), strict=True):
        assert [t["name"] for t in figure["data"]] == stations, key
        assert all(len(t["x"]) == 12 for t in figure["data"])  # 5-min buckets of one hour
        lines = figure["layout"].get("shapes", [])
        assert [s["y0"] for s in lines] == ([] if threshold is None else [threshold])
    temperatures = [v for t in figures[0]["data"] for v in t["y"]]
    assert all(-30 < v < 45 for v in temperatures)


def test_station_names_in_the_time_series_are_text() -> None:
    hour = datetime(2026, 11, 26, 10, tzinfo=UTC)
    figure = weather.series_figure([{"t": hour, "station": "<b>ws</b> & co", "aqi": 40.0}], "aqi", "AQI", (hour, hour))
    assert figure["data"][0]["name"] == "&lt;b&gt;ws&lt;/b&gt; &amp; co"  # Plotly draws <b>ws</b> & co


def test_the_tabs_read_the_lake_again_through_their_own_callbacks(empty_app: Flask) -> None:
    writer = LakeWriter(*empty_app.extensions["smartcity.lake"])
    writer.add("traffic_data", [rec("traffic_data", 600 - 60 * i, device_id="cam-1", camera_id="cam-1",
                                    location=[52.44, 13.52], speed=12.0, congestion_level="heavy")[1]
                                for i in range(5)])  # fmt: skip
    writer.flush()
    c = empty_app.test_client()
    c.get("/login?token=viewer-token")
    output = f"{ids.TRAFFIC_CONGESTION}.figure"
    assert any(d["output"] == output for d in c.get("/_dash-dependencies").json)
    stamp = {"tab": ids.TAB_TRAFFIC, "every_ms": traffic.REFRESH_MS, "at": 1}
    body = {
        "output": output,
        "outputs": {"id": ids.TRAFFIC_CONGESTION, "property": "figure"},
        "inputs": [
            {"id": ids.TRAFFIC_RECENT, "property": "data", "value": stamp},
            {"id": chart.UTC_SWITCH, "property": "value", "value": True},
        ],
        "changedPropIds": [f"{ids.TRAFFIC_RECENT}.data"],
    }
    resp = c.post("/_dash-update-component", json=body, headers={"Origin": "http://localhost"})  # as a browser
    assert resp.status_code == 200, resp.get_data(as_text=True)
    figure = resp.json["response"][ids.TRAFFIC_CONGESTION]["figure"]
    heavy = next(t for t in figure["data"] if t["name"] == "heavy")
    assert sum(heavy["y"]) == 5  # cam-1, heavy, in five of the last minutes
