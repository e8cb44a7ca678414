"""gunicorn settings of the production console, from the repository root:

    gunicorn -c app/gunicorn_conf.py "app:create_app()"

- gevent workers: an open WebSocket costs a greenlet, not one of a few threads, so sockets
  never starve Dash's requests;
- SIGTERM closes open WebSockets at once (1001, going away): a socket's loop never ends by
  itself, and gunicorn would otherwise wait ``graceful_timeout`` for it before exiting;
- idle connections are closed: a connection that has not sent a complete request head
  within ``keepalive`` seconds (its first request or the next one) is closed, so idle or
  stalled clients never pile up towards ``worker_connections``; WebSockets are not cut
  (the timeout covers only the wait for a request head, not a request being served);
- ``timeout``: a worker whose event loop is blocked this long is killed and replaced (a
  gevent worker tells the master it is alive once a second from a greenlet of its own, so a
  long request or an open WebSocket never trips it);
- the server refuses to start with settings nobody could log in with.

Binds to ``SMARTCITY_HOST:SMARTCITY_PORT`` (127.0.0.1:8050); command-line flags override
any of these. Given as a file, not ``python:app.gunicorn_conf``: importing the ``app``
package in gunicorn's master would load redis-py and the rest before the gevent workers
monkey-patch them, so this imports nothing of the app.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any

from pipeline.settings import Settings

_settings = Settings()  # read once, in the master; each worker's create_app() reads its own

worker_class = "gevent"
worker_connections = 1000
# s; gunicorn's default is 2, its docs advise 1-5 for clients connecting directly. Never 0: the
# gevent worker would then wait for a request head for ever, and idle connections never close
keepalive = 5
timeout = 30  # s, gunicorn's default: the worker heartbeat (see above)
graceful_timeout = 8  # for HTTP requests to finish (sockets close at once); under Docker's 10 s stop grace
bind = [f"[{_settings.host}]:{_settings.port}" if ":" in _settings.host else f"{_settings.host}:{_settings.port}"]


def production_problems(settings: Settings, workers: int = 1) -> list[str]:
    """Why a production server must not start with ``settings``, if it must not.

    The demo (``python app/main.py``) generates credentials and prints a login URL; a gunicorn
    worker cannot: each worker would generate its own, printed nowhere, so nobody could log in.
    """
    problems = []
    if not settings.secret("users") and not settings.secret("api_tokens"):
        problems.append("no credentials: set SMARTCITY_USERS (console logins, name:role:password,...) "
                        "and/or SMARTCITY_API_TOKENS (role:token,...)")  # fmt: skip
    if workers > 1 and not settings.secret("secret_key"):
        problems.append(f"{workers} workers and no SMARTCITY_SECRET_KEY: each worker would sign sessions "
                        "with its own random key, and a console login would hold in one worker only")  # fmt: skip
    return problems


def on_starting(server: Any) -> None:
    """In the master, before any worker starts: refuse settings no one could log in with."""
    problems = production_problems(_settings, server.cfg.workers)
    for problem in problems:
        server.log.error("refusing to start: %s", problem)
    if problems:
        sys.exit(1)


def post_worker_init(worker: Any) -> None:
    """Make SIGTERM also close the worker's open sockets (gunicorn's own handler only stops
    accepting, then waits for open requests to end); freeze the loaded app out of the garbage
    collector's full passes (each stalled every request for 100-200 ms); start following the
    live city, so the first console opened finds it read."""
    from pipeline.runtime import settle_heap  # in the worker: gevent has patched what it loads

    settle_heap()
    hub = _extensions(worker).get("smartcity.hub")
    if hub is not None:
        hub.start()
    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        _soon(worker, lambda: close_sockets(worker))

    signal.signal(signal.SIGTERM, on_term)


def worker_int(worker: Any) -> None:
    """SIGINT/SIGQUIT: the worker exits a moment after this; the close frames go first."""
    close_sockets(worker)


def worker_exit(server: Any, worker: Any) -> None:
    """The worker is done: events the ingest producer still holds go to the bus; the webhook
    dispatcher stops (what it was sending stays pending for another worker to claim)."""
    close = getattr(_extensions(worker).get("smartcity.ingest"), "close", None)
    if callable(close):
        close()
    dispatcher = _extensions(worker).get("smartcity.dispatcher")
    if dispatcher is not None:
        dispatcher.stop(2.0)


def close_sockets(worker: Any) -> None:
    hub = _extensions(worker).get("smartcity.hub")
    if hub is not None and not hub.closing:
        worker.log.info("closing %d WebSocket(s): server shutting down", hub.clients)
        hub.close_all()


def _extensions(worker: Any) -> dict[str, Any]:
    extensions: dict[str, Any] = getattr(getattr(worker, "wsgi", None), "extensions", {})
    return extensions


def _soon(worker: Any, fn: Callable[[], None]) -> None:
    """Run ``fn`` out of the signal handler: under gevent the handler runs in the event loop,
    which must not block (gunicorn's gevent worker defers its SIGQUIT handling the same way)."""
    if type(worker).__module__.startswith("gunicorn.workers.ggevent"):
        import gevent

        gevent.spawn(fn)
    else:
        import threading

        threading.Thread(target=fn, name="smartcity-close-sockets", daemon=True).start()
