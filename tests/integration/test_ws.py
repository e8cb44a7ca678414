"""/ws/realtime with a real WebSocket client against a real server socket."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import itertools
import json
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from app import create_app
from app.hub import MIN_GAP_S, Frames, Hub, Mailbox, Pace, merge
from app.server import Server
from app.store import Store
from app.ws import WholeSends
from pipeline.changes import nothing_changed
from pipeline.speed_layer import VEHICLE_ROW, SpeedLayer, SpeedLayerConfig
from tests.city import api_settings, rec, seed


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, SpeedLayer]]:
    speed = SpeedLayer(fakeredis.FakeRedis(), "ws:")
    seed(speed)
    app = create_app(api_settings(tmp_path), store=Store(speed))
    srv = Server(app, "127.0.0.1", 0).start()
    srv.hub = app.extensions["smartcity.hub"]  # type: ignore[attr-defined]  # for tests that break it
    yield srv, speed
    srv.stop()


def connect(srv: Server, token: str | None = "viewer-token", max_queue: int = 16) -> ClientConnection:
    url = srv.url.replace("http://", "ws://") + "/ws/realtime" + (f"?token={token}" if token else "")
    return ws_connect(url, max_size=None, max_queue=max_queue)


def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next message, with its vehicle rows turned back into dicts."""
    data = ws.recv(timeout=timeout)
    msg = dict(json.loads(data))
    assert msg["vehicle_fields"] == list(VEHICLE_ROW)
    msg["vehicles"] = [dict(zip(msg["vehicle_fields"], row, strict=True)) for row in msg["vehicles"]]
    return msg


def test_a_client_gets_a_snapshot_then_deltas(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    with connect(srv) as ws:
        snap = receive(ws)
        assert snap["type"] == "snapshot"
        assert {v["id"] for v in snap["vehicles"]} == {"car-1", "bus-1", "car-far"}
        time.sleep(1.2)  # the hub follows changes from when it started
        speed.write([rec("vehicle_data", 0, device_id="car-1", location=[52.441, 13.521], speed=45.0,
                         vehicle_type="car")])  # fmt: skip
        delta = receive(ws)
        while delta["type"] != "delta" or not delta["vehicles"]:
            delta = receive(ws)
        (car,) = delta["vehicles"]
        assert car["id"] == "car-1" and car["lat"] == 52.441 and car["speed"] == 45.0
        assert delta["event_ms"] == car["ts"]
        assert delta["summary"]["active_vehicles"] == 3


def test_weather_traffic_and_incidents_changes_are_pushed(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    with connect(srv) as ws:
        snap = receive(ws)
        assert [w["id"] for w in snap["weather"]] == ["ws-1"] and snap["summary"]["avg_temperature"] == 7.5
        time.sleep(1.2)
        speed.write([rec("weather_data", 0, device_id="ws-1", location=[52.44, 13.52], temperature=-3.0)])
        msg = receive(ws)
        while not msg["weather"]:
            msg = receive(ws)
        assert msg["weather"][0]["id"] == "ws-1" and msg["weather"][0]["temperature"] == -3.0
        assert msg["summary"]["avg_temperature"] == -3.0  # the console's summary, not only the speed layer's


def test_a_delta_that_fails_to_build_does_not_end_live_updates(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    hub = srv.hub  # type: ignore[attr-defined]
    working, calls = hub.summary, []

    def broken_once() -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 2:  # the snapshot's summary works; the first delta's does not
            raise KeyError("totals")
        return dict(working())

    hub.summary = broken_once
    with connect(srv) as ws:
        receive(ws)
        time.sleep(1.2)
        speed.write([rec("vehicle_data", 0, device_id="after-bug", location=[52.44, 13.52], speed=10.0)])
        msg = receive(ws, timeout=8)
        while not any(v["id"] == "after-bug" for v in msg["vehicles"]):
            msg = receive(ws, timeout=8)
    assert len(calls) >= 3  # it failed once, then built the delta again


def test_anonymous_sockets_get_nothing(server: tuple[Server, SpeedLayer]) -> None:
    srv, _ = server
    for _ in range(20):  # it used to end well in some runs and hang in others
        url = srv.url.replace("http://", "ws://") + "/ws/realtime"
        with ws_connect(url, close_timeout=30) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)  # the close frame, then the end of the stream: no waiting out close_timeout
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def raw_refusal(srv: Server) -> tuple[bytes, bytes]:
    """Open the socket without credentials over a bare TCP connection, answer the server's close
    frame at once, as clients do, and read to the end of the stream (a read that waits 5 s fails
    the test). Returns the close frame and whatever followed it."""
    with socket.create_connection((srv.host, srv.port), timeout=5) as conn:
        conn.sendall(
            b"GET /ws/realtime HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 2:
            data += conn.recv(4096)
        head, frames = data.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101") and frames[0] == 0x88  # FIN + close
        size = frames[1] & 0x7F
        while len(frames) < 2 + size:
            frames += conn.recv(4096)
        conn.sendall(bytes([0x88, 0x82, 0, 0, 0, 0]) + frames[2:4])  # echo the code, masked with zeros
        rest = frames[2 + size :]
        while chunk := conn.recv(4096):
            rest += chunk
    return frames[: 2 + size], rest


def test_a_refused_socket_ends_the_stream_after_its_close_frame(server: tuple[Server, SpeedLayer]) -> None:
    """The server closes the TCP connection first (RFC 6455 7.1.1), and sends nothing after the
    close frame: Werkzeug's server used to write an HTTP response there, then wait for the client's
    end of stream while the client waited for the server's."""
    srv, _ = server
    for _ in range(10):
        close_frame, rest = raw_refusal(srv)
        assert int.from_bytes(close_frame[2:4], "big") == 1008
        assert close_frame[4:] == b"authentication required"
        assert rest == b""


def refused(srv: Server, query: str = "", headers: dict[str, str] | None = None) -> int | None:
    """The close code a socket gets before any message (None: it got a message instead).

    The websockets client, which sends ``Host: host:port`` as browsers do (the server compares a
    page's Origin with it) and keeps whatever came in the handshake's reads (simple-websocket's
    client left a snapshot that arrived with the 101 unread until more data came).
    """
    url = srv.url.replace("http://", "ws://") + "/ws/realtime" + query
    with ws_connect(url, additional_headers=headers or {}, max_size=None, close_timeout=30) as ws:
        try:
            ws.recv(timeout=5)  # a TimeoutError here fails the test: neither a message nor a close
        except ConnectionClosed as exc:
            assert exc.rcvd is not None, "the stream ended without a close frame"
            return exc.rcvd.code
    return None


def test_a_bearer_token_in_the_header_authenticates_the_socket(server: tuple[Server, SpeedLayer]) -> None:
    srv, _ = server
    url = srv.url.replace("http://", "ws://") + "/ws/realtime"
    with ws_connect(url, additional_headers={"Authorization": "Bearer operator-token"}) as ws:
        assert receive(ws)["type"] == "snapshot"
    assert refused(srv, headers={"Authorization": "Bearer wrong"}) == 1008
    assert refused(srv, headers={"Authorization": "Bearer ingest-token"}) == 1008  # may only post events


def login_cookie(srv: Server, user: str = "vic", password: str = "pw-v") -> str:
    """Log in through the console's form, as a browser does; returns the session cookie."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    form = urllib.parse.urlencode({"user": user, "password": password})
    conn.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    assert resp.status == 302, resp.read()
    cookie = resp.getheader("Set-Cookie") or ""
    conn.close()
    return cookie.split(";", 1)[0]


def test_the_console_login_session_authenticates_the_socket(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    cookie = login_cookie(srv)
    url = srv.url.replace("http://", "ws://") + "/ws/realtime"
    with ws_connect(url, origin=srv.url, additional_headers={"Cookie": cookie}) as ws:  # type: ignore[arg-type]
        assert receive(ws)["type"] == "snapshot"
        time.sleep(1.2)
        speed.write([rec("vehicle_data", 0, device_id="car-1", location=[52.442, 13.52], speed=9.0)])
        msg = receive(ws)
        while not msg["vehicles"]:
            msg = receive(ws)
        assert msg["vehicles"][0]["id"] == "car-1"
    assert refused(srv) == 1008  # the same client without the cookie


@pytest.mark.parametrize(
    "origin",
    [None, "http://127.0.0.1:1", "http://evil.example", "null"],  # a page on another port is same-site
)
def test_another_sites_page_cannot_open_the_socket_with_the_login_cookie(
    server: tuple[Server, SpeedLayer], origin: str | None
) -> None:
    srv, _ = server
    headers = {"Cookie": login_cookie(srv)} | ({"Origin": origin} if origin else {})
    assert refused(srv, headers=headers) == 1008
    assert refused(srv, headers={**headers, "Origin": srv.url}) is None  # the console's own page
    assert refused(srv, "?token=viewer-token", headers=headers) is None  # a token client: no origin rule


def test_an_acknowledgement_is_pushed_at_once(server: tuple[Server, SpeedLayer]) -> None:
    srv, _ = server
    with connect(srv) as ws:
        snap = receive(ws)
        assert [i.get("acknowledged_by") for i in snap["incidents"] if i["id"] == "i-1"] == [None]
        time.sleep(1.2)
        req = urllib.request.Request(f"{srv.url}/api/emergency/incidents/i-1/acknowledge", method="POST",
                                     headers={"Authorization": "Bearer operator-token"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        msg = receive(ws, timeout=3)  # the hub sends a second after a change, not at the 5 s poll
        while not msg["incidents"]:
            msg = receive(ws, timeout=3)
        (incident,) = msg["incidents"]
        assert incident["id"] == "i-1" and incident["acknowledged_by"] == "token:operator"


def test_stopping_the_server_closes_open_sockets_as_going_away(tmp_path: Path) -> None:
    speed = SpeedLayer(fakeredis.FakeRedis(), "bye:")
    srv = Server(create_app(api_settings(tmp_path), store=Store(speed)), "127.0.0.1", 0).start()
    url = srv.url.replace("http://", "ws://") + "/ws/realtime?token=viewer-token"
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(ws_connect(url, max_size=None, close_timeout=30)) for _ in range(3)]
        for ws in clients:
            assert json.loads(ws.recv(timeout=5))["type"] == "snapshot"
        srv.stop()
        for ws in clients:
            with pytest.raises(ConnectionClosed) as closed:
                while True:  # a delta may come before the close frame; then the stream ends (not close_timeout)
                    ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_a_change_landing_between_two_reads_of_the_change_stream_is_pushed() -> None:
    """The hub's first change after it started must not depend on when it lands: here a write
    comes right after a read of the change stream returned empty, before the next read."""
    speed = SpeedLayer(fakeredis.FakeRedis(), "gap:")
    seed(speed)
    hub = Hub(Store(speed))
    follows = hub.changes.client  # the change stream's reader has a connection of its own
    read = follows.xread
    reads = itertools.count()

    def read_then_write(*args: Any, **kwargs: Any) -> Any:
        got = read(*args, **kwargs)
        if next(reads) == 0:  # the hub's first read, empty after its block: a write lands now
            assert not got
            speed.write([rec("emergency_data", 0, device_id="u1", incidentId="i-gap", incident_type="fire",
                             status="Active", location=[52.44, 13.52], severity="critical")])  # fmt: skip
        return got

    follows.xread = read_then_write  # type: ignore[method-assign]
    box = hub.subscribe("text")
    try:
        incidents: list[str] = []
        deadline = time.monotonic() + 10
        while "i-gap" not in incidents and time.monotonic() < deadline:
            frame = box.take(timeout=1)
            if frame is not None:
                incidents += [i["id"] for i in payload(frame)["incidents"]]
        assert "i-gap" in incidents
    finally:
        hub.close_all()


def test_a_slow_client_does_not_hold_up_others(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    # max_queue=1: once one message waits unread, the slow client stops reading its socket
    with connect(srv, max_queue=1) as slow, connect(srv) as fast:
        receive(fast)
        time.sleep(1.2)
        got = 0
        for i in range(4):  # the slow client reads nothing all along
            speed.write([rec("vehicle_data", 0, device_id=f"v{i}", location=[52.44, 13.52], speed=10.0)])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = receive(fast)
                if any(v["id"] == f"v{i}" for v in msg.get("vehicles", [])):
                    got += 1
                    break
        assert got == 4
        assert slow.recv(timeout=5)  # the slow one is still served: its snapshot, then merged deltas


def test_a_write_split_into_chunks_arrives_in_one_delta(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    writer = SpeedLayer(speed.client, speed.keys.prefix, SpeedLayerConfig(chunk=2))
    script = writer._script

    def slow(*args: Any, **kwargs: Any) -> Any:  # a writer that takes its time between chunks
        out = script(*args, **kwargs)
        time.sleep(0.15)
        return out

    writer._script = slow
    with connect(srv) as ws:
        receive(ws)
        time.sleep(1.2)
        writer.write([rec("vehicle_data", 0, device_id=f"split-{i}", location=[52.44, 13.52], speed=10.0)
                      for i in range(6)])  # fmt: skip
        msg = receive(ws)
        while not msg["vehicles"]:
            msg = receive(ws)
        assert sorted(v["id"] for v in msg["vehicles"]) == [f"split-{i}" for i in range(6)]


def test_deltas_come_at_most_once_a_second(server: tuple[Server, SpeedLayer]) -> None:
    srv, speed = server
    stamps: list[int] = []
    with connect(srv) as ws:
        receive(ws)
        end = time.monotonic() + 4.5
        i = 0
        while time.monotonic() < end:  # ten writes a second
            speed.write([rec("vehicle_data", 0, device_id=f"busy-{i % 7}", location=[52.44, 13.52], speed=10.0)])
            i += 1
            time.sleep(0.1)
            with contextlib.suppress(TimeoutError):
                while True:
                    msg = json.loads(ws.recv(timeout=0))
                    if msg["type"] == "delta":
                        stamps.append(msg["ts"])
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(stamps) >= 3, stamps  # deltas kept coming while writes did
    assert len(stamps) <= 4.5 + 2  # a token a second, two at most saved
    # never closer than MIN_GAP_S (less the time reading the delta, which its stamp includes)
    assert min(gaps) >= MIN_GAP_S * 1000 - 150, gaps


def test_the_pace_catches_up_a_late_delta() -> None:
    """A source ready once a second (50 ms after each tick), one tick 400 ms late: the next
    delta follows it after the minimum gap, and the ones after leave when they are ready. A
    strict one-second gate would hold every later one back 400 ms."""
    pace = Pace(1.0, 0.75)
    ready = [n + 0.05 for n in range(10)]
    ready[3] += 0.4
    sent = []
    for t in ready:
        t += pace.wait(t)
        pace.spend(t)
        sent.append(round(t, 6))
    assert sent[:4] == [round(t, 6) for t in ready[:4]]
    assert sent[4] == round(ready[3] + 0.75, 6)  # 4.2: 150 ms late, not 400
    assert sent[5:] == [round(t, 6) for t in ready[5:]]


def test_the_pace_holds_a_busy_source_to_one_send_a_second() -> None:
    pace = Pace(1.0, 0.75)
    sent: list[float] = []
    t = 0.0
    while t < 60:  # ready all the time
        if pace.wait(t) == 0:
            pace.spend(t)
            sent.append(t)
        t += 0.01
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps) >= 0.75 - 1e-9
    for start in range(60):  # any window of T seconds: at most T + 2 sends
        for length in (1, 5, 30):
            assert sum(start <= s < start + length for s in sent) <= length + 2
    assert 59 <= len(sent) <= 62


def payload(frame_bytes: bytes) -> Any:
    """The JSON inside one unmasked server frame."""
    length = frame_bytes[1] & 0x7F
    offset = {126: 4, 127: 10}.get(length, 2)
    body = frame_bytes[offset:]
    return json.loads(gzip.decompress(body) if frame_bytes[0] == 0x82 else body)


def test_a_mailbox_merges_what_a_slow_client_missed() -> None:
    box = Mailbox()
    first = Frames({"type": "delta", "vehicles": [["a", 10, 1.0], ["b", 10, 1.0]], "summary": {"n": 1}})
    second = Frames({"type": "delta", "vehicles": [["a", 20, 2.0]], "incidents": [{"id": "i"}], "summary": {"n": 2}})
    box.put(first)
    box.put(second)
    merged = payload(box.take(timeout=0) or b"")
    assert sorted(merged["vehicles"]) == [["a", 20, 2.0], ["b", 10, 1.0]]
    assert merged["event_ms"] == 20
    assert merged["incidents"] == [{"id": "i"}] and merged["summary"] == {"n": 2}
    assert box.take(timeout=0) is None
    box.put(first)
    assert box.take(timeout=0) is first.get("text")  # unmerged: the hub's frame, not re-encoded
    assert merge(first.msg, second.msg)["vehicles"][0] == ["a", 20, 2.0]


@pytest.mark.parametrize("size", [5, 300, 70_000])
def test_frames_carry_the_message_as_text_or_gzip(size: int) -> None:
    frames = Frames({"type": "delta", "pad": "x" * size})
    text, packed = frames.get("text"), frames.get("gzip")
    assert text[0] == 0x81 and packed[0] == 0x82  # FIN + text / binary opcode
    assert payload(text) == payload(packed) == {"type": "delta", "pad": "x" * size}


def test_a_gzip_client_gets_binary_frames(server: tuple[Server, SpeedLayer]) -> None:
    srv, _ = server
    url = srv.url.replace("http://", "ws://") + "/ws/realtime?token=viewer-token&encoding=gzip"
    with ws_connect(url, max_size=None) as ws:
        data = ws.recv(timeout=5)
        assert isinstance(data, bytes)
        snap = json.loads(gzip.decompress(data))
        assert snap["type"] == "snapshot" and len(snap["vehicles"]) == 3


def _small_buffered_pair() -> tuple[socket.socket, socket.socket]:
    sender, receiver = socket.socketpair()
    for s in (sender, receiver):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16_384)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
    sender.settimeout(5)  # a timeout makes the socket non-blocking inside, as gevent's are
    return sender, receiver


def test_whole_sends_write_a_frame_larger_than_the_socket_buffers() -> None:
    """simple-websocket writes a frame with one socket.send, which can send part of it."""
    frame = bytes(range(256)) * 8192  # 2 MB
    sender, receiver = _small_buffered_pair()
    with sender, receiver:
        assert sender.send(frame) < len(frame)  # the failure mode: a partial send
    sender, receiver = _small_buffered_pair()
    with sender, receiver:
        got = bytearray()

        def read_all() -> None:
            while len(got) < len(frame):
                chunk = receiver.recv(65536)
                if not chunk:
                    return
                got.extend(chunk)

        reader = threading.Thread(target=read_all)
        reader.start()
        assert WholeSends(sender).send(frame) == len(frame)
        reader.join(10)
        assert bytes(got) == frame


def test_the_hubs_blocking_reads_take_no_connection_from_the_pool(redis_server: Any, prefix: str) -> None:
    """With a pool of one connection, waited for at most half a second, every request still gets
    it while the change stream is followed (a read blocking a second at a time held the pooled
    connection, and requests timed out waiting for it)."""
    pool = redis.BlockingConnectionPool(host="127.0.0.1", port=redis_server.port, max_connections=1, timeout=0.5)
    client = redis.Redis(connection_pool=pool)
    follower = Store(SpeedLayer(client, prefix)).follower()
    stop = threading.Event()

    def follow() -> None:
        while not stop.is_set():
            follower.read(nothing_changed(), 1.0)

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    try:
        time.sleep(0.2)  # the reader is blocked in its read
        for _ in range(10):
            assert client.ping()  # would raise ConnectionError: no connection available
            time.sleep(0.1)
    finally:
        stop.set()
        reader.join(5)
        client.close()
