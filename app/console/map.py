"""Map tab: road network, vehicles, incidents, traffic sensors and weather stations on Leaflet.

The roads (and tiles) are dash-leaflet layers. Every point layer, and the selected vehicle's
track, belongs to ``assets/smartcity_map.js``: it draws them with WebGL from the live city in the
browser, picks them with the mouse and selects a vehicle by setting ``ids.MAP_SELECTED``. What
the points look like is presentation and stays here (``map_style``, keyed by the live model's
vehicle types, congestion levels and severities); layer toggles, vehicle types and the colouring
go to the browser through clientside callbacks and never reach the server.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from functools import cache
from typing import Any

import dash_bootstrap_components as dbc
import dash_leaflet as dl
import flask
import orjson
from dash import ClientsideFunction, Input, Output, dcc, html
from dash.development.base_component import Component
from flask import current_app, session

from app.console import ids, zones
from app.console.callbacks import clientside_callback
from app.console.traffic import LEVEL_COLOURS
from pipeline.live_model import LEVELS
from pipeline.schemas import SEVERITIES, VEHICLE_TYPES

DEFAULT_TILE_URL = "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
VEHICLE_COLOURS = {
    "car": "#2b7bba",
    "bus": "#f28e2b",
    "taxi": "#e5c100",
    "truck": "#8c6d31",
    "ambulance": "#17becf",
    "police": "#3f3fbf",
    "fire": "#d62728",
}
# speed bands, slowest first: a vehicle is in the first whose ``below`` (km/h) it is under
SPEED_BANDS: tuple[dict[str, Any], ...] = (
    {"name": "stopped", "below": 5.0, "colour": "#d62728"},
    {"name": "slow", "below": 25.0, "colour": "#ff7f0e"},
    {"name": "moving", "below": None, "colour": "#2ca02c"},
)
# incident markers, by severity (the model's severities, least severe first)
SEVERITY_MARKER_COLOURS = dict(zip(SEVERITIES, ("#6c757d", "#0dcaf0", "#fd7e14", "#dc3545"), strict=True))
COLOUR_BY = (("type", "Type"), ("speed", "Speed"))
# the layers the operator can switch off, as the layer checklist names them: the point layers
# smartcity_map.js draws, and the panes of the roads and tiles (dash-leaflet layers; toggling
# a GeoJSON in Leaflet's layer control threw inside dash-leaflet, hiding its pane does not)
LAYERS = (("vehicles", "Vehicles"), ("incidents", "Incidents"), ("sensors", "Traffic sensors"),
          ("stations", "Weather stations"), ("roads", "Roads"))  # fmt: skip
TILES = ("tiles", "Tiles")
ROADS_PANE = "smartcity-roads"  # smartcity_map.js hides it when Roads is unticked


def _js(name: str) -> dict[str, str]:
    """A reference to a function of the clientside namespace, as dash-leaflet expects it."""
    return {"variable": f"dash_clientside.smartcity.{name}"}


@cache
def _default_network(city: str) -> dict[str, Any]:
    from producers.network import load_network  # heavy (sumolib): only when a map is first drawn

    return load_network(city).geojson()


def network() -> dict[str, Any]:
    """The road network to draw: app config ``SMARTCITY_NETWORK_GEOJSON`` or the simulated city's."""
    configured: dict[str, Any] | None = current_app.config.get("SMARTCITY_NETWORK_GEOJSON")
    if configured is not None:
        return configured
    return _default_network(current_app.config.get("SMARTCITY_CITY", "berlin"))


def bbox(geojson: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """South, west, north, east of a FeatureCollection of LineStrings/Points (None when empty)."""
    lats: list[float] = []
    lons: list[float] = []
    for feature in geojson.get("features", []):
        geometry = feature["geometry"]
        coords = geometry["coordinates"]
        points = [coords] if geometry["type"] == "Point" else coords
        lons.extend(p[0] for p in points)
        lats.extend(p[1] for p in points)
    if not lats:
        return None
    return (min(lats), min(lons), max(lats), max(lons))


def bbox_centre(geojson: dict[str, Any]) -> tuple[float, float]:
    """Latitude/longitude centre of the network's bounding box."""
    box = bbox(geojson)
    if box is None:
        return (52.44, 13.53)
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def fit_zoom(geojson: dict[str, Any], width_px: int = 800, height_px: int = 520) -> int:
    """The largest whole zoom at which the network fits a map of about this size (Web Mercator)."""
    box = bbox(geojson)
    if box is None:
        return 14
    south, west, north, east = box
    y = [math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) for lat in (south, north)]
    x_fraction = max((east - west) / 360, 1e-9)
    y_fraction = max((y[1] - y[0]) / (2 * math.pi), 1e-9)
    zoom = min(math.log2(width_px / 256 / x_fraction), math.log2(height_px / 256 / y_fraction))
    return max(1, min(18, math.floor(zoom)))


def tile_layer() -> list[Component]:
    """The base tiles (configurable; an empty ``SMARTCITY_TILE_URL`` means roads only, offline)."""
    url = current_app.config.get("SMARTCITY_TILE_URL", DEFAULT_TILE_URL)
    if not url:
        return []
    attribution = current_app.config.get("SMARTCITY_TILE_ATTRIBUTION", DEFAULT_ATTRIBUTION)
    return [dl.TileLayer(url=url, attribution=attribution, maxZoom=19)]


# what each point layer looks like on the map (assets/smartcity_map.js) and in the legend: diameter
# and stroke in CSS px, stroke colour, a fixed fill where the layer has one, and the diameter
# vehicles take from street level in, with a heading arrow
LOOKS: dict[str, dict[str, Any]] = {
    "sensors": {"size": 10, "stroke": 1, "strokeColour": "#222222"},
    "stations": {"size": 14, "stroke": 2, "strokeColour": "#0d6efd", "fill": "#ffffff"},
    "vehicles": {"size": 10, "stroke": 0, "strokeColour": "#000000", "arrows": 16},
    "incidents": {"size": 18, "stroke": 2, "strokeColour": "#000000"},
    "selected": {"size": 20, "stroke": 3, "strokeColour": "#ff00aa"},
}
# vehicles by status (assets/smartcity_status.js names them), as the clusters' rings show them:
# not red (fire engines, stopped, severe congestion and critical incidents are red already)
STATUS_COLOURS = {"moving": "#2ca02c", "parked": "#1f77b4", "offline": "#9e9e9e"}
# below ``below_zoom`` vehicles are drawn as one bubble per ``cell`` px square of the screen,
# with their count and a ring split by status; incidents, sensors and stations stay points. The
# demo city fits the map at zoom 15 (``fit_zoom``): it opens with points, and clusters from one
# zoom step out. Bubble diameters grow with the count's logarithm from ``size`` to ``max_size``
# px; ``ring`` is the status ring's width.
CLUSTERS: dict[str, Any] = {"below_zoom": 15, "cell": 72, "size": 30, "max_size": 56, "ring": 5}


def map_style() -> dict[str, Any]:
    """What the map's points look like, keyed by the live model's names (smartcity_map.js reads it)."""
    return {
        "vehicle_colours": {t: VEHICLE_COLOURS[t] for t in VEHICLE_TYPES},
        "bands": list(SPEED_BANDS),
        "level_colours": {level: LEVEL_COLOURS[level] for level in LEVELS},
        "severity_colours": SEVERITY_MARKER_COLOURS,
        "looks": LOOKS,
        "status_colours": STATUS_COLOURS,
        "clusters": CLUSTERS,
    }


ROADS_PATH = "/console/roads.geojson"


class Roads:
    """The network as GeoJSON, plain and gzipped, with its content tag: encoded once per server (a
    road network does not change while it runs)."""

    def __init__(self, geojson: dict[str, Any]) -> None:
        self.plain = orjson.dumps(geojson)
        self.gzipped = gzip.compress(self.plain, 6, mtime=0)
        self.tag = hashlib.sha256(self.plain).hexdigest()[:16]

    @staticmethod
    def of_app() -> Roads:
        roads: Roads | None = current_app.extensions.get("smartcity.roads")
        if roads is None:
            roads = current_app.extensions["smartcity.roads"] = Roads(network())
        return roads


def roads_response() -> flask.Response:
    """GET ``ROADS_PATH``: the road network the map draws, fetched by its layer rather than carried
    in the page's layout (256 KB of coordinates there made Dash's renderer walk them at every page
    load, its largest script before the map's first render). Cached by the browser under its tag."""
    roads = Roads.of_app()
    headers = {"ETag": f'"{roads.tag}"', "Cache-Control": "private, max-age=86400", "Vary": "Accept-Encoding"}
    if flask.request.if_none_match.contains(roads.tag):
        return flask.Response(status=304, headers=headers)
    if "gzip" in flask.request.accept_encodings:
        headers["Content-Encoding"] = "gzip"
        return flask.Response(roads.gzipped, mimetype="application/geo+json", headers=headers)
    return flask.Response(roads.plain, mimetype="application/geo+json", headers=headers)


def layout() -> Component:
    roads = network()
    url = f"{ROADS_PATH}?v={Roads.of_app().tag}"  # a new network, a new address: no stale cache
    roads_layer = dl.GeoJSON(id=ids.MAP_ROADS, url=url, style=_js("roadStyle"), hideout={"levels": {}})
    tiles = tile_layer()
    layers = [*LAYERS, TILES] if tiles else list(LAYERS)
    leaflet = dl.Map(
        [
            *tiles,
            dl.Pane(roads_layer, name=ROADS_PANE, style={"zIndex": 400}),
            dl.ScaleControl(position="bottomleft"),
        ],
        id=ids.MAP,
        center=bbox_centre(roads),
        zoom=fit_zoom(roads),
        preferCanvas=True,
        className="smartcity-map",
    )
    legend = [
        {"label": html.Span([html.Span(className="dot", style={"background": VEHICLE_COLOURS[t]}), t]), "value": t}
        for t in VEHICLE_TYPES
    ]
    find = html.Div(
        [
            dbc.Label("Find a vehicle", html_for=ids.MAP_FIND, className="visually-hidden"),
            dbc.InputGroup(
                [
                    dbc.Input(id=ids.MAP_FIND, type="search", placeholder="Vehicle id, plate or road",
                              autoComplete="off", debounce=False),
                    dbc.Button("Find", id=f"{ids.MAP_FIND}-go", color="secondary", outline=True),
                ],
                size="sm",
            ),
            html.Div(id=ids.MAP_FIND_RESULTS, className="small mt-1", role="status"),
        ],
        className="mb-2",
    )  # fmt: skip
    panel = dbc.Card(
        dbc.CardBody(
            [
                find,
                html.Div(
                    [
                        html.H6("Colour by", className="mb-0 me-3"),
                        dbc.RadioItems(
                            id=ids.MAP_COLOUR_BY,
                            options=[{"label": label, "value": value} for value, label in COLOUR_BY],
                            value="type",
                            inline=True,
                            persistence=True,
                            persistence_type="local",
                        ),
                    ],
                    className="d-flex align-items-center mb-1",
                ),
                speed_legend(),
                html.H6("Layers"),
                dbc.Checklist(
                    id=ids.MAP_LAYERS,
                    options=[{"label": label, "value": value} for value, label in layers],
                    value=[value for value, _ in layers],
                    className="mb-3",
                ),
                map_legend(map_style()),
                html.H6("Vehicle types"),
                dbc.Checklist(id=ids.MAP_TYPES, options=legend, value=list(VEHICLE_TYPES), className="mb-3"),
                html.Div(
                    [
                        html.H6("Details", className="mb-0 me-auto"),
                        dbc.Switch(id=ids.MAP_FOLLOW, label="Follow", value=False, className="mb-0"),
                    ],
                    className="d-flex align-items-center mb-1",
                ),
                html.Div("Click a vehicle or an incident.", id=ids.MAP_DETAILS, className="small"),
                html.Div(  # assets/smartcity_replay.js
                    [
                        dbc.Button(
                            "Replay last hour",
                            id=f"{ids.MAP_REPLAY}-go",
                            size="sm",
                            color="secondary",
                            outline=True,
                            className="me-2",
                        ),
                        dbc.Button("Stop", id=f"{ids.MAP_REPLAY}-stop", size="sm", color="secondary", outline=True),
                        html.Div(id=f"{ids.MAP_REPLAY}-status", className="small mt-1", role="status"),
                    ],
                    id=ids.MAP_REPLAY,
                    className="mt-2",
                ),
                *([zones.zone_panel()] if session.get("role") == "admin" else []),  # drawing zones: admins
            ]
        )
    )
    return html.Div(
        [
            dbc.Row([dbc.Col(leaflet, lg=9, md=8, xs=12), dbc.Col(panel, lg=3, md=4, xs=12)], className="g-2"),
            dcc.Store(id=ids.MAP_SELECTED),
            dcc.Store(id=ids.MAP_STYLE, data=map_style()),
        ]
    )


def band_label(band: dict[str, Any], slower: dict[str, Any] | None) -> str:
    """``stopped (under 5 km/h)``, ``slow (5–25 km/h)``, ``moving (25 km/h and more)``."""
    if slower is None:
        return f"{band['name']} (under {band['below']:g} km/h)"
    if band["below"] is None:
        return f"{band['name']} ({slower['below']:g} km/h and more)"
    return f"{band['name']} ({slower['below']:g}–{band['below']:g} km/h)"


def map_legend(style: dict[str, Any]) -> Component:
    """What the roads' and the points' colours mean, from ``map_style`` (the colours the map draws):
    congestion (roads and traffic sensors, ringed dark), incident severity (large, ringed black),
    weather stations (white, ringed blue)."""

    def row(label: str, colour: str, ring: str = "transparent", size: str = "0.75rem") -> Component:
        look = {"background": colour, "boxShadow": f"0 0 0 2px {ring}", "width": size, "height": size}
        return html.Div([html.Span(className="dot", style=look), label], className="text-nowrap")

    looks = style["looks"]
    sensor, incident, station = looks["sensors"], looks["incidents"], looks["stations"]
    levels = [row(level, colour, sensor["strokeColour"]) for level, colour in style["level_colours"].items()]
    severities = [
        row(sev, colour, incident["strokeColour"], "1rem") for sev, colour in style["severity_colours"].items()
    ]
    return html.Details(
        [
            html.Summary("Legend"),
            html.Div("Congestion (roads, sensors)", className="fw-semibold mt-1"),
            html.Div(levels, className="d-flex flex-wrap column-gap-3"),
            html.Div("Incidents by severity", className="fw-semibold mt-1"),
            html.Div(severities, className="d-flex flex-wrap column-gap-3"),
            html.Div("Weather stations", className="fw-semibold mt-1"),
            row("station", station["fill"], station["strokeColour"], "0.9rem"),
            html.Div(
                f"Vehicles zoomed out (below zoom {style['clusters']['below_zoom']}): a bubble per area, "
                "its count, ringed by status",
                className="fw-semibold mt-1",
            ),
            html.Div(
                [row(name, "transparent", colour) for name, colour in style["status_colours"].items()],
                className="d-flex flex-wrap column-gap-3",
            ),
        ],
        id=ids.MAP_LEGEND,
        className="small mb-3",
    )


def speed_legend() -> Component:
    """What the colours mean when vehicles are coloured by speed (shown only then)."""
    rows = [
        html.Div([html.Span(className="dot", style={"background": band["colour"]}), band_label(band, slower)])
        for band, slower in zip(SPEED_BANDS, (None, *SPEED_BANDS[:-1]), strict=True)
    ]
    return html.Div(rows, id=ids.MAP_SPEED_LEGEND, className="small mb-3", hidden=True)


# the map's points live in the browser (assets/smartcity_map.js): these only pass it what the
# operator chose, and a selection made elsewhere (the Emergency tab's Map button)
clientside_callback(
    ClientsideFunction("smartcity_map", "view"),
    Output(ids.MAP_SPEED_LEGEND, "hidden"),
    Input(ids.MAP_TYPES, "value"),
    Input(ids.MAP_COLOUR_BY, "value"),
    Input(ids.MAP_STYLE, "data"),
)
clientside_callback(
    ClientsideFunction("smartcity_map", "layers"),
    Output(ids.MAP_LAYERS, "className"),
    Input(ids.MAP_LAYERS, "value"),
)
clientside_callback(
    ClientsideFunction("smartcity_map", "follow"),
    Output(ids.MAP_FOLLOW, "className"),
    Input(ids.MAP_FOLLOW, "value"),
)
clientside_callback(
    ClientsideFunction("smartcity_map", "selected"),
    Output(ids.MAP_DETAILS, "className"),
    Input(ids.MAP_SELECTED, "data"),
)
# the selection's details are drawn in the browser from the live city (assets/smartcity_details.js)
clientside_callback(
    ClientsideFunction("smartcity_details", "show"),
    Input(ids.MAP_SELECTED, "data"),
)
