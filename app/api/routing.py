"""How ``/api/`` URLs route: entity ids of any content, the methods a path allows, the URL's size.

The console mounts Dash's catch-all ``GET /<path:path>`` on the same app, so werkzeug alone
would say that every ``/api/`` path allows GET: a GET of a POST-only route would reach Dash
(a 404, not a 405) and OPTIONS would advertise GET. The API's own rules, in a map of their own,
answer both questions for ``/api/`` paths.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import RequestURITooLarge
from werkzeug.routing import BaseConverter, Map

MAX_URL_BYTES = 16 * 1024  # path and query; ids of 256 characters take at most 3 KiB percent-encoded


class IdConverter(BaseConverter):
    """``<id:name>``: an entity id, any text of one or more characters. Slashes and newlines
    included: the client percent-encodes them (``%2F``, ``%0A``), the server decodes them
    before routing, and werkzeug's ``path`` converter stops at a newline and a leading slash."""

    regex = r"[\s\S]+?"
    part_isolating = False
    weight = 200  # like ``path``: a static rule of the same place (``/vehicles/locations``) wins


INCIDENT_ACTIONS = ("acknowledge", "resolve", "assign", "notes")


class IncidentConverter(IdConverter):
    """``<incident:name>``: an incident id read on its own URL, as ``id`` but never ending in
    ``/<action>`` (``INCIDENT_ACTIONS``): such a URL is the action's, so that a GET of it is a
    405 naming POST, not a read of an incident called ``i-1/acknowledge``."""

    regex = rf"(?![\s\S]*/(?:{'|'.join(INCIDENT_ACTIONS)})$)[\s\S]+?"


def add_converter(state: BlueprintSetupState) -> None:
    """Give the app's URL map the ``id`` and ``incident`` converters."""
    state.app.url_map.converters["id"] = IdConverter
    state.app.url_map.converters["incident"] = IncidentConverter


def api_map(app: Flask) -> Map:
    """The app's ``/api/`` rules alone (built once, after every blueprint is registered)."""
    found: Map | None = app.extensions.get("smartcity.api_map")
    if found is None:
        rules = [rule.empty() for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")]
        found = Map(rules, converters=app.url_map.converters, merge_slashes=app.url_map.merge_slashes)
        app.extensions["smartcity.api_map"] = found
    return found


def check_url_size() -> None:
    """A URL over ``MAX_URL_BYTES``: 414, before anything reads it (JSON under ``/api/``)."""
    env = request.environ
    if len(env.get("PATH_INFO", "")) + len(env.get("QUERY_STRING", "")) > MAX_URL_BYTES:
        raise RequestURITooLarge(f"the URL is longer than {MAX_URL_BYTES} bytes")


def route_api() -> Response | None:
    """For an ``/api/`` path the app's routing did not give to an API rule: the API's answer,
    a 404 or a 405 with ``Allow`` (raised: the JSON error handler writes them). OPTIONS: the
    methods the API serves at this path, in ``Allow``."""
    if not request.path.startswith("/api/"):
        return None
    rule = request.url_rule
    if request.method != "OPTIONS" and rule is not None and rule.rule.startswith("/api/"):
        return None  # the common case: the API's own rule matched
    adapter = api_map(current_app).bind_to_environ(request.environ)
    if request.method == "OPTIONS":
        allowed = adapter.allowed_methods()
        if not allowed:
            adapter.match()  # raises the 404
        return Response(status=204, headers={"Allow": ", ".join(sorted(allowed))})
    adapter.match()  # raises 404, 405 (with the API's methods) or a redirect
    return None
