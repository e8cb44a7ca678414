"""Errors as JSON: ``{"error": {"status", "message"}}``, never an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from pipeline.exceptions import BusClosed, BusFull, KafkaUnavailable, PipelineError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raise in a handler to answer with ``status`` and a clear ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error={"status": status, "message": message}), status


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

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int] | HTTPException:
        if not request.path.startswith("/api/"):
            return exc  # the console's own pages keep Flask's default handling
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; see the server log")
