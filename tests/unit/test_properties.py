"""Property tests: any input becomes a record or a dead letter, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline.schemas import LOCATION_OPTIONAL, STREAMS, columns
from pipeline.validation import DeadLetter, Validator
from tests.city import NOW as CITY_NOW

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
VALIDATOR = Validator()

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)

field_values: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=300)
    | st.lists(st.floats(), max_size=3)
    | st.just("2026-11-27T11:00:00")
    | st.just(1_795_780_798_000)
    | st.just([52.5, 13.4])
)

FIELD_NAMES = [
    "id",
    "device_id",
    "timestamp",
    "location",
    "speed",
    "direction",
    "camera_id",
    "temperature",
    "incidentId",
    "incident_type",
    "status",
    "vehicle_type",
    "year",
    "occupancy",
    "severity",
    "deviceId",
    "cameraId",
    "type",
]


def _is_outcome(out: object) -> bool:
    return isinstance(out, dict | DeadLetter)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.sampled_from((*STREAMS, "unknown")), value=json_values)
def test_arbitrary_json_is_a_record_or_a_dead_letter(stream: str, value: Any) -> None:
    raw = json.dumps(value).encode()  # stdlib: big ints and NaN literals too, which must be refused
    out = VALIDATOR.validate(stream, raw, now=NOW)
    assert _is_outcome(out)


@settings(max_examples=300)
@given(stream=st.sampled_from(STREAMS), raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(stream: str, raw: bytes) -> None:
    assert _is_outcome(VALIDATOR.validate(stream, raw, now=NOW))


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(stream=st.sampled_from(STREAMS), event=st.dictionaries(st.sampled_from(FIELD_NAMES), field_values))
def test_arbitrary_field_values_never_raise(stream: str, event: dict[str, Any]) -> None:
    out = VALIDATOR.validate(stream, event, now=NOW)
    assert _is_outcome(out)
    if isinstance(out, dict):  # whatever passed is within the contract
        if out["latitude"] is None:
            assert stream in LOCATION_OPTIONAL and out["longitude"] is None
        else:
            assert -90 <= out["latitude"] <= 90 and -180 <= out["longitude"] <= 180
        assert out["event_time"].tzinfo is not None and out["event_time"] <= NOW  # a clock ahead: received now
        assert set(out) <= set(columns(stream))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(st.tuples(st.sampled_from(STREAMS), json_values), max_size=30))
def test_received_equals_valid_plus_dead_lettered(batch: list[tuple[str, Any]]) -> None:
    events = [(s, json.dumps(v).encode()) for s, v in batch]
    oks, errs = VALIDATOR.validate_batch(events, now=NOW)
    assert len(oks) + len(errs) == len(events)


def _carried(body: bytes) -> int:
    """How many events a posted body carries: one per element of a JSON array (numbers of any
    size and NaN included), else one: any other JSON value, or the body itself when not JSON."""
    try:
        value = json.loads(body.decode("utf-8"), parse_int=float)
    except (ValueError, RecursionError):
        return 1
    return len(value) if isinstance(value, list) else 1


# valid on every stream (each ignores the others' fields), at the API tests' clock
_GOOD = {"device_id": "d-1", "timestamp": CITY_NOW.isoformat(), "location": [52.5, 13.4], "speed": 12.0}
_GOOD |= {"camera_id": "c-1", "temperature": 5.0, "incidentId": "i-1", "incident_type": "fire", "status": "Active"}
_event_texts = (
    json_values.map(json.dumps)  # stdlib: NaN, Infinity and big numbers too
    | st.dictionaries(st.sampled_from(FIELD_NAMES), field_values, max_size=4).map(lambda d: json.dumps(_GOOD | d))
    | st.sampled_from(["1e400", "-1e999", json.dumps(_GOOD), json.dumps(_GOOD).replace("12.0", "1e400")])
)
_space = st.sampled_from(["", " ", "\n", "\t "])
_arrays = st.lists(st.tuples(_space, _event_texts), max_size=8).map(
    lambda items: "[" + ",".join(s + t for s, t in items) + "]"
)
posted_bodies = (
    st.binary(max_size=120)
    | (_arrays | _event_texts).map(str.encode)
    | st.tuples(_arrays, st.sampled_from(["", "]", ",", "x", "{", "[1]"])).map(lambda p: (p[0] + p[1]).encode())
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=st.sampled_from(STREAMS), body=posted_bodies)
def test_every_posted_event_is_counted_once(app: Flask, stream: str, body: bytes) -> None:
    """Whatever a client posts, ``received`` grows by the events it carried and each of them
    is counted valid or dead-lettered; the answer says how many were accepted."""
    accounting = app.extensions["smartcity.ingest"].batch.accounting

    def totals() -> tuple[int, int, int]:
        c = accounting.snapshot()["streams"][stream]
        return c["received"], c["valid"], c["dead_letters"]

    before = totals()
    headers = {"Authorization": "Bearer ingest-token", "Content-Type": "application/json"}
    resp = app.test_client().post(f"/api/ingest/{stream}", data=body, headers=headers)
    received, valid, dead = (now - then for now, then in zip(totals(), before, strict=True))
    assert received == _carried(body)
    assert received == valid + dead
    assert resp.status_code in (202, 400, 422)
    event(f"HTTP {resp.status_code}, {'some' if valid else 'no'} valid events")  # --hypothesis-show-statistics
    answer = resp.get_json()
    if resp.status_code != 400:
        assert answer["accepted"] == valid and len(answer.get("rejected", [])) == dead
