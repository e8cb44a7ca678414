"""Serving the app in the demo process: a threaded WSGI server in a background thread.

Every request and WebSocket gets its own thread, so open sockets never starve the
console's HTTP requests. For a production console use gunicorn with gevent workers
(see README).
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger(__name__)


class Server:
    """A running server; ``stop`` returns once it no longer accepts requests."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self._wsgi: BaseWSGIServer = make_server(host, port, app, threaded=True)
        # open sockets must not hold up shutdown (ThreadingMixIn's flag; make_server(threaded=True) has it)
        setattr(self._wsgi, "daemon_threads", True)  # noqa: B010
        self.host = host
        self.port = self._wsgi.server_port
        self._thread = threading.Thread(target=self._wsgi.serve_forever, name="smartcity-http", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Server:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._wsgi.shutdown()
        self._thread.join(timeout)
        self._wsgi.server_close()
