"""Property tests: any input becomes a record or a dead letter, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.schemas import STREAMS
from pipeline.validation import DeadLetter, Validator

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
        assert -90 <= out["latitude"] <= 90 and -180 <= out["longitude"] <= 180
        assert out["event_time"].tzinfo is not None and out["event_time"] <= NOW.replace(year=2027)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(st.tuples(st.sampled_from(STREAMS), json_values), max_size=30))
def test_received_equals_valid_plus_dead_lettered(batch: list[tuple[str, Any]]) -> None:
    events = [(s, json.dumps(v).encode()) for s, v in batch]
    oks, errs = VALIDATOR.validate_batch(events, now=NOW)
    assert len(oks) + len(errs) == len(events)
