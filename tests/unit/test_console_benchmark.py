"""The console benchmark's WebSocket clients read each message's head once, however many got it."""

from __future__ import annotations

import gzip

import orjson

from app.hub import Frames, message
from benchmarks.wsclients import Heads


def delta(event_ms: int, oldest_ms: int, ts: int) -> Frames:
    rows = [["car-1", event_ms, 52.43, 13.52], ["car-2", oldest_ms, 52.44, 13.53]]
    return Frames(message("delta", rows, ts=ts, summary={}))


def payload(frame: bytes) -> bytes:
    """What a client's ``recv`` returns: the frame without its header (the test frames are > 125 bytes)."""
    return frame[4:] if frame[1] == 126 else frame[10:]


def test_a_gzip_delta_s_head_is_what_the_server_built() -> None:
    heads = Heads("gzip")
    data = payload(delta(2000, 1000, 2100).get("gzip"))
    assert gzip.decompress(data).startswith(b'{"type":"delta"')
    assert heads.get(data) == (2000, 1000, 2100)


def test_every_client_s_copy_of_a_message_is_parsed_once() -> None:
    heads = Heads("gzip")
    frames = [payload(delta(2000 + k, 1000, 2100 + k).get("gzip")) for k in range(3)]
    for _ in range(1000):  # 1,000 clients, each with its own copy of the same bytes
        for data in frames:
            assert heads.get(bytes(bytearray(data)))[0] in (2000, 2001, 2002)  # type: ignore[index]
    assert heads.parsed == 3


def test_text_frames_and_messages_without_vehicles() -> None:
    heads = Heads("text")
    assert heads.get(payload(delta(2000, 1000, 2100).get("text"))) == (2000, 1000, 2100)
    quiet = orjson.dumps(message("delta", [], ts=5, summary={}))  # a heartbeat: no vehicle event
    assert heads.get(quiet) is None


def test_only_the_latest_messages_are_held() -> None:
    heads = Heads("text", size=2)
    messages = [payload(delta(2000 + k, 1000, 2100).get("text")) for k in range(3)]
    for data in messages:
        heads.get(data)
    heads.get(messages[0])  # pushed out by the third: parsed again
    assert heads.parsed == 4
