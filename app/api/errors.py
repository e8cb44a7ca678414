"""Errors as JSON: ``{"error": {"status", "message"}}``, never an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from redis import exceptions as redis_errors
from werkzeug.exceptions import HTTPException

from pipeline.exceptions import BusClosed, BusFull, KafkaUnavailable, PipelineError

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 2  # what a 503 tells clients: Redis reconnects, Kafka's buffer drains, in about that
# Redis away, or refusing for a while (loading, failing over, full): worth asking again. Any other
# RedisError (WRONGTYPE, a script's error) is a bug of ours, and stays a 500 in the log.
SPEED_LAYER_AWAY = (
    redis_errors.ConnectionError,  # refused, reset, out of connections, loading, authentication
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
)


class ApiError(Exception):
    """Raise in a handler to answer with ``status`` and a clear ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> tuple[Response, int]:
    resp = jsonify(error={"status": status, "message": message})
    if status == 503:  # every 503 of the API is something away for a while: the client may ask again
        resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return resp, status


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> tuple[Response, int]:
        return error_response(exc.status, exc.message)

    @app.errorhandler(KafkaUnavailable)
    @app.errorhandler(BusFull)
    @app.errorhandler(BusClosed)
    def _bus_unavailable(exc: PipelineError) -> tuple[Response, int]:
        # the events were not taken: the client may send them again later
        return error_response(503, f"events not accepted: {exc}")

    @app.errorhandler(redis_errors.RedisError)
    def _speed_layer_unavailable(exc: redis_errors.RedisError) -> tuple[Response, int]:
        if not isinstance(exc, SPEED_LAYER_AWAY):
            return _unexpected(exc)
        # Redis down, timing out or out of connections: the client may ask again shortly.
        # The answer names the kind of error only; its text (hosts, ports) goes to the log.
        log.warning("speed layer unavailable on %s %s: %r", request.method, request.path, exc)
        return error_response(503, f"speed layer unavailable: {type(exc).__name__}")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int] | HTTPException:
        if not request.path.startswith("/api/"):
            return exc  # the console's own pages keep Flask's default handling
        resp, status = error_response(exc.code or 500, exc.description or exc.name)
        for name, value in exc.get_headers():  # a 405's Allow, a 503's Retry-After, …
            if name.lower() != "content-type":
                resp.headers[name] = value
        return resp, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; see the server log")
