"""History tab: a time range from the lake.

Hourly traffic speed per segment, incidents per type, weather trends, vehicles reporting and
distance driven per hour (the city's day and night), and one vehicle's route over the range
replayed on a map. Every chart exports as PNG or SVG from Plotly's modebar and
its data downloads as CSV or Parquet from the history API (the console's login is accepted).
Times, in the inputs, on the axes and in the route's caption, are in the zone the console shows
(``chart.zone``: the city's, or UTC when this browser asks), each labelled with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote, urlencode

import dash_bootstrap_components as dbc
import dash_leaflet as dl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component
from pyarrow import fs as pafs

from app.api import lake
from app.console import chart, ids
from app.console import map as map_tab
from app.console.callbacks import callback
from pipeline import views

PRESETS = {"1h": ("Last hour", 1), "6h": ("Last 6 hours", 6), "24h": ("Last 24 hours", 24), "7d": ("Last 7 days", 168)}
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> reads and writes
MAX_SEGMENTS = 40  # rows of the traffic heatmap: the slowest segments of the range
CHARTS = {  # graph id -> view it draws
    ids.HISTORY_TRAFFIC: "traffic",
    ids.HISTORY_INCIDENTS: "incidents",
    ids.HISTORY_WEATHER: "weather",
}
FLEET = "history-fleet"  # vehicles reporting and km driven per hour (the distance view)
FLEET_LINKS = "history-fleet-links"
# Speed, slow to fast: red, orange, yellow, light green, green (ColorBrewer RdYlGn, which the
# bundled plotly.js does not name: an unknown name fell back to a scale with grey at 0 km/h).
SPEED_COLORSCALE = [[0.0, "#d73027"], [0.25, "#fc8d59"], [0.5, "#fee08b"], [0.75, "#91cf60"], [1.0, "#1a9850"]]
ZONE_LABEL = "history-zone"  # the inputs' zone, named before them
ROUTE_ZOOM = 17  # a route that never moved: the map centres on its one point at street level


def _written(view: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Rows of the written batch view (``<lake>/views/<view>``) with hours in ``[start, end)``."""
    filesystem, root = lake()
    base = f"{root}/{views.VIEWS_DIR}/{view}"
    if filesystem.get_file_info(base).type == pafs.FileType.NotFound:
        return []
    days = ds.partitioning(pa.schema([("date", pa.string())]), flavor="hive")
    data = ds.dataset(base, filesystem=filesystem, format="parquet", partitioning=days, ignore_prefixes=[".", "_"])
    first, last = start.strftime("%Y-%m-%d"), (end - timedelta(microseconds=1)).strftime("%Y-%m-%d")
    flt = (pc.field("date") >= first) & (pc.field("date") <= last)
    flt &= (pc.field("hour") >= start) & (pc.field("hour") < end)
    rows: list[dict[str, Any]] = data.to_table(filter=flt).drop_columns(["date"]).to_pylist()
    return rows


def hourly_rows(view: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """One hourly view over ``[start, end)``: whole hours from the written batch views where they
    are (a backfilled week reads in a blink), the rest computed from the lake's events: the
    hours after the last written one (and that one again: events may have come since), and a
    part-hour at the start."""
    filesystem, root = lake()
    first_full = start.replace(minute=0, second=0, microsecond=0)
    first_full += timedelta(hours=1) if first_full < start else timedelta(0)
    written = _written(view, first_full, end) if first_full < end else []
    if not written:
        return views.hourly(view, filesystem, root, start, end)
    cutoff = max(r["hour"] for r in written)
    rows = views.hourly(view, filesystem, root, start, first_full) if start < first_full else []
    rows += [r for r in written if r["hour"] < cutoff]
    rows += views.hourly(view, filesystem, root, cutoff, end)
    return rows


def preset_range(preset: str, now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of a preset ending at the next whole minute after ``now``."""
    end = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end - timedelta(hours=PRESETS[preset][1]), end


def input_value(moment: datetime, tz: tzinfo) -> str:
    """``moment`` as a datetime-local input shows it, read in ``tz``."""
    return chart.wall(moment, tz).strftime(INPUT_FORMAT)


def parse_range(start: str | None, end: str | None, tz: tzinfo = UTC) -> tuple[datetime, datetime] | str:
    """The inputs' range (times read in ``tz``) in UTC, or what is wrong with it."""
    try:
        first = datetime.strptime(start or "", INPUT_FORMAT).replace(tzinfo=tz).astimezone(UTC)
        last = datetime.strptime(end or "", INPUT_FORMAT).replace(tzinfo=tz).astimezone(UTC)
    except ValueError:
        return "Choose a start and an end."
    if not first < last:
        return "The start must be before the end."
    if last - first > timedelta(days=31):
        return "A range may span at most 31 days."
    return first, last


def download_links(path: str, start: datetime, end: datetime) -> list[Component]:
    """CSV and Parquet links to the history API for this range."""
    query = {"start": start.isoformat(), "end": end.isoformat()}
    return [
        html.A(fmt.upper(), href=f"{path}?{urlencode({**query, 'format': fmt})}", download="", className="me-2")
        for fmt in ("csv", "parquet")
    ]


def _empty(title: str, message: str) -> dict[str, Any]:
    return {
        "data": [],
        "layout": chart.layout(
            title,
            300,
            xaxis={"visible": False},
            yaxis={"visible": False},
            annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
        ),
    }


STATION_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _hour_label(hour: datetime, tz: tzinfo) -> str:
    return chart.wall(hour, tz).strftime("%m-%d %H:00")


Span = tuple[datetime, datetime] | None


def traffic_figure(rows: list[dict[str, Any]], span: Span = None, tz: tzinfo = UTC) -> dict[str, Any]:
    """Heatmap of average speed: one row per segment (the slowest first), one column per hour
    (labelled in ``tz``)."""
    title = "Average speed per segment and hour (km/h)"
    if not rows:
        return _empty(title, "No traffic data in this range")
    label: dict[str, str] = {}
    names: dict[str, str] = {}
    speeds: dict[str, list[float]] = {}
    for r in rows:
        key = r["camera_id"]
        label[key] = chart.text(f"{chart.short_road(r.get('road_name') or r.get('segment_id') or key)} ({key})")
        names[key] = chart.text(r.get("road_name") or r.get("segment_id") or key)
        speeds.setdefault(key, []).append(r["avg_speed_kmh"])
    segments = sorted(speeds, key=lambda k: sum(speeds[k]) / len(speeds[k]))[:MAX_SEGMENTS]
    hours = sorted({r["hour"] for r in rows})
    cell = {(r["camera_id"], r["hour"]): r["avg_speed_kmh"] for r in rows}
    z = [[cell.get((seg, h)) for h in hours] for seg in segments]
    trace = {
        "type": "heatmap",
        "x": [_hour_label(h, tz) for h in hours],
        "y": [label[s] for s in segments],
        "z": z,
        "colorscale": SPEED_COLORSCALE,
        # the scale under the chart, not beside it: a phone's width is the road names' and the hours'
        "colorbar": {
            "title": {"text": "km/h", "side": "top"},
            "orientation": "h",
            "thickness": 10,
            "len": 0.6,
            "x": 1,
            "xanchor": "right",
            "yref": "container",
            "y": 0,
            "yanchor": "bottom",
        },
        "customdata": [[names[s]] * len(hours) for s in segments],
        "hovertemplate": "%{customdata} · %{x}: %{z:.1f} km/h<extra></extra>",
        "hoverongaps": False,
        "zmin": 0,
        "zmax": max(50.0, *(r["avg_speed_kmh"] for r in rows)),
    }  # fmt: skip; red is slow in any range
    height = max(300, 22 * len(segments) + 130)  # rows, the hours and the scale under them
    hour_axis = {"type": "category", "title": {"text": f"hour ({chart.zone_name(tz)})", "standoff": 4}}
    # road names as long as they come: the axis widens the margin to hold them (automargin)
    roads = {"autorange": "reversed", "title": {"text": "road (sensor)"}, "tickfont": {"size": 10}}
    layout = chart.layout(title, height, yaxis=roads, xaxis=hour_axis)
    return {"data": [trace], "layout": layout}


def incidents_figure(rows: list[dict[str, Any]], span: Span = None, tz: tzinfo = UTC) -> dict[str, Any]:
    """Incidents reported per hour, stacked by type (hours in ``tz``)."""
    title = "Incidents per hour by type"
    if not rows:
        return _empty(title, "No incidents in this range")
    by_type: dict[str, dict[str, list[Any]]] = {}
    for r in rows:
        series = by_type.setdefault(chart.text(r["incident_type"] or "unknown"), {"x": [], "y": []})
        series["x"].append(chart.wall(r["hour"], tz).isoformat())
        series["y"].append(r["incidents"])
    # bars an hour wide (less a gap), starting at their hour
    traces = [{"type": "bar", "name": kind, "width": 3_240_000, "offset": 180_000, **xy}
              for kind, xy in sorted(by_type.items())]  # fmt: skip
    # whole counts: below 10 an hour Plotly's own ticks fall on halves (0.5 for a count of 1)
    per_hour: dict[Any, int] = {}
    for r in rows:
        per_hour[r["hour"]] = per_hour.get(r["hour"], 0) + int(r["incidents"])
    counts: dict[str, Any] = {"title": {"text": "incidents"}, "rangemode": "tozero", "tickformat": "d"}
    if max(per_hour.values(), default=0) <= 10:
        counts |= {"tick0": 0, "dtick": 1}
    layout = chart.layout(title, 360, barmode="stack", showlegend=True, legend={"orientation": "h"},
                          xaxis=chart.time_axis(tz, span), yaxis=counts)  # fmt: skip
    return {"data": traces, "layout": layout}


def weather_figure(rows: list[dict[str, Any]], span: Span = None, tz: tzinfo = UTC) -> dict[str, Any]:
    """Temperature (top) and air quality (bottom) per station and hour (in ``tz``): two rows
    sharing the time axis, a colour per station (one legend entry each)."""
    title = "Weather per station: temperature (°C) and AQI"
    if not rows:
        return _empty(title, "No weather data in this range")
    stations: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        stations.setdefault(r["station"], []).append(r)
    traces: list[dict[str, Any]] = []
    for i, (station, points) in enumerate(sorted(stations.items())):
        hours, name = chart.times((p["hour"] for p in points), tz), chart.text(station)
        colour = STATION_COLOURS[i % len(STATION_COLOURS)]
        for axis, key, unit in (("y", "avg_temperature_c", "°C"), ("y2", "avg_aqi", "AQI")):
            traces.append({"type": "scatter", "mode": "lines+markers", "name": name, "legendgroup": name,
                           "showlegend": axis == "y", "x": hours, "xaxis": "x", "yaxis": axis,
                           "y": [p[key] for p in points], "line": {"color": colour}, "marker": {"size": 4},
                           "hovertemplate": f"%{{y:.1f}} {unit}"})  # fmt: skip
    layout = chart.layout(
        title, 380, legend={"orientation": "h"}, xaxis=chart.time_axis(tz, span),
        yaxis={"title": {"text": "°C"}}, yaxis2={"title": {"text": "AQI"}, "rangemode": "tozero"},
        grid={"rows": 2, "columns": 1, "pattern": "coupled", "roworder": "top to bottom", "ygap": 0.15},
    )  # fmt: skip
    return {"data": traces, "layout": layout}


def fleet_figure(rows: list[dict[str, Any]], span: Span = None, tz: tzinfo = UTC) -> dict[str, Any]:
    """Vehicles reporting per hour (bars, left axis) and the km they drove (line, right axis), hours in ``tz``."""
    title = "Vehicles reporting and km driven per hour"
    if not rows:
        return _empty(title, "No vehicle positions in this range")
    vehicles: dict[datetime, int] = {}
    km: dict[datetime, float] = {}
    for r in rows:
        vehicles[r["hour"]] = vehicles.get(r["hour"], 0) + 1
        km[r["hour"]] = km.get(r["hour"], 0.0) + float(r["distance_km"] or 0.0)
    hours = sorted(vehicles)
    x = chart.times(hours, tz)
    traces = [
        {"type": "bar", "name": "vehicles", "x": x, "y": [vehicles[h] for h in hours], "width": 3_240_000,
         "offset": 180_000, "marker": {"color": "#4c78a8"}},
        {"type": "scatter", "mode": "lines", "name": "km driven", "x": x, "y": [round(km[h], 1) for h in hours],
         "yaxis": "y2", "line": {"color": "#f58518"}},
    ]  # fmt: skip
    y2 = {"overlaying": "y", "side": "right", "showgrid": False, "rangemode": "tozero", "title": {"text": "km"}}
    layout = chart.layout(title, 300, yaxis={"title": {"text": "vehicles"}, "rangemode": "tozero"}, yaxis2=y2,
                          legend={"orientation": "h"}, showlegend=True, xaxis=chart.time_axis(tz, span))  # fmt: skip
    return {"data": traces, "layout": layout}


FIGURES = {"traffic": traffic_figure, "incidents": incidents_figure, "weather": weather_figure}


def graph_config(image_format: str, graph_id: str) -> Any:
    """Plotly's modebar with its image download in the chosen format (png or svg), saved under
    the chart's own name (``smartcity-history-traffic.png``…), not one name for every chart."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": image_format, "filename": f"smartcity-{graph_id}"}}


def _chart_card(graph_id: str, links_id: str) -> Component:
    return dbc.Card(
        dbc.CardBody(
            [
                dcc.Graph(id=graph_id, figure=_empty("", "Choose a range"), config=graph_config("png", graph_id)),
                html.Div(["Data: ", html.Span(id=links_id)], className="small text-body-secondary"),
            ]
        ),
        className="mb-2",
    )


def layout() -> Component:
    roads = map_tab.network()
    controls = dbc.Row(
        [
            dbc.Col(
                dbc.Select(
                    id=ids.HISTORY_PRESET,
                    options=[{"label": label, "value": key} for key, (label, _) in PRESETS.items()],
                    value="24h",
                ),
                md=2,
                xs=12,
            ),
            dbc.Col(
                dbc.InputGroup(
                    [
                        dbc.InputGroupText(f"From ({chart.city_zone()})", id=ZONE_LABEL),
                        dbc.Input(id=ids.HISTORY_START, type="datetime-local", debounce=True),
                    ]
                ),
                md=4,
                xs=12,
            ),
            dbc.Col(
                dbc.InputGroup(
                    [dbc.InputGroupText("To"), dbc.Input(id=ids.HISTORY_END, type="datetime-local", debounce=True)]
                ),
                md=3,
                xs=12,
            ),
            dbc.Col(
                dbc.RadioItems(  # the format the camera button of each chart downloads
                    id=ids.HISTORY_IMAGE_FORMAT,
                    options=[{"label": "PNG", "value": "png"}, {"label": "SVG", "value": "svg"}],
                    value="png",
                    inline=True,
                ),
                md=2,
                xs=8,
                className="pt-2",
            ),
            dbc.Col(dbc.Button("Load", id=ids.HISTORY_LOAD, color="primary", className="w-100"), md=1, xs=4),
        ],
        className="g-2 mb-2 align-items-center",
    )
    route_controls = dbc.InputGroup(
        [
            dbc.Input(id=ids.HISTORY_VEHICLE, placeholder="vehicle id, e.g. car-00012", debounce=True),
            dbc.Button("Show route", id=ids.HISTORY_ROUTE_LOAD, color="secondary"),
            dbc.Button("▶ Replay", id=ids.HISTORY_PLAY, color="secondary", outline=True),
        ],
        className="mb-2",
    )
    route_map = dl.Map(
        [
            dl.GeoJSON(data=roads, style={"color": "#7a8599", "weight": 2, "opacity": 0.6}),
            dl.Polyline(id=ids.HISTORY_ROUTE, positions=[], color="#ff00aa", weight=4),
            dl.CircleMarker(
                id=ids.HISTORY_POSITION,
                center=map_tab.bbox_centre(roads),
                radius=0,
                color="#000",
                fillColor="#ff00aa",
                fillOpacity=1,
            ),
        ],
        id=ids.HISTORY_MAP,
        center=map_tab.bbox_centre(roads),
        zoom=map_tab.fit_zoom(roads),
        preferCanvas=True,
        className="smartcity-map smartcity-history-map",
    )
    route_card = dbc.Card(
        dbc.CardBody(
            [
                html.H6("Vehicle route over the range"),
                route_controls,
                route_map,
                dcc.Slider(
                    id=ids.HISTORY_REPLAY, min=0, max=0, step=1, value=0, marks=None, tooltip={"always_visible": False}
                ),
                html.Div(id=ids.HISTORY_ROUTE_INFO, className="small"),
                html.Div(["Data: ", html.Span(id=ids.HISTORY_ROUTE_LINKS)], className="small text-body-secondary"),
                dcc.Interval(id=ids.HISTORY_CLOCK, interval=200, disabled=True),
                dcc.Store(id=ids.HISTORY_ROUTE_DATA),
            ]
        ),
        className="mb-2",
    )
    return html.Div(
        [
            controls,
            html.Div(id=ids.HISTORY_MESSAGE, className="text-danger small mb-2"),
            dbc.Row(
                [
                    dbc.Col(_chart_card(ids.HISTORY_TRAFFIC, ids.HISTORY_TRAFFIC_LINKS), lg=12),
                    dbc.Col(_chart_card(ids.HISTORY_INCIDENTS, ids.HISTORY_INCIDENTS_LINKS), lg=6),
                    dbc.Col(_chart_card(ids.HISTORY_WEATHER, ids.HISTORY_WEATHER_LINKS), lg=6),
                    dbc.Col(_chart_card(FLEET, FLEET_LINKS), lg=12),
                    dbc.Col(route_card, lg=12),
                ],
                className="g-2",
            ),
        ]
    )


@callback(
    Output(ids.HISTORY_START, "value"),
    Output(ids.HISTORY_END, "value"),
    Output(ZONE_LABEL, "children"),
    Input(ids.HISTORY_PRESET, "value"),
    Input(chart.UTC_SWITCH, "value"),
    State(ids.HISTORY_START, "value"),
    State(ids.HISTORY_END, "value"),
)
def _preset(preset: str | None, utc: bool | None, start: str | None, end: str | None) -> tuple[str, str, str]:
    return inputs(preset, chart.zone(utc), start, end, rezone=ctx.triggered_id == chart.UTC_SWITCH)


def inputs(preset: str | None, tz: tzinfo, start: str | None, end: str | None, rezone: bool) -> tuple[str, str, str]:
    """The range inputs' values in ``tz`` and their zone label: the preset's range, or with
    ``rezone`` the range already chosen (read in the other zone) shown in ``tz``."""
    label = f"From ({chart.zone_name(tz)})"
    if rezone:
        before = chart.zone(chart.zone_name(tz) != "UTC")  # the zone just switched away from
        parsed = parse_range(start, end, before)
        if not isinstance(parsed, str):
            return input_value(parsed[0], tz), input_value(parsed[1], tz), label
    first, last = preset_range(preset if preset in PRESETS else "24h", datetime.now(UTC))
    return input_value(first, tz), input_value(last, tz), label


@callback(
    Output(ids.HISTORY_TRAFFIC, "figure"),
    Output(ids.HISTORY_INCIDENTS, "figure"),
    Output(ids.HISTORY_WEATHER, "figure"),
    Output(ids.HISTORY_TRAFFIC_LINKS, "children"),
    Output(ids.HISTORY_INCIDENTS_LINKS, "children"),
    Output(ids.HISTORY_WEATHER_LINKS, "children"),
    Output(ids.HISTORY_MESSAGE, "children"),
    Input(ids.HISTORY_LOAD, "n_clicks"),
    Input(ids.SHELL_TABS, "active_tab"),
    Input(ids.HISTORY_START, "value"),  # a preset, or a typed time once the field is left
    Input(ids.HISTORY_END, "value"),
    State(chart.UTC_SWITCH, "value"),  # switching it rewrites the inputs, which redraws
)
def _load(_: int | None, tab: str | None, start: str | None, end: str | None, utc: bool | None) -> tuple[Any, ...]:
    if tab != ids.TAB_HISTORY:
        return (no_update,) * 7  # the lake is read when someone looks
    return load(start, end, chart.zone(utc))


def load(start: str | None, end: str | None, tz: tzinfo = UTC) -> tuple[Any, ...]:
    """The three figures, their download links and a message, for the inputs' range (in ``tz``)."""
    parsed = parse_range(start, end, tz)
    if isinstance(parsed, str):
        return (no_update,) * 6 + (parsed,)
    first, last = parsed
    figures, links = [], []
    for view in CHARTS.values():
        rows = hourly_rows(view, first, last)
        figures.append(FIGURES[view](rows, parsed, tz))
        links.append(download_links(f"/api/history/{view}", first, last))
    return (*figures, *links, "")


@callback(
    Output(FLEET, "figure"),
    Output(FLEET_LINKS, "children"),
    Input(ids.HISTORY_LOAD, "n_clicks"),
    Input(ids.SHELL_TABS, "active_tab"),
    Input(ids.HISTORY_START, "value"),
    Input(ids.HISTORY_END, "value"),
    State(chart.UTC_SWITCH, "value"),
)
def _load_fleet(
    _: int | None, tab: str | None, start: str | None, end: str | None, utc: bool | None
) -> tuple[Any, Any]:
    if tab != ids.TAB_HISTORY:
        return no_update, no_update
    return load_fleet(start, end, chart.zone(utc))


def load_fleet(start: str | None, end: str | None, tz: tzinfo = UTC) -> tuple[Any, Any]:
    """The fleet's day over the inputs' range (in ``tz``): the figure and its download links."""
    parsed = parse_range(start, end, tz)
    if isinstance(parsed, str):
        return no_update, no_update
    rows = hourly_rows("distance", *parsed)
    return fleet_figure(rows, parsed, tz), download_links("/api/history/distance", *parsed)


@callback(
    Output(FLEET, "config"),
    Input(ids.HISTORY_IMAGE_FORMAT, "value"),
)
def _fleet_image_format(image_format: str | None) -> dict[str, Any]:
    return graph_config("svg" if image_format == "svg" else "png", FLEET)


@callback(
    Output(ids.HISTORY_TRAFFIC, "config"),
    Output(ids.HISTORY_INCIDENTS, "config"),
    Output(ids.HISTORY_WEATHER, "config"),
    Input(ids.HISTORY_IMAGE_FORMAT, "value"),
)
def _image_format(image_format: str | None) -> tuple[dict[str, Any], ...]:
    chosen = "svg" if image_format == "svg" else "png"
    return tuple(graph_config(chosen, graph_id) for graph_id in CHARTS)


@callback(
    Output(ids.HISTORY_ROUTE_DATA, "data"),
    Output(ids.HISTORY_ROUTE, "positions"),
    Output(ids.HISTORY_REPLAY, "max"),
    Output(ids.HISTORY_REPLAY, "value"),
    Output(ids.HISTORY_ROUTE_LINKS, "children"),
    Output(ids.HISTORY_MAP, "viewport"),
    Input(ids.HISTORY_ROUTE_LOAD, "n_clicks"),
    Input(ids.HISTORY_VEHICLE, "value"),
    State(ids.HISTORY_START, "value"),
    State(ids.HISTORY_END, "value"),
    State(chart.UTC_SWITCH, "value"),
    prevent_initial_call=True,
)
def _route(_: int | None, vehicle: str | None, start: str | None, end: str | None, utc: bool | None) -> tuple[Any, ...]:
    return route(vehicle, start, end, chart.zone(utc))


def route(vehicle: str | None, start: str | None, end: str | None, tz: tzinfo = UTC) -> tuple[Any, ...]:
    """One vehicle's route over the range (inputs in ``tz``): replay data, polyline, slider end
    and start, links, viewport."""
    parsed = parse_range(start, end, tz)
    if not vehicle or isinstance(parsed, str):
        return None, [], 0, 0, [], no_update
    filesystem, root = lake()
    rows = views.route(filesystem, root, vehicle.strip(), *parsed)
    points = [{"t": r["event_time"].isoformat(), "lat": r["latitude"], "lon": r["longitude"], "speed": r["speed"]}
              for r in rows]  # fmt: skip
    positions = [[p["lat"], p["lon"]] for p in points]
    viewport: Any = no_update
    if positions:
        lats, lons = [p[0] for p in positions], [p[1] for p in positions]
        if min(lats) == max(lats) and min(lons) == max(lons):
            # One point (a vehicle that stood still): bounds of no size make Leaflet's zoom NaN
            # ("Invalid LatLng object: (NaN, NaN)"). Centre on it; the replay marker draws it.
            positions = []
            viewport = {"center": [lats[0], lons[0]], "zoom": ROUTE_ZOOM, "transition": "flyTo"}
        else:
            viewport = {"bounds": [[min(lats), min(lons)], [max(lats), max(lons)]], "transition": "flyToBounds"}
    links = download_links(f"/api/history/vehicles/{quote(vehicle.strip(), safe='')}/route", *parsed)
    return {"vehicle": vehicle.strip(), "points": points}, positions, max(0, len(points) - 1), 0, links, viewport


@callback(
    Output(ids.HISTORY_POSITION, "center"),
    Output(ids.HISTORY_POSITION, "radius"),
    Output(ids.HISTORY_ROUTE_INFO, "children"),
    Input(ids.HISTORY_REPLAY, "value"),
    Input(ids.HISTORY_ROUTE_DATA, "data"),
    Input(chart.UTC_SWITCH, "value"),
)
def _replay_position(index: int | None, replay: dict[str, Any] | None, utc: bool | None) -> tuple[Any, int, str]:
    return replay_position(index, replay, chart.zone(utc))


def replay_position(index: int | None, route: dict[str, Any] | None, tz: tzinfo = UTC) -> tuple[Any, int, str]:
    """Where the replayed vehicle is at step ``index``: marker centre, radius, caption (its time
    in ``tz``, with the zone's abbreviation)."""
    if not route:
        return no_update, 0, "Enter a vehicle id to see where it went in the range."
    points = route["points"]
    if not points:
        return no_update, 0, f"No positions of {route['vehicle']} in the lake for this range."
    p = points[min(int(index or 0), len(points) - 1)]
    speed = "" if p["speed"] is None else f" · {p['speed']:.0f} km/h"
    return (
        [p["lat"], p["lon"]],
        7,
        f"{route['vehicle']} · {chart.clock(p['t'], tz)}{speed} · point {int(index or 0) + 1} of {len(points)}",
    )


@callback(
    Output(ids.HISTORY_CLOCK, "disabled"),
    Output(ids.HISTORY_PLAY, "children"),
    Input(ids.HISTORY_PLAY, "n_clicks"),
    State(ids.HISTORY_CLOCK, "disabled"),
    prevent_initial_call=True,
)
def _play(_: int | None, stopped: bool) -> tuple[bool, str]:
    # U+23F8 (pause) has no glyph in common Linux fonts and drew as a box; the bars are U+2016
    return (False, "\u2016 Pause") if stopped else (True, "\u25b6 Replay")


@callback(
    Output(ids.HISTORY_REPLAY, "value", allow_duplicate=True),
    Input(ids.HISTORY_CLOCK, "n_intervals"),
    State(ids.HISTORY_REPLAY, "value"),
    State(ids.HISTORY_REPLAY, "max"),
    prevent_initial_call=True,
)
def _advance(_: int | None, index: int | None, last: int | None) -> int:
    """One step of the replay; it starts over once the end is reached."""
    nxt = int(index or 0) + 1
    return 0 if nxt > int(last or 0) else nxt
