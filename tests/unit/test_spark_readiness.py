"""The native cluster's readiness checks of the Spark master and workers, against a web server
answering the master's status page as a master does while it starts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cluster.spark import SparkMaster, SparkWorker


class StatusPage(ThreadingHTTPServer):
    body = b""  # what /json/ answers


class Handler(BaseHTTPRequestHandler):
    server: StatusPage

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.server.body)))
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def page() -> Iterator[StatusPage]:
    srv = StatusPage(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


@pytest.mark.parametrize("starting", [b"", b'{"status": "STANDBY", "work', b"<html>starting</html>"])
def test_a_master_answering_an_empty_or_half_page_is_not_ready_yet(
    page: StatusPage, tmp_path: Path, starting: bytes
) -> None:
    master = SparkMaster(tmp_path, webui_port=page.server_address[1])
    worker = SparkWorker(tmp_path, 0, master)
    page.body = starting
    assert not master.ready() and not worker.ready()  # where the cluster's start used to fail
    page.body = b'{"status": "ALIVE", "workers": [{"port": %d, "state": "ALIVE"}]}' % worker.port
    assert master.ready() and worker.ready()


def test_a_master_not_listening_is_not_ready(tmp_path: Path) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    assert not SparkMaster(tmp_path, webui_port=port).ready()
