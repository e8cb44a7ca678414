"""Serving the app in the demo process: a threaded WSGI server in a background thread.

Every request and WebSocket gets its own thread, so open sockets never starve the
console's HTTP requests; a connection that sends nothing for ``IDLE_TIMEOUT_S`` is closed,
so idle or stalled clients do not hold threads either. For a production console use
gunicorn with gevent workers (see README).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

log = logging.getLogger(__name__)

# Werkzeug answers one request per connection, so this bounds a client's silence before its
# request is in, and any stalled read or write of it; browsers and API clients send at once.
IDLE_TIMEOUT_S = 10.0


class Server:
    """A running server; ``stop`` returns once it no longer accepts requests."""

    def __init__(self, app: Flask, host: str, port: int, idle_timeout: float = IDLE_TIMEOUT_S) -> None:
        self._app = app
        handler = type("RequestHandler", (RequestHandler,), {"timeout": idle_timeout})
        self._wsgi: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=handler)
        # open sockets must not hold up shutdown (ThreadingMixIn's flag; make_server(threaded=True) has it)
        setattr(self._wsgi, "daemon_threads", True)  # noqa: B010
        self.host = host
        self.port = self._wsgi.server_port
        self._thread = threading.Thread(target=self._wsgi.serve_forever, name="smartcity-http", daemon=True)

    @property
    def url(self) -> str:
        """Where a browser on this machine reaches the server (a wildcard address is not one)."""
        return url_for(self.host, self.port)

    @property
    def wildcard(self) -> bool:
        """Whether the server listens on every interface (so other machines may reach it)."""
        return self.host in _WILDCARDS

    def start(self) -> Server:
        self._thread.start()
        hub = self._app.extensions.get("smartcity.hub")
        if hub is not None:  # the live city is read now, not when the first console asks for it
            hub.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close open WebSockets (1001, going away), stop serving, then stop sending webhooks."""
        hub = self._app.extensions.get("smartcity.hub")
        if hub is not None:
            hub.close_all()
            deadline = time.monotonic() + min(timeout, 2.0)
            while hub.clients and time.monotonic() < deadline:  # their close frames go out
                time.sleep(0.05)
        self._wsgi.shutdown()
        self._thread.join(timeout)
        self._wsgi.server_close()
        dispatcher = self._app.extensions.get("smartcity.dispatcher")
        if dispatcher is not None:  # deliveries under way stay pending for a live consumer
            dispatcher.stop(min(timeout, 2.0))


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, with a socket timeout (``timeout``, read by socketserver's ``setup``)
    for every connection but an upgraded WebSocket. What it refuses before the app sees the
    request (a 64 kB request line: 414; oversized headers: 431) is answered in the API's JSON
    error shape, not an HTML page."""

    error_message_format = '{"error": {"status": %(code)d, "message": "%(message)s"}}'
    error_content_type = "application/json"

    def run_wsgi(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            # quiet for minutes is normal for a socket (the hub may have nothing to push, the
            # client sends nothing): simple-websocket's reader would take a timeout for a close
            self.connection.settimeout(None)
        super().run_wsgi()

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):  # an idle client, closed as intended
            log.debug("closed an idle connection from %s", self.address_string())
            return
        super().log_error(format, *args)


_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def url_for(host: str, port: int) -> str:
    """``http://host:port``, with a wildcard bind address replaced by loopback."""
    host = _WILDCARDS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
