"""The console + API server: ``create_app(settings) -> Flask``."""

from __future__ import annotations

from flask import Flask

from app import api
from app.api import errors
from app.store import Store
from pipeline import runtime
from pipeline.settings import Settings


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """The Flask application; ``store`` overrides the one built from ``settings`` (tests)."""
    settings = settings or Settings()
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if store is None:
        client = runtime.redis_client(settings)
        store = Store(runtime.speed_layer(settings, client))
    app.extensions["smartcity.store"] = store
    app.register_blueprint(api.bp)
    errors.register(app)
    return app
