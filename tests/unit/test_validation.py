from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
import pytest

from pipeline import runtime
from pipeline.schemas import COMMON, LOCATION_OPTIONAL, SCHEMAS, STREAMS, Field, arrow_schema, columns, describe
from pipeline.settings import Settings
from pipeline.validation import DeadLetter, Limits, Validator

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)


def _rename(event: dict[str, object], **names: str) -> dict[str, object]:
    return {names.get(k, k): v for k, v in event.items()}


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

# The same events as the camelCase clones of those simulators send them.
CAMEL = {
    "vehicle_data": _rename(PUBLIC["vehicle_data"], device_id="deviceId", fuel_type="fuelType"),
    "gps_data": _rename(PUBLIC["gps_data"], device_id="deviceId", vehicle_type="vehicleType"),
    "traffic_data": _rename(PUBLIC["traffic_data"], device_id="deviceId", camera_id="cameraId"),
    "weather_data": _rename(
        PUBLIC["weather_data"], device_id="deviceId", weather_condition="weatherCondition", wind_speed="windSpeed"
    ),
    "emergency_data": {
        k: v for k, v in _rename(PUBLIC["emergency_data"], device_id="deviceId").items() if k != "incident_type"
    },  # the incident's kind under `type` alone
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
    # naive timestamps are read in the validator's zone: UTC unless one is given
    assert rec["event_time"].replace(microsecond=0) == datetime(2026, 11, 27, 11, 59, 58, tzinfo=UTC)
    # every record key is a lake column, and the record converts to the Arrow schema
    assert set(rec) <= set(columns(stream))
    assert pa.Table.from_pylist([rec], schema=arrow_schema(stream)).num_rows == 1


@pytest.mark.parametrize("stream", STREAMS)
def test_the_camel_case_clones_events_make_the_same_records(validator: Validator, stream: str) -> None:
    snake, camel = (validator.validate(stream, orjson.dumps(ev[stream]), now=NOW) for ev in (PUBLIC, CAMEL))
    assert isinstance(camel, dict), camel
    assert camel == snake


def test_zoned_timestamps_are_converted_to_utc(validator: Validator) -> None:
    ev = dict(PUBLIC["gps_data"], timestamp="2026-11-27T13:00:00+02:00")
    rec = validator.validate("gps_data", ev, now=NOW)
    assert isinstance(rec, dict)
    assert rec["event_time"] == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)


def test_unknown_fields_are_kept_as_one_json_object(validator: Validator) -> None:
    ev = dict(PUBLIC["vehicle_data"], firmware="1.2.3", extra={"a": [1, 2]})
    rec = validator.validate("vehicle_data", ev, now=NOW)
    assert isinstance(rec, dict)
    assert "firmware" not in rec  # not a column: one JSON object holds them, in the order sent
    assert rec["extra"] == '{"firmware":"1.2.3","extra":{"a":[1,2]}}'


def test_an_event_with_only_known_fields_has_no_extra(validator: Validator) -> None:
    rec = validator.validate("gps_data", PUBLIC["gps_data"], now=NOW)
    assert isinstance(rec, dict) and "extra" not in rec


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
    ("vehicle_data", _with("vehicle_data", timestamp=True), "timestamp must be an ISO-8601 string or epoch"),
    ("vehicle_data", _with("vehicle_data", timestamp=[2026, 11, 27]), "timestamp must be an ISO-8601 string"),
    ("vehicle_data", _with("vehicle_data", timestamp="1970-01-01T00:00:00"), "before 2000"),
    ("vehicle_data", _with("vehicle_data", timestamp=946_684_799), "before 2000"),  # epoch s, 1999-12-31
    ("vehicle_data", _with("vehicle_data", timestamp=946_684_799_000), "before 2000"),  # epoch ms
    ("vehicle_data", _with("vehicle_data", timestamp=1e300), "timestamp: epoch time out of range"),
    ("vehicle_data", _with("vehicle_data", timestamp=1_795_780_798_000_000), "out of range"),  # microseconds
    ("vehicle_data", _with("vehicle_data", location=_DROP), "location: Field required"),
    ("vehicle_data", _with("vehicle_data", location=None), "location"),
    ("gps_data", _with("gps_data", location=[91.0, 0.0]), "location.0"),
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


def test_an_id_is_blank_exactly_when_python_says_it_is_whitespace(validator: Validator) -> None:
    """The usual event's ids are checked by a pattern inside pydantic-core: it refuses what
    ``str.strip`` would empty (U+001C..U+001F among them), and nothing else: every code point up to
    U+3100 (Python's whitespace ends at U+3000) and a few beyond."""
    disagree = []
    for cp in [*range(0x3100), 0xFEFF, 0xFFFF, 0x1D7CE, 0x10FFFF]:
        c = chr(cp)
        rec = validator.validate("gps_data", _with("gps_data", device_id=f" {c}\t"), now=NOW)
        if isinstance(rec, dict) == c.isspace():
            disagree.append(hex(cp))
    assert disagree == []


@pytest.mark.parametrize(
    "ts",
    ["2026-11-27T11:59:58.123456", "2026-11-27T11:59:58Z", "2026-11-27 12:59:58+01:00", 1_764_244_798,
     1_764_244_798_123.0, "2026-11-27", "yesterday", "1999-12-31T23:59:59Z", "2026-11-27T13:00:00"],
)  # fmt: skip
def test_a_timestamp_text_reads_the_same_however_often_it_comes(ts: object) -> None:
    """A validator parses a timestamp's text once and keeps it: the second, third... event with
    the same text (in any stream, refused or not) get what the first got."""
    zoned = Validator(naive_zone=ZoneInfo("Europe/Berlin"))
    first = [zoned.validate(s, _with(s, timestamp=ts), now=NOW) for s in ("gps_data", "vehicle_data")]
    again = [zoned.validate(s, _with(s, timestamp=ts), now=NOW) for s in ("gps_data", "vehicle_data")]
    fresh = [Validator(naive_zone=ZoneInfo("Europe/Berlin")).validate("vehicle_data", _with("vehicle_data",
             timestamp=ts), now=NOW)]  # fmt: skip
    assert first == again and first[1] == fresh[0]


def test_future_tolerance_is_configurable() -> None:
    ev = _with("gps_data", timestamp=(NOW + timedelta(minutes=30)).isoformat())
    strict = Validator().validate("gps_data", ev, now=NOW)
    assert isinstance(strict, dict) and strict["event_time"] == NOW and strict["clock_skew_s"] == 1800
    lenient = Validator(Limits(max_future=timedelta(hours=1))).validate("gps_data", ev, now=NOW)
    assert isinstance(lenient, dict) and lenient["event_time"] == NOW + timedelta(minutes=30)
    assert "device_time" not in lenient and "clock_skew_s" not in lenient


def test_validate_batch_splits_oks_and_errors(validator: Validator) -> None:
    events = [("gps_data", PUBLIC["gps_data"]), ("gps_data", b"nope"), ("weather_data", PUBLIC["weather_data"])]
    oks, errs = validator.validate_batch(events, now=NOW)
    assert [s for s, _ in oks] == ["gps_data", "weather_data"]
    assert len(errs) == 1 and errs[0].stream == "gps_data"


def test_schema_description_covers_every_stream_field() -> None:
    described = describe()
    for stream in STREAMS:
        names = {f["name"] for f in described[stream]}
        assert set(arrow_schema(stream).names) - set(columns("gps_data")[:6]) - set(columns("gps_data")[-3:]) <= names


# -- field names: snake_case and camelCase are one schema ------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


def _sample(f: Field) -> object:
    """A valid value of ``f``."""
    if f.choices:
        return f.choices[-1]
    if f.kind == "str":
        return "sent-under-an-alias"
    value = (f.ge or 0) + 1
    return int(value) if f.kind == "int" else float(value)


ALIASES = [(stream, f, alias) for stream in STREAMS for f in COMMON + SCHEMAS[stream] for alias in f.aliases]


@pytest.mark.parametrize(("stream", "field", "alias"), ALIASES, ids=[f"{s}-{a}" for s, _, a in ALIASES])
def test_every_alias_is_accepted_and_stored_under_the_canonical_name(
    validator: Validator, stream: str, field: Field, alias: str
) -> None:
    ev = {k: v for k, v in PUBLIC[stream].items() if k not in field.names}
    ev[alias] = _sample(field)
    rec = validator.validate(stream, orjson.dumps(ev), now=NOW)
    assert isinstance(rec, dict), rec
    assert rec[field.name] == _sample(field)
    assert alias not in rec and "extra" not in rec  # the lake has the canonical column only
    assert set(rec) <= set(columns(stream))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@pytest.mark.parametrize("stream", STREAMS)
def test_each_multi_word_field_answers_to_both_case_families(stream: str) -> None:
    for f in COMMON + SCHEMAS[stream]:
        snake = {n for n in f.names if "_" in n}
        camel = {n for n in f.names if n != n.lower()}
        if snake or camel:  # a name of several words: the other family's spelling is a name too
            assert {_camel(n) for n in snake} <= camel and snake, f"{stream}.{f.name}: {f.names}"


@pytest.mark.parametrize("stream", STREAMS)
def test_no_name_means_two_fields(stream: str) -> None:
    names = [n for f in COMMON + SCHEMAS[stream] for n in f.names] + ["timestamp", "location"]
    assert len(names) == len(set(names))


def test_when_both_names_are_sent_the_canonical_one_wins_and_a_different_other_is_kept(validator: Validator) -> None:
    same = validator.validate("gps_data", _with("gps_data", deviceId="Vehicle-CodeWithYu-123"), now=NOW)
    assert isinstance(same, dict) and same["device_id"] == "Vehicle-CodeWithYu-123" and "extra" not in same
    other = validator.validate("gps_data", _with("gps_data", deviceId="someone-else"), now=NOW)
    assert isinstance(other, dict) and other["device_id"] == "Vehicle-CodeWithYu-123"
    assert orjson.loads(other["extra"]) == {"deviceId": "someone-else"}  # nothing sent is dropped
    # emergency `type` ranks after `incident_type` and `incidentType`
    fire = validator.validate("emergency_data", _with("emergency_data", incident_type=_DROP, incidentType="Flood"))
    assert (
        isinstance(fire, dict) and fire["incident_type"] == "Flood" and orjson.loads(fire["extra"]) == {"type": "Fire"}
    )


def test_a_name_that_loses_must_still_hold_a_valid_value(validator: Validator) -> None:
    out = validator.validate("gps_data", _with("gps_data", vehicleType={}), now=NOW)
    assert isinstance(out, DeadLetter)
    assert out.reason == "vehicleType: Input should be a valid string (sent beside vehicle_type, which wins)"
    blank = validator.validate("gps_data", _with("gps_data", deviceId=" "), now=NOW)
    assert isinstance(blank, DeadLetter) and blank.reason.startswith("deviceId: must not be blank")


def test_a_missing_required_field_names_its_other_names(validator: Validator) -> None:
    out = validator.validate("traffic_data", _with("traffic_data", camera_id=_DROP), now=NOW)
    assert isinstance(out, DeadLetter) and "camera_id: Field required (also accepted as cameraId)" in out.reason


def test_a_bad_value_under_an_alias_is_reported_under_that_alias(validator: Validator) -> None:
    out = validator.validate("weather_data", _with("weather_data", wind_speed=_DROP, windSpeed=-4), now=NOW)
    assert isinstance(out, DeadLetter) and out.reason.startswith("windSpeed: Input should be greater than")


@pytest.mark.parametrize("stream", STREAMS)
def test_the_json_schema_lists_every_alias_and_takes_any_name_of_a_required_field(
    validator: Validator, stream: str
) -> None:
    schema = validator.json_schema(stream)
    for f in COMMON + SCHEMAS[stream]:
        for alias in f.aliases:
            assert schema["properties"][alias]["description"] == f"another name of `{f.name}`"
        if f.required and f.aliases:
            assert {"anyOf": [{"required": [n]} for n in f.names]} in schema["allOf"]
            assert f.name not in schema["required"]
    assert ("location" in schema["required"]) == (stream not in LOCATION_OPTIONAL)


# -- time ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "utc"),
    [
        ("2026-11-27T12:59:58", datetime(2026, 11, 27, 11, 59, 58, tzinfo=UTC)),  # CET, +01:00
        ("2026-07-01T12:00:00", datetime(2026, 7, 1, 10, 0, tzinfo=UTC)),  # CEST, +02:00
        ("2026-07-01T12:00:00Z", datetime(2026, 7, 1, 12, 0, tzinfo=UTC)),  # a zone is a zone
        ("2026-07-01T12:00:00-04:00", datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),
        # the hour repeated when clocks go back (03:00 CEST -> 02:00 CET): fold=0, the first one, CEST
        ("2026-10-25T02:30:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # the hour skipped when clocks go forward (02:00 CET -> 03:00 CEST): fold=0, the offset before, CET
        ("2026-03-29T02:30:00", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ],
)
def test_naive_timestamps_are_read_in_the_configured_zone(sent: str, utc: datetime) -> None:
    berlin = Validator(naive_zone=BERLIN)
    rec = berlin.validate("gps_data", _with("gps_data", timestamp=sent), now=datetime(2026, 12, 1, tzinfo=UTC))
    assert isinstance(rec, dict), rec
    assert rec["event_time"] == utc


def test_the_naive_zone_comes_from_the_settings() -> None:
    settings = Settings(_env_file=None, naive_timezone="America/New_York")
    rec = runtime.validator(settings).validate("gps_data", PUBLIC["gps_data"], now=NOW + timedelta(hours=6))
    assert isinstance(rec, dict) and rec["event_time"] == datetime(2026, 11, 27, 16, 59, 58, tzinfo=UTC)
    assert Settings(_env_file=None).naive_timezone == "Europe/Berlin"  # the simulated cities' zone
    with pytest.raises(ValueError, match="unknown time zone"):
        Settings(_env_file=None, naive_timezone="Europe/Atlantis")


@pytest.mark.parametrize(
    "epoch",
    [1_795_780_798, 1_795_780_798.0, 1_795_780_798_000, 1_795_780_798_000.0, "2026-11-27T11:59:58Z"],
    ids=["s", "s-float", "ms", "ms-float", "iso"],
)
def test_epoch_seconds_and_milliseconds_are_one_instant(validator: Validator, epoch: object) -> None:
    rec = validator.validate("gps_data", orjson.dumps(_with("gps_data", timestamp=epoch)), now=NOW)
    assert isinstance(rec, dict), rec
    assert rec["event_time"] == datetime(2026, 11, 27, 11, 59, 58, tzinfo=UTC)


def test_epoch_keeps_milliseconds_exactly(validator: Validator) -> None:
    rec = validator.validate("gps_data", _with("gps_data", timestamp=1_795_780_798_123), now=NOW)
    assert isinstance(rec, dict) and rec["event_time"].microsecond == 123_000


def test_a_clock_ahead_beyond_the_tolerance_is_kept_at_the_receive_time_with_its_own_time(validator: Validator) -> None:
    ahead = NOW + timedelta(minutes=5, seconds=1)
    rec = validator.validate("gps_data", _with("gps_data", timestamp=ahead.isoformat()), now=NOW)
    assert isinstance(rec, dict), rec
    assert (rec["event_time"], rec["device_time"], rec["clock_skew_s"]) == (NOW, ahead, 301.0)
    within = validator.validate(
        "gps_data", _with("gps_data", timestamp=(NOW + timedelta(minutes=5)).isoformat()), now=NOW
    )
    assert (
        isinstance(within, dict) and within["event_time"] == NOW + timedelta(minutes=5) and "device_time" not in within
    )
    far = validator.validate("gps_data", _with("gps_data", timestamp="2999-01-01T00:00:00Z"), now=NOW)
    assert isinstance(far, dict) and far["event_time"] == NOW  # a clock far ahead never freezes the device's state
    assert far["device_time"] == datetime(2999, 1, 1, tzinfo=UTC)


def test_a_skewed_event_keeps_its_id_whenever_it_is_received(validator: Validator) -> None:
    ev = _with("gps_data", id=_DROP, timestamp="2999-01-01T00:00:00Z")
    first, again = (
        validator.validate("gps_data", ev, now=NOW),
        validator.validate("gps_data", ev, now=NOW + timedelta(1)),
    )
    assert isinstance(first, dict) and isinstance(again, dict)
    assert first["event_id"] == again["event_id"] and first["event_time"] != again["event_time"]


# -- location ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("location", [_DROP, None], ids=["absent", "null"])
def test_a_gps_event_without_a_location_is_valid(validator: Validator, location: object) -> None:
    rec = validator.validate("gps_data", _with("gps_data", location=location, heading=90.0), now=NOW)
    assert isinstance(rec, dict), rec
    assert (rec["latitude"], rec["longitude"], rec["speed"], rec["heading"]) == (None, None, 33.1, 90.0)
    assert pa.Table.from_pylist([rec], schema=arrow_schema("gps_data")).num_rows == 1


def test_the_spark_wire_schema_knows_every_name() -> None:
    pytest.importorskip("pyspark")
    from pipeline.schemas import spark_schema

    for stream in STREAMS:
        names = set(spark_schema(stream).fieldNames())
        assert {n for f in COMMON + SCHEMAS[stream] for n in f.names} | {"timestamp", "location"} == names
