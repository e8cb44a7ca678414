"""Serving the app in the demo process: a threaded WSGI server in a background thread.

Every request and WebSocket gets its own thread, so open sockets never starve the
console's HTTP requests. For a production console use gunicorn with gevent workers
(see README).
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger(__name__)


class Server:
    """A running server; ``stop`` returns once it no longer accepts requests."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self._app = app
        self._wsgi: BaseWSGIServer = make_server(host, port, app, threaded=True)
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
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Close open WebSockets (1001, going away), then stop serving."""
        hub = self._app.extensions.get("smartcity.hub")
        if hub is not None:
            hub.close_all()
            deadline = time.monotonic() + min(timeout, 2.0)
            while hub.clients and time.monotonic() < deadline:  # their close frames go out
                time.sleep(0.05)
        self._wsgi.shutdown()
        self._thread.join(timeout)
        self._wsgi.server_close()


_WILDCARDS = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}


def url_for(host: str, port: int) -> str:
    """``http://host:port``, with a wildcard bind address replaced by loopback."""
    host = _WILDCARDS.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
