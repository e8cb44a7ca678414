"""Weather tab: stations, their readings as a chart, and advisories when thresholds are crossed."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html
from dash.development.base_component import Component

from app.console import chart, ids
from app.console.shown import when_shown

HEAVY_RAIN_MM_H = 7.6  # AMS "heavy rain" rate
FOG_VISIBILITY_M = 1000.0  # WMO definition of fog
AQI_UNHEALTHY = 150.0  # US EPA: above 150 is "unhealthy"
STRONG_WIND_KMH = 62.0  # Beaufort 8, gale
COLUMNS = (
    ("id", "Station"),
    ("weather_condition", "Condition"),
    ("temperature", "°C"),
    ("humidity", "Humidity %"),
    ("wind_speed", "Wind km/h"),
    ("precipitation", "Precip. mm/h"),
    ("visibility", "Visibility m"),
    ("airQualityIndex", "AQI"),
)


def advisories(stations: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(station id, advisory text) for each threshold a station crosses."""
    out = []
    for st in stations:
        sid = str(st.get("id", "?"))
        if float(st.get("precipitation", 0) or 0) >= HEAVY_RAIN_MM_H:
            out.append((sid, f"Heavy rain: {st['precipitation']} mm/h"))
        visibility = st.get("visibility")
        condition = str(st.get("weather_condition", "")).lower()
        if (visibility is not None and float(visibility) < FOG_VISIBILITY_M) or "fog" in condition:
            out.append((sid, f"Fog: visibility {visibility if visibility is not None else '?'} m"))
        if float(st.get("airQualityIndex", 0) or 0) > AQI_UNHEALTHY:
            out.append((sid, f"Unhealthy air: AQI {st['airQualityIndex']}"))
        if float(st.get("wind_speed", 0) or 0) >= STRONG_WIND_KMH:
            out.append((sid, f"Gale: wind {st['wind_speed']} km/h"))
    return out


def advisory_list(stations: list[dict[str, Any]]) -> Component:
    items = advisories(stations)
    if not items:
        return dbc.Alert("No weather advisories.", color="success", className="py-2")
    return html.Div([dbc.Alert(f"{sid}: {text}", color="warning", className="py-2 mb-1") for sid, text in items])


def station_rows(stations: list[dict[str, Any]]) -> Component:
    head = html.Thead(html.Tr([html.Th(name) for _, name in COLUMNS]))
    body = html.Tbody(
        [html.Tr([html.Td("" if st.get(key) is None else str(st.get(key))) for key, _ in COLUMNS]) for st in stations]
    )
    return dbc.Table([head, body], size="sm", hover=True, responsive=True)


def readings_figure(stations: list[dict[str, Any]]) -> dict[str, Any]:
    """Temperature, precipitation, wind and AQI per station as grouped bars."""
    names = [chart.text(s.get("id")) for s in stations]
    series = (("temperature", "°C"), ("precipitation", "mm/h"), ("wind_speed", "wind km/h"), ("airQualityIndex", "AQI"))
    return {
        "data": [
            {"type": "bar", "name": label, "x": names, "y": [s.get(key) for s in stations]} for key, label in series
        ],
        "layout": {**chart.layout("Readings per station", 320, margin={"b": 60}), "barmode": "group"},
    }


def layout() -> Component:
    return dbc.Row(
        [
            dbc.Col([html.H6("Advisories"), html.Div(id=ids.WEATHER_ADVISORIES)], lg=4, xs=12),
            dbc.Col(
                [dcc.Graph(id=ids.WEATHER_CHART, figure=readings_figure([])), html.Div(id=ids.WEATHER_TABLE)],
                lg=8,
                xs=12,
            ),
        ],
        className="g-2",
    )


@callback(
    Output(ids.WEATHER_ADVISORIES, "children"),
    Output(ids.WEATHER_CHART, "figure"),
    Output(ids.WEATHER_TABLE, "children"),
    Input(ids.WEATHER_VIEW, "data"),
)
def _render(stations: list[dict[str, Any]] | None) -> Any:
    rows = stations or []
    return advisory_list(rows), readings_figure(rows), station_rows(rows)


when_shown(ids.TAB_WEATHER, ids.FEED_WEATHER, ids.WEATHER_VIEW)
