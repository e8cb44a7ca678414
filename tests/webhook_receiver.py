"""A webhook receiver for tests: a local HTTP server (127.0.0.1, a free port, in a thread) that
records each request, checks its signature, and answers with the statuses it is given."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    signed: bool  # the signature header is the HMAC-SHA256 of the body with the receiver's secret
    arrived: float = field(default_factory=time.time)

    @property
    def alert(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str
    statuses: list[int]  # answered in turn; the last one for ever after
    requests: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Delivery]:
        with self.lock:
            return list(self.requests)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


@contextmanager
def receiver(secret: str, statuses: list[int] | None = None) -> Iterator[Receiver]:
    """A running receiver; stopped (its server shut down and closed) on exit."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            sent = self.headers.get("X-Smartcity-Signature", "")
            delivery = Delivery(self.path, dict(self.headers.items()), body, hmac.compare_digest(expected, sent))
            with state.lock:
                state.requests.append(delivery)
            status = state.next_status()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(f"http://127.0.0.1:{server.server_port}/hook", secret, list(statuses or [200]))
    thread = threading.Thread(target=server.serve_forever, name="test-webhook-receiver", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "the condition") -> Any:
    """``check()``'s first truthy value, polled; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
