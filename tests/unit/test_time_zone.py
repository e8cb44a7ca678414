"""One time zone on every chart, input and table, named; the Overview's day from the lake."""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fakeredis
import pytest
from flask import Flask, session
from pydantic import ValidationError

import app.console as console
from app import create_app, dispatcher
from app.console import chart, emergency, history, ids, overview, system, traffic, weather
from app.store import Store
from pipeline.lake import LakeWriter, open_lake
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, seed, simulated_lake

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


# --- tables, panels and grids: every printed time in the zone shown, under a header naming it ----

SHOWN = [(BERLIN, "Europe/Berlin", "2026-12-07 14:03:05 CET"), (ZoneInfo("UTC"), "UTC", "2026-12-07 13:03:05 UTC")]


def _text(component: Any) -> str:
    """Every string of a Dash component tree (or of a list of them), joined."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    children = getattr(component, "children", None)
    return _text(children) if children is not None else ""


@pytest.mark.parametrize(("tz", "name", "printed"), SHOWN)
def test_emergencys_grids_audit_log_and_details_print_the_zone_shown(tz: ZoneInfo, name: str, printed: str) -> None:
    headers = {c["field"]: c["headerName"] for c in emergency.columns(emergency.COLUMNS, tz)}
    assert headers["reported"] == f"Reported ({name})"
    resolved = {c["field"]: c["headerName"] for c in emergency.columns(emergency.RESOLVED_COLUMNS, tz)}
    assert resolved["resolved"] == f"Resolved ({name})"
    audit = _text(emergency.audit_table([{"at": WINTER.isoformat(), "user": "ada", "action": "acknowledge",
                                          "incident": "i-1"}], tz))  # fmt: skip
    assert f"When ({name})" in audit and printed in audit
    at = WINTER.isoformat()
    incident = {"id": "i-1", "incident_type": "fire", "status": "Active", "acknowledged_by": "olga",
                "acknowledged_at": at, "notes": [{"user": "olga", "at": at, "text": "on site"}],
                "history": [{"event": "reported", "at": at, "by": ""}]}  # fmt: skip
    details = _text(emergency.details(incident, tz))
    assert f"olga at {printed}" in details and f"{printed}, olga:" in details and f"When ({name})" in details
    assert details.count(printed) == 3


@pytest.mark.parametrize(("tz", "name", "printed"), SHOWN)
def test_the_webhook_panel_prints_the_zone_shown(tz: ZoneInfo, name: str, printed: str) -> None:
    # (the map panel's Last seen is drawn in the browser: tests/e2e/test_time_zone_browser.py)
    hook = {"id": "h" * 32, "url": "https://ops.example.com/x", "min_severity": "high", "rules": None,
            "status": {"delivered": 1, "failed": 1, "failed_attempts": 0, "last_outcome": "failed",
                       "last_status": 500, "last_error": "HTTP 500", "last_at": WINTER.isoformat()}}  # fmt: skip
    dead = [{"hook": "h" * 32, "alert": {"severity": "high", "kind": "aqi", "message": "m"}, "attempts": 5,
             "error": "HTTP 500", "at": WINTER.isoformat()}]  # fmt: skip
    shown = _text(system.webhook_panel([hook], dead, tz))
    assert f"Last try ({name})" in shown and f"Given up ({name})" in shown and shown.count(printed) == 2


def test_each_console_callback_that_prints_times_follows_the_utc_switch(tmp_path: Path) -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "tz-cb:")
    seed(speed)
    app = create_app(api_settings(tmp_path), store=Store(speed))
    dispatcher(app).stop()
    with app.test_request_context("/"):
        session.update(user="ada", role="admin")
        emergency.act(ids.EMERGENCY_ACK, "i-1")
        hooks: Any = app.extensions["smartcity.webhooks"]
        hook_id = hooks.add({"url": "https://ops.example.com/x", "secret": "s", "min_severity": "low"}, "ada")
        hooks.record(hook_id, "delivered", 200, None)
        for utc, name in ((False, "Europe/Berlin"), (True, "UTC")):
            tz = chart.zone(utc)
            assert f"Resolved ({name})" in str(emergency._zone_headers(utc))
            assert f"When ({name})" in _text(emergency._audit(None, utc))
            (row,) = emergency._resolved("resolved", None, None, "24", None, utc)
            assert row["resolved"] == chart.clock(row["resolved_at"], tz)
            assert f"When ({name})" in _text(emergency._details([{"id": "i-1"}], None, "active", None, utc))
            assert f"Last try ({name})" in _text(system._render_webhooks(None, utc))


def test_the_page_names_the_city_zone_in_its_one_config_object(tmp_path: Path) -> None:
    app = create_app(api_settings(tmp_path, city_timezone="America/New_York"),
                     store=Store(SpeedLayer(fakeredis.FakeRedis(), "tz-page:")))  # fmt: skip
    assert console.page_config(app)["city_time_zone"] == "America/New_York"


ASSETS = Path(__file__).resolve().parents[2] / "assets"
CONSOLE = Path(console.__file__).parent


def test_times_are_formatted_by_one_helper_on_each_side() -> None:
    """No console module prints a time by its own code (chart.py's helpers do), and no script
    but smartcity.js's one formatter (its zone read from the page's config) formats one."""
    own = re.compile(r"astimezone\(UTC\)\.strftime|fromtimestamp\([^)]*\)\.strftime|\(UTC\)\"|\" UTC\"")
    for module in CONSOLE.glob("*.py"):
        if module.name != "chart.py":
            assert not own.search(module.read_text()), f"{module.name} formats a time itself: use chart.clock"
    formats = re.compile(r"toISOString\(\)\.slice|toLocale(String|TimeString|DateString)|Intl\.DateTimeFormat|getHours")
    found = {js.name: len(formats.findall(js.read_text())) for js in ASSETS.glob("*.js")}
    assert {name: n for name, n in found.items() if n} == {"smartcity.js": 1}, found
    assert not [js.name for js in ASSETS.glob("*.js") if re.search(r"Europe/|America/", js.read_text())]


NODE_HARNESS = """
const vm = require("vm"), fs = require("fs");
const [path, config, firstSeen] = JSON.parse(process.argv[1]);
const rows = {}, listeners = {};
const shownPane = {classList: {contains: (name) => name === "active"}};  // the Emergency tab, shown
const elements = {"smartcity-live-model": {textContent: config},
                  "emergency-table": {isConnected: true, closest: (sel) => (sel === ".tab-pane" ? shownPane : null)}};
const window = {
    addEventListener: (name, fn) => { (listeners[name] = listeners[name] || []).push(fn); },
    dispatchEvent: (e) => { (listeners[e.type] || []).forEach((fn) => fn(e)); return true; },
    dash_ag_grid: {getApiAsync: (id) => Promise.resolve({setGridOption: (key, value) => { rows[id] = value; },
                                                        refreshHeader: () => { rows.headersRefreshed = true; }})},
};
const document = {getElementById: (id) => elements[id] || null, querySelectorAll: () => []};
class CustomEvent { constructor(type, init) { this.type = type; this.detail = init && init.detail; } }
const context = vm.createContext({window, document, CustomEvent, console, setTimeout, history: {}, location: {}});
vm.runInContext(fs.readFileSync(path, "utf8"), context);
const model = {kinds: {}, vehicle_fields: [], levels: [], severities: [], worst_segments: {}};
const incident = {id: "i-1", first_seen: firstSeen, severity: "high", status: "Active"};
window.smartcityLive = {model: model, city: {vehicles: new Map(), incidents: new Map([["i-1", incident]]),
                        traffic: new Map(), weather: new Map(), serverOffsetMs: 0}};
const tick = () => new Promise((done) => setTimeout(done, 0));
(async () => {
    const out = {iso: window.smartcityTime.clock(new Date(firstSeen).toJSON()),
                 naive: window.smartcityTime.clock(new Date(firstSeen).toJSON().slice(0, 19)),
                 timeOnly: window.smartcityTime.clock(firstSeen, true)};
    const named = {colDef: {headerName: "Reported (Europe/Berlin)"}};  // as the server named it
    const header = () => window.dashAgGridFunctions.smartcityTimeHeader(named);
    out.cityZone = window.dash_clientside.smartcity.timeZone(false);
    await tick();
    out.cityRow = rows["emergency-table"][0].reported;
    out.cityHeader = header();
    out.utcZone = window.dash_clientside.smartcity.timeZone(true);  // the navbar's switch, on
    await tick();
    out.utcRow = rows["emergency-table"][0].reported;
    out.utcHeader = header();
    out.headersRefreshed = rows.headersRefreshed;
    console.log(JSON.stringify(out));
})();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the console's script outside a browser")
def test_the_browsers_one_formatter_prints_the_emergency_grids_times_in_the_zone_shown() -> None:
    config = json.dumps({"city_time_zone": "Europe/Berlin"})
    args = json.dumps([str(ASSETS / "smartcity.js"), config, WINTER.timestamp() * 1000])
    done = subprocess.run(["node", "-e", NODE_HARNESS, args], capture_output=True, text=True, timeout=60, check=True)
    out = json.loads(done.stdout)
    assert out["iso"] == out["naive"] == chart.clock(WINTER, BERLIN) == "2026-12-07 14:03:05 CET"
    assert out["timeOnly"] == "14:03:05 CET"
    assert (out["cityZone"], out["cityRow"]) == ("Europe/Berlin", chart.clock(WINTER, BERLIN))
    assert (out["utcZone"], out["utcRow"]) == ("UTC", chart.clock(WINTER, ZoneInfo("UTC")))
    assert (out["cityHeader"], out["utcHeader"]) == ("Reported (Europe/Berlin)", "Reported (UTC)")
    assert out["headersRefreshed"]
