"""The production app for the overload tests, with Redis errors answered as JSON 503.

TEMPORARY: app/api/errors.py is getting a handler that turns a ``redis.RedisError`` escaping an
``/api`` route into JSON 503 with ``Retry-After``. Until it lands, this adds a stand-in with the
same outcome, so the tests assert the final behaviour; once it has landed this adds nothing
(and the tests can serve ``app:create_app()`` directly).
"""

from __future__ import annotations

import redis
from flask import Flask, Response, jsonify

from app import create_app as create_production_app


def create_app() -> Flask:
    app = create_production_app()
    if redis.RedisError not in app.error_handler_spec[None][None]:  # errors.py has none yet

        @app.errorhandler(redis.RedisError)
        def _speed_layer_unavailable(exc: redis.RedisError) -> Response:
            body = jsonify(error={"status": 503, "message": f"speed layer unavailable: {exc}"})
            body.status_code, body.headers["Retry-After"] = 503, "1"
            return body

    return app
