"""The console + API server: ``create_app(settings) -> Flask``."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from app import api, metrics
from app.actions import Ingest
from app.api import errors, gtfs, openapi
from app.auth import Credentials, init_auth
from app.dispatcher import Dispatcher
from app.ingest import http_ingest
from app.store import Store
from app.ws import init_ws
from pipeline import runtime
from pipeline.lake import open_lake
from pipeline.settings import Settings


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    ingest: Ingest | None = None,
    accounting: Callable[[], dict[str, Any]] | None = None,
    network_geojson: dict[str, Any] | None = None,
) -> Flask:
    """The Flask application.

    Without ``store``/``ingest`` it reads the speed layer named by ``settings`` and
    processes ingested events itself; the one-process demo passes its own (the embedded
    store and bus), plus the processor's ``accounting`` and the road network to draw.
    """
    settings = settings or Settings()
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if store is None:
        store = Store(runtime.speed_layer(settings, runtime.redis_client(settings)), settings.fleet_cache_seconds)
    app.extensions["smartcity.store"] = store
    app.extensions["smartcity.ingest"] = ingest or http_ingest(settings, store.writer())  # Kafka when configured
    app.extensions["smartcity.validator"] = runtime.validator(settings)
    app.extensions["smartcity.lake"] = open_lake(settings.lake_uri, runtime.s3_options(settings))
    _init_webhooks(app, store, settings.alerts_prefix)
    if accounting is not None:
        app.extensions["smartcity.accounting"] = accounting
    app.config.update(
        SMARTCITY_TOPICS=settings.topics(),
        SMARTCITY_MAX_INGEST_EVENTS=settings.max_ingest_events,
        SMARTCITY_TILE_URL=settings.tile_url,
        SMARTCITY_TILE_ATTRIBUTION=settings.tile_attribution,
        SMARTCITY_CITY=settings.city,  # the network drawn when none is given (gunicorn's create_app())
        SMARTCITY_NETWORK_GEOJSON=network_geojson,
        SMARTCITY_ALERTS_PREFIX=settings.alerts_prefix,
        MAX_CONTENT_LENGTH=settings.max_ingest_events * settings.max_payload_bytes,
    )
    init_auth(app, settings)
    app.register_blueprint(api.bp)
    app.register_blueprint(gtfs.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(metrics.bp)
    errors.register(app)
    init_ws(app, store)
    _mount_console(app)
    return app


def credentials(app: Flask) -> Credentials:
    creds: Credentials = app.extensions["smartcity.credentials"]
    return creds


def dispatcher(app: Flask) -> Dispatcher:
    found: Dispatcher = app.extensions["smartcity.dispatcher"]
    return found


def _init_webhooks(app: Flask, store: Store, alerts_prefix: str) -> None:
    """The webhooks, and their dispatcher: started by the process's first request (so a forking
    server starts one in each worker, each a consumer of the alert stream), stopped by the
    server's ``stop`` and gunicorn's ``worker_exit``, or once the app is gone."""
    hooks = store.webhooks()
    sender = Dispatcher(hooks, stream=store.alert_log(alerts_prefix).stream_key)  # the alert log's stream
    app.extensions["smartcity.webhooks"] = hooks
    app.extensions["smartcity.dispatcher"] = sender
    weakref.finalize(app, sender.request_stop)  # the sender's threads hold it, not the app

    def start_dispatcher() -> None:
        if not sender.running:
            sender.start()

    app.before_request(start_dispatcher)


def _mount_console(app: Flask) -> None:
    if not (Path(__file__).parent / "console" / "__init__.py").exists():  # the API alone still serves
        return
    from app.console import init_console

    init_console(app)
