"""``/openapi.json`` (OpenAPI 3.1, built from ``routes.ROUTES``) and ``/docs`` (Swagger UI).

Swagger UI comes from the ``flask-swagger-ui`` package, which ships its dist files: they are
served from site-packages under ``/docs/ui/``, so the docs need no CDN and no network.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import flask_swagger_ui
from flask import Blueprint, Flask, Response, current_app, jsonify, url_for

from app.api.openapi import alert_routes
from app.api.openapi.routes import ROUTES, TAGS, Route
from app.api.openapi.schemas import components, ref
from pipeline.validation import Validator

_SWAGGER_UI = Path(flask_swagger_ui.__file__).parent / "dist"
bp = Blueprint("openapi", __name__, static_folder=_SWAGGER_UI, static_url_path="/docs/ui")

_SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"token": []}, {"session": []}]
_AUTH_ERRORS = {
    401: "no credentials: send Authorization: Bearer <token> (or ?token=, or sign in)",
    403: "the caller's role may not do this; or, signed in with the console's session cookie, a request that "
    "changes something came without an Origin (or Referer) naming this server (a cross-site request)",
}
_SPEED_LAYER_DOWN = "the speed layer (Redis) does not answer: ask again after Retry-After seconds"
_RETRY_AFTER = {"description": "seconds to wait before asking again", "schema": {"type": "integer", "minimum": 1}}
_INFO = """The live state of the city, its history, incident actions and HTTP ingest.

**Credentials**: an API token (`SMARTCITY_API_TOKENS`, `role:token` pairs) as
`Authorization: Bearer <token>` or `?token=`, or the console's session cookie (`/login`).
Roles: `viewer` reads, `operator` also acts on incidents, `admin` also reads the audit log and
may ingest, `ingest` may only post events. Each operation names its roles (`x-roles`).

**Errors** under `/api/` are JSON, `{"error": {"status": 404, "message": "…"}}`
(`#/components/schemas/Error`), never an HTML page; unknown `/api/` routes are a JSON 404."""


def _operation(entry: Route) -> dict[str, Any]:
    method, path = entry["route"].split(" ", 1)
    roles = entry.get("roles")
    op: dict[str, Any] = {
        "tags": [entry["tag"]],
        "summary": entry["summary"],
        "operationId": method.lower() + re.sub(r"\W+", "_", path).rstrip("_"),
        "description": (f"Roles: {', '.join(roles)}." if roles else "Public: no credentials needed.")
        + (f"\n\n{entry['description']}" if entry.get("description") else ""),
        "parameters": entry.get("parameters", []),
        "security": _SECURITY if roles else [],
    }
    if roles:
        op["x-roles"] = list(roles)
    if "body" in entry:
        op["requestBody"] = entry["body"]
    answers: dict[int, Any] = dict(entry["responses"])
    if entry.get("speed_layer"):
        answers[503] = f"{answers[503]}; or {_SPEED_LAYER_DOWN}" if 503 in answers else _SPEED_LAYER_DOWN.capitalize()
    if roles and not entry.get("websocket"):
        for status, text in _AUTH_ERRORS.items():
            answers.setdefault(status, text)
    op["responses"] = {str(status): _response(status, answers[status]) for status in sorted(answers)}
    return op


def _response(status: int, answer: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(answer, dict):
        return answer
    if status == 503:
        return {**_response(500, answer), "headers": {"Retry-After": _RETRY_AFTER}}
    if status >= 400:
        return {"description": answer, "content": {"application/json": {"schema": ref("Error")}}}
    return {"description": answer}


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app`` (its validator's limits, its session cookie's name)."""
    validator: Validator = app.extensions["smartcity.validator"]
    paths: dict[str, dict[str, Any]] = {}
    for entry in ROUTES:
        method, path = entry["route"].split(" ", 1)
        paths.setdefault(path, {})[method.lower()] = _operation(entry)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Smart City API", "version": "1", "description": _INFO},
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": components(validator) | alert_routes.SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token (SMARTCITY_API_TOKENS)"},
                "token": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "the same token as ?token=, for clients that cannot set headers",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": app.config["SESSION_COOKIE_NAME"],
                    "description": "the console's login session (GET or POST /login)",
                },
            },
        },
    }


def document() -> dict[str, Any]:
    """The current app's document, built once."""
    doc: dict[str, Any] = current_app.extensions.get("smartcity.openapi") or build(current_app)
    current_app.extensions["smartcity.openapi"] = doc
    return doc


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Smart City API</title>
<link rel="stylesheet" href="{css}"><link rel="stylesheet" href="{index_css}">
<link rel="icon" type="image/png" href="{icon}"></head><body>
<noscript><main style="font-family:sans-serif;margin:1rem"><h1>Smart City API</h1>
<p>Machine-readable: <a href="{spec}">{spec}</a>. Send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<ul>{rows}</ul></main></noscript>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: {spec_json}, dom_id: "#swagger-ui", deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout",
  validatorUrl: null  // the default badge asks validator.swagger.io about the document
}});
</script></body></html>"""


@bp.get("/docs")
def docs() -> str:
    rows = "".join(
        f"<li><code>{html.escape(e['route'])}</code> {html.escape(e['summary'])}"
        f" ({html.escape(', '.join(e.get('roles', ())) or 'public')})</li>"
        for e in ROUTES
    )
    spec = url_for("openapi.openapi_json")
    asset = lambda name: url_for("openapi.static", filename=name)  # noqa: E731
    return _PAGE.format(
        css=asset("swagger-ui.css"), index_css=asset("index.css"), icon=asset("favicon-32x32.png"),
        bundle=asset("swagger-ui-bundle.js"), spec=html.escape(spec), spec_json=json.dumps(spec),
        rows=rows,
    )  # fmt: skip
