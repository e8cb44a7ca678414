"""The operations console: Dash mounted on the Flask server at ``/``.

Call :func:`init_console` from the application factory. Tabs declare their callbacks with
``app.console.callbacks``; they never import the Dash app.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NoReturn

import dash
import flask
import orjson

from app.console import callbacks, chart, feed, layout
from app.console import map as map_tab
from pipeline import live_model

ASSETS = Path(__file__).resolve().parents[2] / "assets"
LIVE_CLIENT = "smartcity_live.js"


def _not_found(path: str) -> NoReturn:
    flask.abort(404)


def page_config(server: flask.Flask) -> dict[str, object]:
    """The one JSON object the browser reads: the live read model
    (``pipeline.live_model.browser_config``) and the city's time zone (``city_time_zone``, the
    zone ``assets/smartcity.js`` prints times in unless the browser chose UTC)."""
    config = server.extensions["smartcity.store"].windows()
    with server.app_context():
        zone = chart.city_zone()
    return {**live_model.browser_config(config.active_s, config.sensor_s), "city_time_zone": zone}


def _with_live_model(index: str, server: flask.Flask, live_client_url: str) -> str:
    """The page with :func:`page_config` in it (script tag ``smartcity-live-model``), and the
    live client's script right below it, above Dash's: it opens the socket as soon as it runs, so
    the city's snapshot is built, sent and read while the browser loads and runs the ~3 MB of
    Dash, React, Leaflet and AG Grid (below them, it ran ~450 ms later; the first message was the
    last thing the first map render waited for)."""
    model = orjson.dumps(page_config(server)).decode().replace("</", "<\\/")
    tag = f'<script id="smartcity-live-model" type="application/json">{model}</script>'
    client = f'<script src="{live_client_url}"></script>'
    return index.replace("{%config%}", f"{tag}\n            {client}\n            {{%config%}}", 1)


def init_console(server: flask.Flask) -> dash.Dash:
    """Mount the console on ``server`` at ``/`` and return the Dash app."""
    app = dash.Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # Dash's hints omit a Flask instance
        url_base_pathname="/",
        assets_folder=str(ASSETS),
        serve_locally=True,
        suppress_callback_exceptions=True,
        external_stylesheets=[],
        assets_ignore=re.escape(LIVE_CLIENT),  # placed by ``_with_live_model``, above Dash's scripts
        title="Smart City · Operations",
        update_title="",
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    # Dash answers every path with its page (for multi-page apps); the console is one page,
    # so unknown paths stay 404s, and the API's unknown routes keep their JSON 404.
    server.view_functions[f"{app.config.routes_pathname_prefix}<path:path>"] = _not_found
    server.add_url_rule(map_tab.ROADS_PATH, "console_roads", map_tab.roads_response)
    app.layout = layout.build
    live_client = f"{app.get_asset_url(LIVE_CLIENT)}?m={(ASSETS / LIVE_CLIENT).stat().st_mtime:.0f}"  # as Dash's
    app.index_string = _with_live_model(app.index_string, server, live_client)
    callbacks.register(app)
    server.extensions["smartcity.console"] = app
    hub = server.extensions.get("smartcity.hub")
    if hub is not None:  # pushes carry the console's summary, the one its tabs show
        hub.summary = feed.pushed_summary(server)
    return app
