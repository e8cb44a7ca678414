from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pyarrow as pa
import pytest

from pipeline.schemas import STREAMS, arrow_schema, columns, describe
from pipeline.validation import DeadLetter, Limits, Validator

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)

# Events exactly as the public smart-city Kafka simulators send them: naive timestamps,
# location as [lat, lon], their field names.
PUBLIC = {
    "vehicle_data": {
        "id": "6c8e0d1e-2a53-4c4e-9d58-4a1a2f0f8f11",
        "device_id": "Vehicle-CodeWithYu-123",
        "timestamp": "2026-11-27T11:59:58.123456",
        "location": [51.5074, -0.1278],
        "speed": 42.5,
        "direction": "North-East",
        "make": "BMW",
        "model": "C500",
        "year": 2024,
        "fuel_type": "Hybrid",
    },
    "gps_data": {
        "id": "a1",
        "device_id": "Vehicle-CodeWithYu-123",
        "timestamp": "2026-11-27T11:59:58",
        "location": [51.5074, -0.1278],
        "speed": 33.1,
        "direction": "North-East",
        "vehicle_type": "private",
    },
    "traffic_data": {
        "id": "t1",
        "device_id": "Vehicle-CodeWithYu-123",
        "camera_id": "Nikon-Cam123",
        "location": [51.5074, -0.1278],
        "timestamp": "2026-11-27T11:59:58",
        "snapshot": "Base64EncodedString",
    },
    "weather_data": {
        "id": "w1",
        "device_id": "Vehicle-CodeWithYu-123",
        "location": [51.5074, -0.1278],
        "timestamp": "2026-11-27T11:59:58",
        "temperature": 12.4,
        "weather_condition": "Rain",
        "precipitation": 4.2,
        "wind_speed": 18.0,
        "humidity": 80,
        "airQualityIndex": 48.3,
    },
    "emergency_data": {
        "id": "e1",
        "device_id": "Vehicle-CodeWithYu-123",
        "incidentId": "inc-77",
        "type": "Fire",
        "incident_type": "Fire",
        "timestamp": "2026-11-27T11:59:58",
        "location": [51.5074, -0.1278],
        "status": "Active",
        "description": "Fire near the bridge",
    },
}


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


@pytest.mark.parametrize("stream", STREAMS)
def test_public_simulator_events_validate_unchanged(validator: Validator, stream: str) -> None:
    rec = validator.validate(stream, orjson.dumps(PUBLIC[stream]), now=NOW)
    assert isinstance(rec, dict), rec
    assert rec["device_id"] == "Vehicle-CodeWithYu-123"
    assert (rec["latitude"], rec["longitude"]) == (51.5074, -0.1278)
    # naive timestamps are UTC
    assert rec["event_time"].replace(microsecond=0) == datetime(2026, 11, 27, 11, 59, 58, tzinfo=UTC)
    # every record key is a lake column, and the record converts to the Arrow schema
    assert set(rec) <= set(columns(stream))
    assert pa.Table.from_pylist([rec], schema=arrow_schema(stream)).num_rows == 1


def test_zoned_timestamps_are_converted_to_utc(validator: Validator) -> None:
    ev = dict(PUBLIC["gps_data"], timestamp="2026-11-27T13:00:00+02:00")
    rec = validator.validate("gps_data", ev, now=NOW)
    assert isinstance(rec, dict)
    assert rec["event_time"] == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


def test_unknown_extra_fields_are_tolerated(validator: Validator) -> None:
    ev = dict(PUBLIC["vehicle_data"], firmware="1.2.3", extra={"a": [1, 2]})
    rec = validator.validate("vehicle_data", ev, now=NOW)
    assert isinstance(rec, dict)
    assert "firmware" not in rec


def test_missing_id_gets_a_deterministic_one(validator: Validator) -> None:
    ev = {k: v for k, v in PUBLIC["gps_data"].items() if k != "id"}
    a, b = validator.validate("gps_data", ev, now=NOW), validator.validate("gps_data", ev, now=NOW)
    assert isinstance(a, dict) and isinstance(b, dict)
    assert a["event_id"] == b["event_id"]


def _with(stream: str, **changes: object) -> dict[str, object]:
    ev = dict(PUBLIC[stream])
    for key, value in changes.items():
        if value is _DROP:
            ev.pop(key)
        else:
            ev[key] = value
    return ev


_DROP = object()
_RAW = b'{"device_id":"d","timestamp":"2026-11-27T11:00:00","location":[1,2],"speed":12.5}'
BAD: list[tuple[str, object, str]] = [
    ("vehicle_data", b"{not json", "not valid JSON"),
    ("vehicle_data", b"\xff\xfe", "not valid JSON"),
    ("vehicle_data", b"[1, 2, 3]", "must be a JSON object"),
    ("vehicle_data", b'"text"', "must be a JSON object"),
    ("vehicle_data", _with("vehicle_data", speed=_DROP), "speed: Field required"),
    ("vehicle_data", _with("vehicle_data", device_id=_DROP), "device_id: Field required"),
    ("vehicle_data", _with("vehicle_data", speed="fast"), "speed: Input should be a valid number"),
    ("vehicle_data", _with("vehicle_data", speed=True), "speed"),
    ("vehicle_data", _with("vehicle_data", year="2020"), "year"),
    ("vehicle_data", _RAW.replace(b"12.5", b"NaN"), "speed: not a finite number (NaN)"),
    ("vehicle_data", _RAW.replace(b"12.5", b"1e400"), "speed: number out of range (1e400)"),
    ("vehicle_data", _RAW.replace(b"[1,2]", b"[-1e999,2]"), "location.0: number out of range (-1e999)"),
    ("vehicle_data", b'{"speed": 1e400, "extra": [Infinity]}', "speed: number out of range (1e400); extra.0: not a"),
    ("vehicle_data", b"1e400", "event: number out of range"),
    ("vehicle_data", b'{"speed": 1e400,}', "not valid JSON"),  # not JSON to any parser: orjson's reason
    ("vehicle_data", _with("vehicle_data", speed=float("inf")), "speed: Input should be a finite number"),
    ("vehicle_data", _with("vehicle_data", location=[91.0, 0.0]), "location.0"),
    ("vehicle_data", _with("vehicle_data", location=[0.0, -180.5]), "location.1"),
    ("vehicle_data", _with("vehicle_data", location=[1.0]), "location"),
    ("vehicle_data", _with("vehicle_data", location="51,0"), "location"),
    ("vehicle_data", _with("vehicle_data", speed=-3), "speed: Input should be greater than or equal to 0"),
    ("vehicle_data", _with("vehicle_data", speed=1200), "speed: Input should be less than or equal to 400"),
    ("vehicle_data", _with("vehicle_data", timestamp="yesterday"), "timestamp"),
    ("vehicle_data", _with("vehicle_data", timestamp=1764244798), "timestamp must be an ISO-8601 string"),
    ("vehicle_data", _with("vehicle_data", timestamp="2027-01-01T00:00:00"), "in the future"),
    ("vehicle_data", _with("vehicle_data", timestamp="1970-01-01T00:00:00"), "before 2000"),
    ("vehicle_data", _with("vehicle_data", make="x" * 300), "make: String should have at most 256 characters"),
    ("vehicle_data", _with("vehicle_data", timestamp="2026-11-27"), "timestamp: needs a date and a time of day"),
    ("vehicle_data", _with("vehicle_data", timestamp="1764244798"), "timestamp: needs a date and a time of day"),
    ("vehicle_data", _with("vehicle_data", device_id=""), "device_id: must not be blank"),
    ("vehicle_data", _with("vehicle_data", device_id=" \t "), "device_id: must not be blank"),
    ("vehicle_data", _with("vehicle_data", id="\u00a0"), "id: must not be blank"),
    ("traffic_data", _with("traffic_data", camera_id="  "), "camera_id: must not be blank"),
    ("emergency_data", _with("emergency_data", incidentId="\n"), "incidentId: must not be blank"),
    ("vehicle_data", _with("vehicle_data", meta={"a": {"b": {"c": {"d": {"e": 1}}}}}), "nested deeper"),
    ("vehicle_data", b'{"x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "JSON"),
    ("vehicle_data", orjson.dumps(_with("vehicle_data", blob="x" * 70_000)), "exceeds the 65536 byte limit"),
    ("emergency_data", _with("emergency_data", status="Pending"), "status: Input should be 'Active' or 'Resolved'"),
    ("emergency_data", _with("emergency_data", incidentId=_DROP), "incidentId: Field required"),
    ("traffic_data", _with("traffic_data", camera_id=12), "camera_id: Input should be a valid string"),
    ("weather_data", _with("weather_data", humidity=140), "humidity"),
    ("parking_data", PUBLIC["gps_data"], "unknown stream 'parking_data'"),
]


@pytest.mark.parametrize(("stream", "raw", "reason"), BAD, ids=[f"{i}-{b[2][:24]}" for i, b in enumerate(BAD)])
def test_bad_input_becomes_a_dead_letter_with_its_reason(
    validator: Validator, stream: str, raw: object, reason: str
) -> None:
    out = validator.validate(stream, raw, source="test", now=NOW)  # type: ignore[arg-type]
    assert isinstance(out, DeadLetter)
    assert reason in out.reason
    assert out.stream == stream and out.source == "test" and out.received_at == NOW
    assert out.raw  # the raw payload is kept for inspection
    assert len(out.raw) <= validator.limits.max_payload_bytes


@pytest.mark.parametrize("ts", ["2026-11-27T11:00", "2026-11-27 11:00:00", "2026-11-27t11:00:00.5+01:00"])
def test_a_timestamp_with_a_time_of_day_is_taken_in_any_iso_spelling(validator: Validator, ts: str) -> None:
    assert isinstance(validator.validate("gps_data", _with("gps_data", timestamp=ts), now=NOW), dict)


@pytest.mark.parametrize("odd", ["a:b", "*", "{x}", "../up", "a/b", "Straße-7", "東京", "a\nb", " padded "])
def test_odd_but_not_blank_ids_stay_valid(validator: Validator, odd: str) -> None:
    """The speed layer keeps any id's text apart from its indexes, so only blank ids are refused;
    ids are kept as sent (not stripped), so ``" padded "`` and ``"padded"`` stay two devices."""
    ev = _with("emergency_data", id=odd, device_id=odd, incidentId=odd)
    rec = validator.validate("emergency_data", ev, now=NOW)
    assert isinstance(rec, dict), rec
    assert rec["event_id"] == rec["device_id"] == rec["incidentId"] == odd
    cam = validator.validate("traffic_data", _with("traffic_data", camera_id=odd), now=NOW)
    assert isinstance(cam, dict) and cam["camera_id"] == odd


def test_future_tolerance_is_configurable() -> None:
    ev = _with("gps_data", timestamp=(NOW + timedelta(minutes=30)).isoformat())
    assert isinstance(Validator().validate("gps_data", ev, now=NOW), DeadLetter)
    lenient = Validator(Limits(max_future=timedelta(hours=1)))
    assert isinstance(lenient.validate("gps_data", ev, now=NOW), dict)


def test_validate_batch_splits_oks_and_errors(validator: Validator) -> None:
    events = [("gps_data", PUBLIC["gps_data"]), ("gps_data", b"nope"), ("weather_data", PUBLIC["weather_data"])]
    oks, errs = validator.validate_batch(events, now=NOW)
    assert [s for s, _ in oks] == ["gps_data", "weather_data"]
    assert len(errs) == 1 and errs[0].stream == "gps_data"


def test_schema_description_covers_every_stream_field() -> None:
    described = describe()
    for stream in STREAMS:
        names = {f["name"] for f in described[stream]}
        assert (
            set(arrow_schema(stream).names) - {"event_id", "event_time", "ingest_time", "latitude", "longitude"}
            <= names
        )
