"""Validation: raw event -> typed lake record, or a dead letter with the reason.

Errors are data, not exceptions: ``Validator.validate`` never raises for any input,
it returns either a ``dict`` record (the lake row) or a ``DeadLetter``. The pydantic
validators are generated from ``pipeline.schemas`` so the contract lives in one place.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NotRequired

import orjson
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Strict, TypeAdapter, ValidationError
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from pipeline.schemas import COMMON, SCHEMAS, Field

Record = dict[str, Any]
_EVENT_NS = uuid.UUID("6f1d3c52-1f7e-4b5e-9b1e-0c7a4a3f9d10")
_MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# a date and a time of day: pydantic alone also takes "2026-12-07" (as midnight) and "1700000000"
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt _][0-9]{2}:[0-9]{2}")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that failed validation, kept with everything needed to inspect it."""

    stream: str
    reason: str
    raw: str
    source: str
    received_at: datetime

    def as_row(self) -> Record:
        return {
            "stream": self.stream,
            "reason": self.reason,
            "raw": self.raw,
            "source": self.source,
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class Limits:
    """Bounds on what an event may look like before it is even parsed."""

    max_payload_bytes: int = 64 * 1024
    max_depth: int = 4
    max_future: timedelta = timedelta(minutes=5)


def _require_date_time(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("timestamp must be an ISO-8601 string")
    if not _DATE_TIME.match(value):
        raise PydanticCustomError("date_time", "needs a date and a time of day, e.g. 2026-12-07T08:30:00Z (ISO-8601)")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank (empty or only whitespace)")
    return value


def _annotation(f: Field) -> Any:
    if f.choices:
        return Literal[f.choices]
    if f.identifier:  # the pattern documents _not_blank in the JSON Schema; _not_blank gives the clearer reason
        size = PydanticField(max_length=f.max_length, json_schema_extra={"pattern": r"\S"})
        return Annotated[str, Strict(), size, AfterValidator(_not_blank)]
    if f.kind == "str":
        return Annotated[str, Strict(), PydanticField(max_length=f.max_length)]
    py = {"float": float, "int": int, "bool": bool}[f.kind]
    return Annotated[py, Strict(), PydanticField(ge=f.ge, le=f.le)]


def _adapter(stream: str) -> TypeAdapter[Any]:
    lat = Annotated[float, Strict(), PydanticField(ge=-90, le=90)]
    lon = Annotated[float, Strict(), PydanticField(ge=-180, le=180)]
    spec: dict[str, Any] = {
        "timestamp": Annotated[datetime, BeforeValidator(_require_date_time)],
        "location": tuple[lat, lon],
    }
    for f in COMMON + SCHEMAS[stream]:
        ann = _annotation(f)
        spec[f.name] = ann if f.required else NotRequired[ann]
    make_typed_dict: Any = TypedDict  # built from the field list at run time, not a static type
    td = make_typed_dict(f"{stream}_event", spec)
    td.__pydantic_config__ = ConfigDict(allow_inf_nan=False, extra="ignore")
    return TypeAdapter(td)


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of ``value``, stopping early once ``limit`` is exceeded."""
    if isinstance(value, dict):
        children: Iterable[Any] = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return 0
    deepest = 0
    for child in children:
        d = _depth(child, limit - 1)
        if d > deepest:
            deepest = d
            if deepest >= limit:
                break
    return deepest + 1


@dataclass(frozen=True, slots=True)
class _Unrepresentable:
    """A number the stdlib parser read but orjson (and a float64 column) cannot hold."""

    literal: str
    finite: bool  # True: a finite literal beyond a double's range (1e400); False: NaN, Infinity


def _number(literal: str) -> Any:
    value = float(literal)  # never raises for JSON's number syntax; 1e400 -> inf
    if math.isfinite(value):
        return value  # only the unrepresentable ones matter here
    return _Unrepresentable(literal, finite=True)


def _unrepresentable(value: Any, path: str) -> Iterator[str]:
    """The reasons for every unrepresentable number in ``value``, by field path."""
    if isinstance(value, _Unrepresentable):
        what = "number out of range" if value.finite else "not a finite number"
        yield f"{path or 'event'}: {what} ({value.literal[:40]})"
    elif isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in items:
            yield from _unrepresentable(child, f"{path}.{key}" if path else str(key))


def _not_json_reason(raw: bytes | str, exc: orjson.JSONDecodeError) -> str:
    """Why orjson refused ``raw``: a number out of range (``1e400``) or NaN/Infinity is named by
    its field, as the stdlib parser (which reads them) finds it; anything else is orjson's word."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        obj = json.loads(text, parse_float=_number, parse_int=_number, parse_constant=_constant)
        reasons = list(_unrepresentable(obj, ""))
    except (ValueError, RecursionError):  # not JSON to the stdlib either (or too deep for it)
        reasons = []
    return "; ".join(reasons[:5]) if reasons else f"not valid JSON: {exc}"


def _constant(literal: str) -> _Unrepresentable:
    return _Unrepresentable(literal, finite=False)


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


class Validator:
    """Validates raw events of every stream against the shared schemas."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._adapters = {stream: _adapter(stream) for stream in SCHEMAS}

    def json_schema(self, stream: str) -> dict[str, Any]:
        """The JSON Schema of ``stream``'s events, as this validator checks them (for the API docs)."""
        schema: dict[str, Any] = self._adapters[stream].json_schema()
        return schema

    def validate(
        self,
        stream: str,
        raw: bytes | str | Mapping[str, Any],
        source: str = "",
        now: datetime | None = None,
    ) -> Record | DeadLetter:
        """Return the lake record for ``raw``, or a ``DeadLetter`` saying why not."""
        now = now or datetime.now(UTC)
        try:
            return self._validate(stream, raw, now)
        except _Reject as rej:
            return DeadLetter(stream, rej.reason, self._raw_text(raw), source, now)
        except Exception as exc:
            reason = f"unexpected validation error: {type(exc).__name__}: {exc}"
            return DeadLetter(stream, reason, self._raw_text(raw), source, now)

    def validate_batch(
        self,
        events: Iterable[tuple[str, bytes | str | Mapping[str, Any]]],
        source: str = "",
        now: datetime | None = None,
    ) -> tuple[list[tuple[str, Record]], list[DeadLetter]]:
        """Split ``(stream, raw)`` pairs into ``(oks, errs)``; never raises."""
        now = now or datetime.now(UTC)
        oks: list[tuple[str, Record]] = []
        errs: list[DeadLetter] = []
        for stream, raw in events:
            out = self.validate(stream, raw, source, now)
            if isinstance(out, DeadLetter):
                errs.append(out)
            else:
                oks.append((stream, out))
        return oks, errs

    def _validate(self, stream: str, raw: bytes | str | Mapping[str, Any], now: datetime) -> Record:
        adapter = self._adapters.get(stream)
        if adapter is None:
            raise _Reject(f"unknown stream {stream!r}")
        flat = False
        if isinstance(raw, Mapping):
            obj: Any = raw
        else:
            size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "replace"))
            if size > self.limits.max_payload_bytes:
                raise _Reject(f"payload of {size} bytes exceeds the {self.limits.max_payload_bytes} byte limit")
            # one object holding one list (the location) cannot be nested: skip the depth walk
            if isinstance(raw, str):
                flat = raw.count("{") <= 1 and raw.count("[") <= 1
            else:
                flat = raw.count(b"{") <= 1 and raw.count(b"[") <= 1
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise _Reject(_not_json_reason(raw, exc)) from None
        if not isinstance(obj, dict):
            raise _Reject(f"event must be a JSON object, got {type(obj).__name__}")
        if not flat:
            self._check_depth(obj)
        try:
            event = adapter.validate_python(obj)
        except ValidationError as exc:
            raise _Reject(_format_errors(exc)) from None
        # the validated dict becomes the lake record in place (cheaper than a copy)
        ts: datetime = event.pop("timestamp")
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
        if ts > now + self.limits.max_future:
            raise _Reject(f"timestamp: {ts.isoformat()} is in the future (now {now.isoformat()})")
        if ts < _MIN_TIME:
            raise _Reject(f"timestamp: {ts.isoformat()} is before {_MIN_TIME.date()}")
        event["latitude"], event["longitude"] = event.pop("location")
        event["event_id"] = event.pop("id", None) or str(
            uuid.uuid5(_EVENT_NS, f"{stream}|{event['device_id']}|{ts.isoformat()}")
        )
        event["event_time"] = ts
        event["ingest_time"] = now
        record: Record = event
        return record

    def _check_depth(self, obj: dict[str, Any]) -> None:
        limit = self.limits.max_depth
        for key, value in obj.items():
            # "location" is checked by the schema (two numbers); other containers are extras
            if key != "location" and isinstance(value, dict | list) and _depth(value, limit) > limit:
                raise _Reject(f"{key}: nested deeper than {limit} levels")

    def _raw_text(self, raw: bytes | str | Mapping[str, Any]) -> str:
        limit = self.limits.max_payload_bytes
        if isinstance(raw, bytes):
            return raw[:limit].decode("utf-8", "replace")
        if isinstance(raw, str):
            return raw[:limit]
        try:
            return orjson.dumps(raw, default=str)[:limit].decode("utf-8", "replace")
        except Exception:
            return repr(raw)[:limit]


class _Reject(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
