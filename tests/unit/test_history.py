"""History endpoints and batch views over a lake the simulation filled."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import fakeredis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flask import Flask

from app import create_app
from app.console import history as history_tab
from app.store import Store
from pipeline.lake import LakeWriter, open_lake, read_table
from pipeline.speed_layer import SpeedLayer
from pipeline.views import hourly, route
from tests.city import api_settings, simulated_lake

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer viewer-token"}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated hours (10-s steps) of a 40-vehicle city, written to a lake."""
    root = tmp_path_factory.mktemp("history")
    simulated_lake(LakeWriter(*open_lake(str(root / "lake"))), START, incidents_per_hour=12, seed=4)
    return root


@pytest.fixture
def history_app(lake: Path) -> Flask:
    settings = api_settings(lake)  # lake_uri = <lake>/lake
    return create_app(settings, store=Store(SpeedLayer(fakeredis.FakeRedis(), "h:")))


def test_hourly_traffic_matches_the_raw_reports(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    rows = hourly("traffic", fs, root, START, START + timedelta(hours=3))
    raw = read_table(fs, root, "traffic_data").to_pylist()
    assert sum(r["reports"] for r in rows) == len(raw)
    first = next(r for r in rows if r["hour"] == START and r["camera_id"] == "cam-001")
    speeds = [r["speed"] for r in raw if r["camera_id"] == "cam-001" and r["event_time"] < START + timedelta(hours=1)]
    assert first["avg_speed_kmh"] == pytest.approx(sum(speeds) / len(speeds), abs=0.01)
    assert {r["hour"] for r in rows} == {START + timedelta(hours=h) for h in range(3)}  # the last report is 12:00


def test_incidents_are_counted_once_in_the_hour_they_started(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    rows = hourly("incidents", fs, root, START, START + timedelta(hours=3))
    raw = read_table(fs, root, "emergency_data").to_pylist()
    assert sum(r["incidents"] for r in rows) == len({r["incidentId"] for r in raw}) > 0


def test_a_vehicle_route_is_in_time_order(lake: Path) -> None:
    fs, root = open_lake(str(lake / "lake"))
    points = route(fs, root, "car-0001", START, START + timedelta(minutes=30))
    assert len(points) == 179  # one report per 10-s step: 10:00:10 … 10:29:50
    assert [p["event_time"] for p in points] == sorted(p["event_time"] for p in points)
    assert route(fs, root, "nobody", START, START + timedelta(hours=1)) == []


def test_history_api_as_json_csv_and_parquet(history_app: Flask) -> None:
    client = history_app.test_client()
    q = urlencode({"start": START.isoformat().replace("+00:00", "Z"), "end": (START + timedelta(hours=2)).isoformat()})
    body = client.get(f"/api/history/weather?{q}", headers=AUTH).json
    assert body["count"] > 0 and {"station", "avg_temperature_c", "avg_aqi"} <= set(body["rows"][0])
    as_csv = client.get(f"/api/history/weather?{q}&format=csv", headers=AUTH)
    assert as_csv.mimetype == "text/csv" and "attachment" in as_csv.headers["Content-Disposition"]
    assert len(list(csv.DictReader(io.StringIO(as_csv.data.decode())))) == body["count"]
    as_parquet = client.get(f"/api/history/weather?{q}&format=parquet", headers=AUTH)
    assert pq.read_table(pa.BufferReader(as_parquet.data)).num_rows == body["count"]
    route_body = client.get(f"/api/history/vehicles/car-0001/route?{q}", headers=AUTH).json
    assert route_body["count"] == 719  # 10:00:10 … 11:59:50, the range ends before 12:00


@pytest.mark.parametrize(
    ("query", "status"),
    [("start=2026-11-27T00:00:00&end=2026-11-26T00:00:00", 400), ("start=yesterday", 400),
     ("start=2026-01-01T00:00:00&end=2026-11-01T00:00:00", 400), ("format=xml", 400)],
)  # fmt: skip
def test_history_rejects_bad_ranges_and_formats(history_app: Flask, query: str, status: int) -> None:
    resp = history_app.test_client().get(f"/api/history/traffic?{query}", headers=AUTH)
    assert resp.status_code == status and resp.is_json
    assert history_app.test_client().get("/api/history/nope", headers=AUTH).status_code == 404


def test_the_history_tab_draws_the_range_and_links_its_data(history_app: Flask) -> None:
    start, end = (
        START.strftime(history_tab.INPUT_FORMAT),
        (START + timedelta(hours=2)).strftime(history_tab.INPUT_FORMAT),
    )
    with history_app.test_request_context("/"):
        traffic_fig, incidents_fig, weather_fig, traffic_links, _, _, message = history_tab.load(start, end)
        fs, root = history_app.extensions["smartcity.lake"]
        incidents = hourly("incidents", fs, root, START, START + timedelta(hours=2))
        traffic = hourly("traffic", fs, root, START, START + timedelta(hours=2))
    assert message == ""
    (heatmap,) = traffic_fig["data"]
    assert heatmap["type"] == "heatmap" and len(heatmap["x"]) == 2 and 0 < len(heatmap["y"]) <= history_tab.MAX_SEGMENTS
    speeds = [v for row in heatmap["z"] for v in row if v is not None]
    assert speeds and all(v >= 0 for v in speeds)
    shown = {label.rsplit("(", 1)[1].rstrip(")") for label in heatmap["y"]}
    assert len(speeds) == sum(1 for r in traffic if r["camera_id"] in shown)
    assert sum(sum(t["y"]) for t in incidents_fig["data"]) == sum(r["incidents"] for r in incidents) > 0
    assert len(weather_fig["data"]) == 2 * len({t["name"].split(" ")[0] for t in weather_fig["data"]})
    # the links download the chart's data as CSV with the console's login (no bearer token)
    client = history_app.test_client()
    client.get("/login?token=viewer-token")
    csv_link = next(a.href for a in traffic_links if "format=csv" in a.href)
    resp = client.get(csv_link)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.data.decode())))
    assert len(rows) == len(traffic)


def test_the_history_tab_replays_a_vehicle_route(history_app: Flask) -> None:
    start, end = (
        START.strftime(history_tab.INPUT_FORMAT),
        (START + timedelta(minutes=30)).strftime(history_tab.INPUT_FORMAT),
    )
    with history_app.test_request_context("/"):
        replay, positions, last, first, links, viewport = history_tab.route("car-0001", start, end)
        assert history_tab.route("nobody", start, end)[1] == []
    assert len(positions) == len(replay["points"]) == 179 and (first, last) == (0, 178)
    assert viewport["bounds"][0][0] <= positions[0][0] <= viewport["bounds"][1][0]
    assert "/api/history/vehicles/car-0001/route?" in links[0].href
    centre, radius, caption = history_tab.replay_position(10, replay)
    assert centre == positions[10] and radius > 0 and "point 11 of 179" in caption
    assert history_tab.replay_position(0, {"vehicle": "x", "points": []})[2].startswith("No positions of x")


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [("", "2026-11-26T10:00", "Choose"), ("2026-11-26T10:00", "2026-11-26T09:00", "before"),
     ("2026-01-01T00:00", "2026-03-01T00:00", "31 days")],
)  # fmt: skip
def test_the_history_tab_says_what_is_wrong_with_a_range(start: str, end: str, problem: str) -> None:
    message = history_tab.parse_range(start, end)
    assert isinstance(message, str) and problem in message


def test_history_presets_end_at_the_next_minute() -> None:
    start, end = history_tab.preset_range("6h", datetime(2026, 11, 27, 8, 15, 30, tzinfo=UTC))
    assert end == datetime(2026, 11, 27, 8, 16, tzinfo=UTC) and end - start == timedelta(hours=6)


def test_the_incidents_chart_ticks_whole_counts() -> None:
    from app.console import history as tab

    hour = "2026-12-07T10:00:00+00:00"
    few = tab.incidents_figure([{"incident_type": "fire", "hour": hour, "incidents": 1}])["layout"]["yaxis"]
    assert few["dtick"] == 1 and few["tick0"] == 0  # Plotly alone ticks 0, 0.5, 1 for one incident
    many = tab.incidents_figure([{"incident_type": "fire", "hour": hour, "incidents": 40}])["layout"]["yaxis"]
    assert "dtick" not in many and many["tickformat"] == "d"


def test_each_history_chart_downloads_under_its_own_name() -> None:
    from app.console import history as tab

    names = {
        tab.graph_config("png", graph_id)["toImageButtonOptions"]["filename"] for graph_id in (*tab.CHARTS, tab.FLEET)
    }
    assert names == {f"smartcity-{graph_id}" for graph_id in (*tab.CHARTS, tab.FLEET)} and len(names) == 4
    assert tab.graph_config("svg", tab.FLEET)["toImageButtonOptions"]["format"] == "svg"


def test_the_replay_button_labels_use_glyphs_every_font_has() -> None:
    from app.console import history as tab

    playing, paused = tab._play(1, True), tab._play(2, False)
    assert playing == (False, "\u2016 Pause") and paused == (True, "\u25b6 Replay")
    assert "\u23f8" not in playing[1]  # drew as a box in Chromium on Debian
