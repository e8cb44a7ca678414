"""HTTP ingest judges each event on its own and counts every event a request carried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
from flask import Flask
from werkzeug.test import TestResponse

from app.ingest import posted_events
from pipeline.bus import InProcessBus
from pipeline.lake import DEADLETTER, LakeWriter, open_lake, read_table
from pipeline.processor import BatchProcessor, Processor
from pipeline.runtime import bus_ingest
from pipeline.speed_layer import SpeedLayer
from tests.city import NOW

GOOD = orjson.dumps({"device_id": "gps-9", "timestamp": NOW.isoformat(), "location": [52.44, 13.52], "speed": 12.0})
HUGE = GOOD.replace(b"12.0", b"1e400")


def post(app: Flask, body: bytes, stream: str = "gps_data") -> TestResponse:
    headers = {"Authorization": "Bearer ingest-token", "Content-Type": "application/json"}
    return app.test_client().post(f"/api/ingest/{stream}", data=body, headers=headers)


def counts(app: Flask, stream: str = "gps_data") -> dict[str, int]:
    """The stream's received / valid / dead_letters counters of the server's own processing."""
    snapshot = app.extensions["smartcity.ingest"].batch.accounting.snapshot()["streams"][stream]
    return {key: snapshot[key] for key in ("received", "valid", "dead_letters")}


def dead_letters(tmp_path: Path) -> list[dict[str, Any]]:
    fs, root = open_lake(str(tmp_path / "lake"))
    rows: list[dict[str, Any]] = read_table(fs, root, DEADLETTER).to_pylist()
    return rows


def test_one_out_of_range_number_dead_letters_its_event_only(app: Flask, tmp_path: Path) -> None:
    resp = post(app, b"[" + GOOD + b", " + HUGE + b",\n" + GOOD + b"]")  # orjson refuses the whole body
    assert resp.status_code == 422
    assert resp.json == {"accepted": 2, "rejected": [{"index": 1, "reason": "speed: number out of range (1e400)"}]}
    assert counts(app) == {"received": 3, "valid": 2, "dead_letters": 1}
    (dead,) = dead_letters(tmp_path)
    assert (dead["reason"], dead["raw"], dead["source"]) == (
        "speed: number out of range (1e400)",
        HUGE.decode(),
        "http",
    )
    vehicle = app.test_client().get("/api/vehicles/gps-9", headers={"Authorization": "Bearer viewer-token"})
    assert vehicle.json["speed"] == 12.0  # the valid ones went on to the speed layer


@pytest.mark.parametrize("body", [HUGE, b" " + HUGE + b"\n", GOOD.replace(b"12.0", b"NaN")])
def test_a_single_event_orjson_refuses_is_one_dead_letter(app: Flask, body: bytes) -> None:
    resp = post(app, body)
    assert resp.status_code == 422 and resp.json["accepted"] == 0
    assert resp.json["rejected"][0]["reason"].startswith("speed: ")
    assert counts(app) == {"received": 1, "valid": 0, "dead_letters": 1}


@pytest.mark.parametrize(
    ("stream", "change", "reason"),
    [
        ("gps_data", {"timestamp": NOW.date().isoformat()}, "timestamp: needs a date and a time of day"),
        ("gps_data", {"device_id": "   "}, "device_id: must not be blank"),
        ("gps_data", {"id": "\t"}, "id: must not be blank"),
        ("traffic_data", {"camera_id": " "}, "camera_id: must not be blank"),
        ("emergency_data", {"incidentId": "", "incident_type": "fire", "status": "Active"}, "incidentId: must not"),
    ],
)
def test_date_only_timestamps_and_blank_ids_are_dead_letters(
    app: Flask, tmp_path: Path, stream: str, change: dict[str, Any], reason: str
) -> None:
    event = orjson.loads(GOOD) | {"camera_id": "cam-1", "incidentId": "i-9"} | change
    resp = post(app, orjson.dumps([event]), stream)
    assert resp.status_code == 422 and resp.json["accepted"] == 0
    assert reason in resp.json["rejected"][0]["reason"]
    assert counts(app, stream) == {"received": 1, "valid": 0, "dead_letters": 1}
    (dead,) = dead_letters(tmp_path)
    assert reason in dead["reason"] and dead["source"] == "http"


@pytest.mark.parametrize("body", [b"{oops", b"", b"   ", b"\xff\xfe{}", b"[1,]", b"[" + GOOD, GOOD + GOOD, b"<html>"])
def test_a_body_that_is_not_json_is_counted_as_one_dead_letter(app: Flask, tmp_path: Path, body: bytes) -> None:
    resp = post(app, body)
    assert resp.status_code == 400 and resp.is_json
    assert "not valid JSON" in resp.json["error"]["message"] and "one dead letter" in resp.json["error"]["message"]
    assert counts(app) == {"received": 1, "valid": 0, "dead_letters": 1}
    (dead,) = dead_letters(tmp_path)
    assert dead["raw"] == body.decode("utf-8", "replace") and dead["source"] == "http"
    assert dead["reason"].startswith("not valid JSON")


def test_a_large_body_that_is_not_json_is_kept_up_to_the_payload_limit(app: Flask, tmp_path: Path) -> None:
    limit = app.extensions["smartcity.validator"].limits.max_payload_bytes
    assert post(app, b"x" * (3 * limit)).status_code == 400
    (dead,) = dead_letters(tmp_path)
    assert f"exceeds the {limit} byte limit" in dead["reason"] and dead["raw"] == "x" * limit
    assert counts(app) == {"received": 1, "valid": 0, "dead_letters": 1}


@pytest.mark.parametrize(
    ("body", "received", "valid"),
    [(b"[]", 0, 0), (b"[" + GOOD + b"]", 1, 1), (b'[1, "x", null, [], ' + GOOD + b"]", 5, 1), (b'"text"', 1, 0),
     (b"42", 1, 0), (b"[[" + GOOD + b"]]", 1, 0), (b"[NaN, " + GOOD + b", 1e400]", 3, 1)],
)  # fmt: skip
def test_every_element_of_an_array_is_one_event(app: Flask, body: bytes, received: int, valid: int) -> None:
    resp = post(app, body)
    assert resp.status_code == (202 if received == valid else 422)
    assert resp.json["accepted"] == valid and len(resp.json.get("rejected", [])) == received - valid
    assert counts(app) == {"received": received, "valid": valid, "dead_letters": received - valid}


def test_too_many_events_are_refused_whole_and_not_counted(app: Flask) -> None:
    """Like a body over MAX_CONTENT_LENGTH: a 413 refuses the request before any event enters
    the pipeline (dead-lettering each would let one request write ~10^7 dead letters)."""
    limit = app.config["SMARTCITY_MAX_INGEST_EVENTS"]
    for body in (b"[" + b"1," * limit + b"1]", b"[" + b"1e400," * limit + b"1]"):
        resp = post(app, body)
        assert resp.status_code == 413 and f"{limit + 1} events" in resp.json["error"]["message"]
    assert counts(app) == {"received": 0, "valid": 0, "dead_letters": 0}


def test_posted_events_keep_each_event_as_sent_keyed_by_its_device() -> None:
    body = b'[ {"device_id": "a", "speed": 1e400} ,"\\ud800", {"device_id": "b\\ud800"} ]'
    assert posted_events(body, 100).events == [
        (b"a", b'{"device_id": "a", "speed": 1e400}'),
        (None, b'"\\ud800"'),
        (b"b?", b'{"device_id": "b\\ud800"}'),
    ]
    assert posted_events(b'{"device_id": "a", "n": 1}', 100).events == [(b"a", b'{"device_id":"a","n":1}')]
    whole = posted_events(b"[1e400, oops]", 5)
    assert whole.events == [(None, b"[1e400")] and whole.error  # one byte past the limit: too large to be an event


def test_events_through_the_embedded_bus_keep_who_sent_them_for_their_dead_letters(tmp_path: Path) -> None:
    """The one-process demo puts HTTP and MQTT events on its bus: a dead letter still names the sender."""
    bus = InProcessBus(["gps_data"])
    bus_ingest(bus, "http")("gps_data", [(None, b"{oops")])
    bus.produce_many("gps_data", [(b"gps-9", b"[]")], source="mqtt")
    bus.produce_many("gps_data", [(b"gps-9", GOOD)])
    batch = BatchProcessor(SpeedLayer(fakeredis.FakeRedis()), LakeWriter(*open_lake(str(tmp_path / "lake"))))
    processor = Processor(bus, batch)
    processor.start()
    assert processor.stop(30)
    assert sorted(d["source"] for d in dead_letters(tmp_path)) == ["http", "mqtt"]
    assert batch.accounting.snapshot()["streams"]["gps_data"]["valid"] == 1
