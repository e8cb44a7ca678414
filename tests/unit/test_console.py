"""The console without a browser: layout, ids, and the functions behind its callbacks."""

from __future__ import annotations

import gzip
import html
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dash
import fakeredis
import pytest
from dash.development.base_component import Component
from flask import Flask, session

from app import create_app
from app.console import emergency, feed, history, ids, layout, overview, system, traffic, weather
from app.console import map as map_tab
from app.store import Store
from pipeline import live_model
from pipeline.accounting import ProcessorStatus, StatusPublisher
from pipeline.lake import LakeWriter
from pipeline.processor import BatchProcessor, RawEvent
from pipeline.schemas import VEHICLE_TYPES
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer
from producers.network import load_network
from tests.city import api_settings

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def ctx(app: Flask) -> Iterator[Flask]:
    with app.test_request_context("/"):
        yield app


def component_ids(component: Any) -> list[Any]:
    """Every id in a component tree."""
    found = []
    if isinstance(component, Component):
        if getattr(component, "id", None) is not None:
            found.append(component.id)
        for prop in getattr(component, "_prop_names", []):
            value = getattr(component, prop, None)
            if isinstance(value, Component | list | tuple):
                found += component_ids(value)
    elif isinstance(component, list | tuple):
        for child in component:
            found += component_ids(child)
    return found


def test_ids_are_unique_and_prefixed_by_feature() -> None:
    values = [v for k, v in vars(ids).items() if k.isupper()]
    assert len(values) == len(set(values))
    for name, value in vars(ids).items():
        if name.isupper():
            assert value.split("-")[0] == name.split("_")[0].lower()


def test_the_layout_builds_with_unique_ids_and_every_tab(ctx: Flask) -> None:
    page = layout.build()
    everything = [page, *(build() for build in layout.LAZY.values())]  # with the tabs built when first shown
    found = [json.dumps(i, sort_keys=True) if isinstance(i, dict) else i for c in everything for i in component_ids(c)]
    assert [i for i, n in Counter(found).items() if n > 1] == []
    for needed in (ids.MAP, ids.MAP_LAYERS, ids.MAP_ROADS, ids.EMERGENCY_TABLE, ids.SHELL_BADGE):
        assert needed in found
    # the page as loaded has no grid: AG Grid's 872 KB chunk and set-up wait for a tab that shows one
    grids = [[type(c).__name__ for c in built._traverse()].count("AgGrid") for built in everything]
    assert grids[0] == 0 and grids[1 + list(layout.LAZY).index(ids.TAB_EMERGENCY)] == 2
    assert [i for i in found if str(i).startswith("feed-")] == []  # live data is in no store
    tabs = [t.tab_id for t in layout.tabs().children]
    assert tabs == [ids.TAB_OVERVIEW, ids.TAB_MAP, ids.TAB_EMERGENCY, ids.TAB_TRAFFIC, ids.TAB_WEATHER, ids.TAB_HISTORY,
                    ids.TAB_SYSTEM]  # fmt: skip


def served(node: Any) -> Iterator[dict[str, Any]]:
    """Every component of a layout as Dash serves it (JSON)."""
    if isinstance(node, list):
        for child in node:
            yield from served(child)
    elif isinstance(node, dict):
        if "props" in node:
            yield node
        for value in node.get("props", node).values():
            if isinstance(value, dict | list):
                yield from served(value)


def test_the_road_network_is_fetched_by_its_layer_not_carried_in_the_layout(app: Flask) -> None:
    c = app.test_client()
    assert c.get(map_tab.ROADS_PATH).status_code == 302  # the console's data: after login
    c.get("/login?token=viewer-token")
    page = c.get("/_dash-layout")
    assert b'"coordinates"' not in page.data and len(page.data) < 100_000  # the network was 256 KB of it
    with app.test_request_context("/"):
        network = map_tab.network()
    roads = next(c for c in served(page.json) if c.get("props", {}).get("id") == ids.MAP_ROADS)
    assert "data" not in roads["props"]
    url = roads["props"]["url"]
    assert url.startswith(map_tab.ROADS_PATH + "?")
    plain = c.get(url, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers
    assert json.loads(plain.data) == network
    zipped = c.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and len(zipped.data) < len(plain.data) / 3
    assert json.loads(gzip.decompress(zipped.data)) == network
    # cached under its tag, which is in the address too (a new network, a new address)
    tag = zipped.headers["ETag"]
    assert tag.strip('"') in url
    assert c.get(url, headers={"If-None-Match": tag}).status_code == 304


def test_the_console_is_served_at_root_with_local_assets_only(app: Flask) -> None:
    c = app.test_client()
    assert c.get("/").status_code == 302  # login first
    c.get("/login?token=viewer-token")
    page = c.get("/").get_data(as_text=True)
    assert "/assets/bootstrap.min.css" in page and "/assets/smartcity.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower()
    assert c.get("/_dash-layout").status_code == 200


def test_every_console_gets_its_callbacks(tmp_path: Path, app: Flask) -> None:
    other = create_app(api_settings(tmp_path))
    for server in (app, other):
        console: dash.Dash = server.extensions["smartcity.console"]
        c = server.test_client()
        c.get("/login?token=viewer-token")
        outputs = [cb["output"] for cb in c.get("/_dash-dependencies").json]
        assert any(ids.EMERGENCY_FEEDBACK in o for o in outputs), console


# what shows live data: drawn in the browser from the live message, never a callback's output
LIVE_FIGURES = (
    "feed-", "overview-card", ids.EMERGENCY_TABLE, ids.EMERGENCY_ALERT, ids.TRAFFIC_TABLE, ids.TRAFFIC_WORST,
    ids.WEATHER_TABLE, ids.WEATHER_CHART, ids.WEATHER_ADVISORIES, ids.SYSTEM_LIVE, ids.SHELL_BADGE,
    f"{ids.MAP_DETAILS}.children",  # the selection's details (assets/smartcity_details.js)
)  # fmt: skip


def test_no_dash_callback_carries_live_data(app: Flask) -> None:
    c = app.test_client()
    c.get("/login?token=viewer-token")
    deps = c.get("/_dash-dependencies").json
    outputs = [o for d in deps for o in d["output"].strip(".").split("...") if o]
    carried = [o for o in outputs if o.startswith(LIVE_FIGURES)]
    assert carried == []
    page = c.get("/").get_data(as_text=True)  # the live client, the map's layers, and the model they read
    assert (
        "/assets/smartcity_live.js" in page
        and "/assets/smartcity_map.js" in page
        and 'id="smartcity-live-model"' in page
    )


def test_the_poll_needs_a_login(app: Flask) -> None:
    assert app.test_client().post("/_dash-update-component", json={}).status_code == 401


def test_the_console_summary_derives_speed_severities_weather_and_events(ctx: Flask) -> None:
    store: Store = ctx.extensions["smartcity.store"]
    summary = feed.console_summary(store, now_ms=1e12, acc={"totals": {"received": 42}},
                                   vehicles=store.vehicle_locations(limit=10))  # fmt: skip
    assert summary["avg_speed"] == round((31 + 22 + 50) / 3, 1)
    assert summary["incidents_by_severity"] == {"high": 1}
    assert summary["events_received"] == 42 and summary["avg_temperature"] == 7.5


def test_accounting_is_read_from_the_app_when_present(ctx: Flask) -> None:
    assert feed.accounting() is None  # no processor here, none publishing
    ctx.extensions["smartcity.accounting"] = lambda: {"name": "mine", "totals": {"received": 1}}
    acc = feed.accounting()
    assert acc is not None and acc["totals"] == {"received": 1}
    assert [(p["name"], p["state"], p["in_process"]) for p in acc["processors"]] == [("mine", "running", True)]


def test_the_map_centres_on_the_network_and_tiles_are_configurable(ctx: Flask) -> None:
    roads = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[13.0, 52.0], [14.0, 53.0]]}}
        ],
    }
    assert map_tab.bbox_centre(roads) == (52.5, 13.5)
    ctx.config["SMARTCITY_NETWORK_GEOJSON"] = roads
    assert map_tab.network() is roads
    assert map_tab.layout().children[0].children[0].children.center == (52.5, 13.5)
    ctx.config["SMARTCITY_TILE_URL"] = "http://tiles.local/{z}/{x}/{y}.png"
    assert map_tab.tile_layer()[0].url == "http://tiles.local/{z}/{x}/{y}.png"
    ctx.config["SMARTCITY_TILE_URL"] = ""
    assert map_tab.tile_layer() == []  # roads only, nothing fetched from outside


def test_the_default_network_is_the_simulated_city(ctx: Flask) -> None:
    ctx.config["SMARTCITY_NETWORK_GEOJSON"] = None
    roads = map_tab.network()
    assert len(roads["features"]) > 100
    lat, lon = map_tab.bbox_centre(roads)
    assert 52.40 < lat < 52.47 and 13.50 < lon < 13.56


def test_the_incident_grid_draws_text_and_its_buttons_follow_the_role(ctx: Flask) -> None:
    grid = emergency.incident_grid().to_plotly_json()["props"]
    assert grid["getRowId"] == "params.data.id" and grid["rowData"] == []  # filled in the browser, by id
    assert grid["dashGridOptions"]["rowSelection"]["mode"] == "singleRow"
    assert not [c for c in grid["columnDefs"] if "cellRenderer" in c]  # AG Grid's default: cells as text
    labels = [b.children for b in emergency.actions(can_act=False).children[1:]]
    assert labels == ["Show on map"]
    labels = [b.children for b in emergency.actions(can_act=True).children[1:]]
    assert labels == ["Show on map", "Acknowledge", "Resolve"]
    assert emergency.selected_id([{"id": "i-9", "lat": 1.0}]) == "i-9" and emergency.selected_id([]) is None


def test_a_viewer_cannot_act_and_an_operator_resolves(ctx: Flask) -> None:
    session.update(user="vic", role="viewer")
    message, colour = emergency.act(ids.EMERGENCY_RESOLVE, "i-1")
    assert colour == "danger"
    session.update(user="olga", role="operator")
    message, colour = emergency.act(ids.EMERGENCY_ACK, "i-1")
    assert colour == "success", message
    message, colour = emergency.act(ids.EMERGENCY_RESOLVE, "i-1")
    assert colour == "success", message
    store: Store = ctx.extensions["smartcity.store"]
    assert store.incidents("active") == []
    assert emergency.act(ids.EMERGENCY_RESOLVE, "nope")[1] == "danger"


def test_trend_history_keeps_the_last_points_and_events_per_second_per_stream() -> None:
    history = None
    for second in range(5):
        rates = {"vehicle_data": 200.0 + second, "weather_data": 4.0}
        summary = {"now_ms": second * 1000, "active_vehicles": second, "events_per_s": rates}
        history = overview.append_point(history, summary, limit=3)
    assert history is not None
    assert history["vehicles"] == [2, 3, 4] and history["events_per_s"] == [206.0, 207.0, 208.0]
    figure = overview.trend_figure(history, "vehicles", "Active vehicles")
    assert figure["data"][0]["y"] == [2, 3, 4]
    assert figure["data"][0]["x"] == ["1970-01-01T00:00:02", "1970-01-01T00:00:03", "1970-01-01T00:00:04"]  # UTC
    events = overview.trend_figure(history, "events_per_s", "Events / s")
    assert {(t["name"], tuple(t["y"])) for t in events["data"]} == {("vehicle", (202.0, 203.0, 204.0)),
                                                                     ("weather", (4.0, 4.0, 4.0))}  # fmt: skip
    cards = json.dumps([c.to_plotly_json() for c in overview.kpi_cards()], default=lambda c: c.to_plotly_json())
    assert all(f'"overview-card-{key}"' in cards for key, _ in overview.CARDS)  # the browser fills these


def test_the_trend_keeps_one_summary_a_second_for_the_overview(app: Flask) -> None:
    t = overview.Trend()
    for now_ms, vehicles in ((1000, 1), (1500, 99), (2000, 2), (3999, 3)):
        t.record({"now_ms": now_ms, "active_vehicles": vehicles})
    history = t.history()
    assert history is not None and history["vehicles"] == [1, 2, 3]  # 1,500 ms: same second, dropped
    # the push hub's summary is the console's, and lands in this app's trend
    summary = feed.pushed_summary(app)()
    assert summary["avg_speed"] == round((31 + 22 + 50) / 3, 1) and summary["incidents_by_severity"] == {"high": 1}
    recorded = overview.trend(app).history()
    assert recorded is not None and recorded["vehicles"] == [3] and recorded["t"] == [summary["now_ms"]]
    assert app.extensions["smartcity.hub"].summary.__qualname__ == feed.pushed_summary(app).__qualname__
    # once the hub has pushed the city, the average is of the vehicles it pushed (no second fleet read)
    hub = app.extensions["smartcity.hub"]
    try:
        snapshot = hub.snapshot_frames().msg
    finally:
        hub.close_all()
    assert snapshot["summary"]["avg_speed"] == round((31 + 22 + 50) / 3, 1)
    assert hub.fleet.updated and len(snapshot["vehicles"]) == 3


def test_the_worst_segments_are_ranked_once_in_the_browser_by_the_live_models_rule() -> None:
    """No Python copy of the ranking: the page opens with an empty chart the browser fills."""
    assert traffic.worst_figure()["data"] == [] and not hasattr(traffic, "worst_segments")
    assert live_model.browser_config(1, 1)["worst_segments"] == live_model.WORST_SEGMENTS
    script = (Path(__file__).resolve().parents[2] / "assets" / "smartcity.js").read_text()
    assert "model.worst_segments" in script and "|| 50" not in script and "slice(0, 10)" not in script


def test_the_system_tab_shows_processors_rates_lag_and_dead_letters_as_text(ctx: Flask) -> None:
    empty_status, empty_streams = system.render(feed.system_status(ctx.extensions["smartcity.store"], 1e12, None))
    assert system.NO_PIPELINE in texts(empty_status) and "No dead letters recorded." in texts(empty_streams)
    store: Store = ctx.extensions["smartcity.store"]
    fs, root = ctx.extensions["smartcity.lake"]
    batch = BatchProcessor(store.speed, LakeWriter(fs, root))
    batch.process([RawEvent("vehicle_data", b'{"device_id": "a"}', "http"), RawEvent("gps_data", XSS.encode(), "http")])
    status = ProcessorStatus("spark:run1", "spark", batch.accounting, lambda: {"gps_data": 7})
    StatusPublisher(store.speed, status).publish()
    behind = ProcessorStatus("embedded:b", "embedded", batch.accounting, extra=lambda: {"rules_lag": 12_000})
    StatusPublisher(store.speed, behind).publish()
    data = feed.system_status(store, time.time() * 1000, feed.accounting())
    left, right = system.render(data)
    shown = texts(left) + texts(right)
    assert "spark:run1 (spark)" in shown and "running" in shown and "Lake: reachable" in shown
    # a rule engine behind its processor says so: those events' alerts are still to come
    assert "rules: 12,000 events not yet checked against zones and alert rules" in shown
    assert sum("not yet checked" in t for t in shown) == 1  # only the processor that is behind
    assert "Live-update sockets: 0 (this server process)" in shown
    assert XSS in shown  # the payload, verbatim: a child string, which React renders as text
    assert any(t.startswith("not valid JSON") for t in shown)  # its reason
    gps = shown.index("gps_data")  # the streams table: name, events/s (one status so far: unknown), lag
    assert shown[gps + 1 : gps + 3] == ["–", "7"]
    assert not [c for c in walk([left, right]) if "dangerously_allow_html" in getattr(c, "_prop_names", [])]


def texts(component: Any) -> list[str]:
    """Every string shown in a component tree."""
    return [c for c in walk(component) if isinstance(c, str)]


def walk(component: Any) -> Iterator[Any]:
    yield component
    if isinstance(component, list | tuple):
        for child in component:
            yield from walk(child)
    elif isinstance(component, Component):
        yield from walk(getattr(component, "children", None))


def test_the_map_fits_the_network() -> None:
    small = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[13.518, 52.4246], [13.5459, 52.4379]]}}
    ]}  # fmt: skip
    assert map_tab.fit_zoom(small) == 15  # the Berlin demo network on a laptop-sized map
    assert map_tab.fit_zoom({"type": "FeatureCollection", "features": []}) == 14


def test_the_audit_log_shows_who_did_what(ctx: Flask) -> None:
    session.update(user="ada", role="admin")
    emergency.act(ids.EMERGENCY_ACK, "i-1")
    from app.actions import audit_log

    table = emergency.audit_table(audit_log(ctx.extensions["smartcity.store"]))
    text = json.dumps(table.to_plotly_json(), default=lambda c: c.to_plotly_json())
    assert "ada" in text and "acknowledge" in text and "i-1" in text


def test_unknown_paths_are_not_the_console(app: Flask) -> None:
    c = app.test_client()
    c.get("/login?token=viewer-token")
    assert c.get("/no-such-page").status_code == 404
    assert c.get("/api/no-such-route").json["error"]["status"] == 404


def test_the_tabs_the_address_can_name_are_the_console_tabs() -> None:
    script = (Path(__file__).resolve().parents[2] / "assets" / "smartcity.js").read_text()
    (listed,) = re.findall(r"const TABS = \[([^\]]*)\]", script)
    names = [name.strip().strip('"') for name in listed.split(",")]
    assert ["tab-" + n for n in names] == [v for k, v in vars(ids).items() if k.startswith("TAB_")]


def test_create_app_draws_the_configured_city(tmp_path: Path) -> None:
    server = create_app(api_settings(tmp_path, city="braunschweig"), store=Store(SpeedLayer(fakeredis.FakeRedis())))
    braunschweig = map_tab.bbox_centre(load_network("braunschweig").geojson())
    with server.test_request_context("/"):
        assert map_tab.bbox_centre(map_tab.network()) == braunschweig
        assert map_tab.layout().children[0].children[0].children.center == braunschweig
    lat, lon = braunschweig
    assert 52.2 < lat < 52.35 and 10.4 < lon < 10.65  # not Berlin


def test_the_tile_credit_comes_from_the_settings(tmp_path: Path) -> None:
    default = Settings(_env_file=None).tile_attribution
    assert "openstreetmap.org/copyright" in default and "OpenStreetMap" in default
    for credit in (default, "Tiles &copy; Example Maps"):
        settings = api_settings(tmp_path, tile_attribution=credit)
        with create_app(settings, store=Store(SpeedLayer(fakeredis.FakeRedis()))).test_request_context("/"):
            assert map_tab.tile_layer()[0].attribution == credit


NASTY = ["<b>bold</b>", XSS, "Tom & Jerry's"]


def plotly_texts(figure: dict[str, Any]) -> list[str]:
    """Every string Plotly would draw from a figure's traces: names, labels, hover text."""
    found: list[str] = []
    for trace in figure["data"]:
        found += [trace.get("name") or ""]
        for key in ("x", "y", "text", "hovertext"):
            found += [v for v in trace.get(key) or [] if isinstance(v, str)]
        for row in trace.get("customdata") or []:  # what a hover template shows (a name cut on an axis)
            found += [v for v in (row if isinstance(row, list) else [row]) if isinstance(v, str)]
    return found


def test_device_strings_in_charts_are_shown_literally() -> None:
    hour = datetime(2026, 11, 26, 10, tzinfo=UTC)
    figures = [
        weather.readings_figure([{"id": name, "temperature": 5.0} for name in NASTY]),
        history.traffic_figure(
            [{"camera_id": f"c{i}", "road_name": n, "hour": hour, "avg_speed_kmh": 30.0} for i, n in enumerate(NASTY)]
        ),
        history.incidents_figure([{"incident_type": n, "hour": hour, "incidents": 1} for n in NASTY]),
        history.weather_figure(
            [{"station": n, "hour": hour, "avg_temperature_c": 4.0, "avg_aqi": 30.0} for n in NASTY]
        ),
    ]
    for figure in figures:
        shown = plotly_texts(figure)
        assert not any("<" in s or ">" in s for s in shown), shown  # Plotly would read a tag
        drawn = " ".join(html.unescape(s) for s in shown)  # Plotly turns the entities back into text
        assert all(name in drawn for name in NASTY), drawn


def test_speed_bands_cover_every_speed_and_the_legend_names_them(ctx: Flask) -> None:
    bands = map_tab.SPEED_BANDS
    limits = [b["below"] for b in bands[:-1]]
    assert limits == sorted(limits) and bands[-1]["below"] is None  # slowest first, the last open-ended
    assert map_tab.map_style()["bands"] == list(bands)  # what smartcity_map.js reads
    legend = map_tab.speed_legend()
    assert legend.hidden is True  # shown while vehicles are coloured by speed
    assert [row.children[1] for row in legend.children] == [
        "stopped (under 5 km/h)", "slow (5–25 km/h)", "moving (25 km/h and more)"
    ]  # fmt: skip
    page = json.dumps(map_tab.layout().to_plotly_json(), default=lambda c: c.to_plotly_json())
    assert ids.MAP_COLOUR_BY in page and ids.MAP_SPEED_LEGEND in page


def test_map_colours_are_keyed_by_the_live_model() -> None:
    style = map_tab.map_style()
    assert list(style["vehicle_colours"]) == list(VEHICLE_TYPES)
    assert list(style["level_colours"]) == list(live_model.LEVELS)
    assert list(style["severity_colours"]) == list(live_model.browser_config(1, 1)["severities"])
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for part in ("vehicle_colours", "level_colours",
               "severity_colours") for c in style[part].values())  # fmt: skip


def test_the_map_script_declares_no_levels_types_or_private_leaflet_fields() -> None:
    assets = Path(__file__).resolve().parents[2] / "assets"
    script = (assets / "smartcity_map.js").read_text() + (assets / "smartcity_gl.js").read_text()
    for name in (*live_model.LEVELS, *VEHICLE_TYPES, "_latlng", "_eventParents", "_tooltip", "innerHTML"):
        assert f'"{name}"' not in script and f".{name}" not in script, name


def test_the_navbar_shows_the_user_and_role_and_logs_out(app: Flask) -> None:
    c = app.test_client()
    c.post("/login", data={"user": "olga", "password": "pw-o"})
    page = json.dumps(c.get("/_dash-layout").json)
    assert '"olga"' in page and '"operator"' in page and '"/logout"' in page
    assert c.get("/logout").status_code == 302
    assert c.get("/_dash-layout").status_code == 401  # signed out
    with app.test_request_context("/"):
        assert layout.signed_in() == []  # nobody signed in: no name, no link


def test_the_page_carries_the_live_read_model_once(app: Flask) -> None:
    from pipeline import live_model

    c = app.test_client()
    c.get("/login?token=viewer-token")
    page = c.get("/").get_data(as_text=True)
    assert page.count('id="smartcity-live-model"') == 1
    start = page.index('id="smartcity-live-model" type="application/json">') + len(
        'id="smartcity-live-model" type="application/json">'
    )
    model = json.loads(page[start : page.index("</script>", start)])
    config = app.extensions["smartcity.store"].speed.config
    expected = {**live_model.browser_config(config.active_s, config.sensor_s), "city_time_zone": "Europe/Berlin"}
    assert model == json.loads(json.dumps(expected))
    assert model["levels"] == list(live_model.LEVELS) and model["vehicle_fields"] == list(live_model.VEHICLE_ROW)


def test_an_operator_assigns_and_notes_and_the_details_show_both(ctx: Flask) -> None:
    session.update(user="olga", role="operator")
    assert emergency.act(ids.EMERGENCY_ASSIGN, "i-1", " ada ") == ("Incident i-1 assigned to ada.", "success")
    assert emergency.act(ids.EMERGENCY_NOTE, "i-1", "hydrant <b>dry</b>")[1] == "success"
    message, colour = emergency.act(ids.EMERGENCY_NOTE, "i-1", "   ")
    assert colour == "danger" and "1 to 2000 characters" in message  # the bound, said
    from app.actions import incident_details

    panel = json.dumps(
        emergency.details(incident_details("i-1")).to_plotly_json(), default=lambda c: c.to_plotly_json()
    )
    assert "ada" in panel and "hydrant <b>dry</b>" in panel and "Assigned" in panel and "Reported" in panel
    session.update(user="vic", role="viewer")
    assert emergency.act(ids.EMERGENCY_ASSIGN, "i-1", "vic")[1] == "danger"


def test_the_resolved_grid_lists_what_its_filters_let_through(ctx: Flask) -> None:
    rows = emergency.resolved_rows(None, None, "24")
    assert [r["id"] for r in rows] == ["i-2"] and rows[0]["resolved"].count(":") == 2  # a time of day
    assert emergency.resolved_rows("medical", "low", "1")[0]["id"] == "i-2"
    assert emergency.resolved_rows("fire", None, "24") == [] and emergency.resolved_rows(None, "high", "24") == []
    columns = [c["field"] for c in emergency.incident_grid().to_plotly_json()["props"]["columnDefs"]]
    assert "acknowledged_by" in columns and "assigned_to" in columns
    assert emergency.chosen("resolved", [{"id": "i-1"}], [{"id": "i-2"}]) == "i-2"
    assert emergency.chosen("active", [{"id": "i-1"}], None) == "i-1"
