"""``/ws/realtime``: the push hub's messages (``app.hub``) on a WebSocket.

The route authenticates the socket, sends the hub's snapshot, then whatever lands in the
socket's mailbox, in the encoding the client asked for (``?encoding=gzip``: the same JSON,
gzipped, in binary frames).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

import redis
from flask import Flask, request
from flask_sock import Sock

from app.auth import READ, by_session, current_role, same_origin
from app.hub import INTERVAL_S, Hub
from app.store import Store

log = logging.getLogger(__name__)


class WholeSends:
    """A socket whose ``send`` writes everything, one frame at a time.

    simple-websocket 1.1.0 writes each frame with one ``socket.send``, which may send only
    part of a large frame (under gevent it does once the client's buffer is full), leaving
    the stream corrupt (simple-websocket#45). Its own reader thread also writes (pongs,
    close), so writes are serialised here as well.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._lock = threading.Lock()

    def send(self, data: bytes) -> int:
        with self._lock:
            self._sock.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def close(ws: Any, code: int, reason: str) -> None:
    """Send a close frame, then end our half of the TCP stream.

    The server closes the TCP connection first (RFC 6455 7.1.1): a client that answered the
    close frame waits for that end of stream. Werkzeug's server, after the handler returns,
    drains the request body until end of stream and only then closes, so without the shutdown
    here each server-side close left the client waiting out its close timeout (websockets: 10 s)
    and held a thread as long. Nothing may be written after a close frame anyway.
    """
    ws.close(reason=code, message=reason)
    with contextlib.suppress(OSError):  # the client went first
        ws.sock.shutdown(socket.SHUT_WR)


def init_ws(app: Flask, store: Store) -> Hub:
    hub = Hub(store)
    app.extensions["smartcity.hub"] = hub
    app.extensions["smartcity.ws_clients"] = lambda: hub.clients
    sock = Sock(app)

    @sock.route("/ws/realtime")
    def realtime(ws: Any) -> None:
        if current_role() not in READ:  # anonymous sockets get nothing
            close(ws, 1008, "authentication required")
            return
        if by_session() and not same_origin():  # another site's page, riding on the login cookie
            close(ws, 1008, "cross-site socket refused")
            return
        encoding = "gzip" if request.args.get("encoding") == "gzip" else "text"
        sock = ws.sock = WholeSends(ws.sock)  # simple-websocket's own writes go through it too
        box = hub.subscribe(encoding)
        try:
            try:
                snapshot = hub.snapshot_frames().get(encoding)
            except redis.RedisError:  # say why, so the client retries later rather than guessing
                close(ws, 1011, "speed layer unreachable; try again shortly")
                return
            sock.send(snapshot)
            while ws.connected and not box.closed:
                # wakes each second without a message too: a client that closed its end is
                # noticed (and its thread and TCP stream ended) within a second, not five
                message = box.take(timeout=INTERVAL_S)
                if message is not None and not box.closed:
                    sock.send(message)
            if ws.connected:  # the server is going away: say so, so clients reconnect elsewhere
                close(ws, 1001, "server shutting down")
        except Exception as exc:
            log.debug("websocket closed: %s", exc)
        except SystemExit:  # the thread was told to stop (a test server's teardown): end the socket quietly
            log.debug("websocket handler stopped")
        finally:
            box.closed = True
            hub.unsubscribe(box)

    return hub
