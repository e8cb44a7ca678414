"""Validation: raw event -> typed lake record, or a dead letter with the reason.

Errors are data, not exceptions: ``Validator.validate`` never raises for any input,
it returns either a ``dict`` record (the lake row) or a ``DeadLetter``. The pydantic
validators are generated from ``pipeline.schemas`` so the contract lives in one place.

Time rules: an ISO-8601 timestamp without a zone is read in the validator's ``naive_zone``
(a time in a repeated or skipped hour resolves with ``fold=0``: the offset in force before the
change); a JSON number is epoch seconds, or milliseconds from ``EPOCH_MS_FROM`` on. An event
whose time is more than ``Limits.max_future`` ahead of the receive time is kept: its event time
becomes the receive time, its own time and the skew go to ``device_time`` and ``clock_skew_s``.
Fields no schema names are kept as one JSON object in ``extra``; when a field is sent under two
of its names, the canonical one wins and the other, if it differs, is kept in ``extra``.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any, Literal, NotRequired

import orjson
from pydantic import AfterValidator, AliasChoices, BeforeValidator, ConfigDict, Strict, TypeAdapter, ValidationError
from pydantic import Field as PydanticField
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from pipeline.schemas import COMMON, LOCATION_OPTIONAL, SCHEMAS, Field

Record = dict[str, Any]
_EVENT_NS = uuid.UUID("6f1d3c52-1f7e-4b5e-9b1e-0c7a4a3f9d10")
_MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A numeric timestamp from here on is epoch milliseconds, below it epoch seconds: 1e11 s is the
# year 5138, 1e11 ms is 1973 (before any valid time), so no valid time reads both ways.
EPOCH_MS_FROM = 1e11
# a date and a time of day: pydantic alone also takes "2026-12-07" (as midnight) and "1700000000"
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt _][0-9]{2}:[0-9]{2}")
# Not blank, checked inside pydantic-core (a Python validator costs a call per field per event):
# a character that is not whitespace as ``str.isspace`` says, which adds U+001C..U+001F to the
# regex's Unicode ``\s`` (checked over every code point by the tests).
_NOT_BLANK = r"[^\s\x1c-\x1f]"
TIMES_KEPT = 4096  # distinct timestamp strings whose parse a validator keeps (a batch shares a few)


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
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _epoch(value)
    if not isinstance(value, str):
        raise ValueError("timestamp must be an ISO-8601 string or epoch seconds/milliseconds (a number)")
    if not _DATE_TIME.match(value):
        raise PydanticCustomError("date_time", "needs a date and a time of day, e.g. 2026-12-07T08:30:00Z (ISO-8601)")
    return value


def _epoch(value: float) -> datetime:
    """Epoch seconds or milliseconds (see ``EPOCH_MS_FROM``) as a UTC datetime."""
    try:
        if abs(value) >= EPOCH_MS_FROM:
            return _EPOCH + timedelta(milliseconds=value)
        return _EPOCH + timedelta(seconds=value)
    except (OverflowError, ValueError):  # beyond the year 9999, or not a finite number
        raise PydanticCustomError("epoch", "epoch time out of range: {value}", {"value": value}) from None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank (empty or only whitespace)")
    return value


def _annotation(f: Field, fast: bool = False) -> Any:
    """The field's pydantic type; ``fast``: the same checks with no Python call (a refusal then
    says less: the validator asks the exact type for its reason)."""
    if f.choices:
        return Literal[f.choices]
    if f.identifier and fast:
        return Annotated[str, Strict(), PydanticField(max_length=f.max_length, pattern=_NOT_BLANK)]
    if f.identifier:  # the pattern documents _not_blank in the JSON Schema; _not_blank gives the clearer reason
        size = PydanticField(max_length=f.max_length, json_schema_extra={"pattern": r"\S"})
        return Annotated[str, Strict(), size, AfterValidator(_not_blank)]
    if f.kind == "str":
        return Annotated[str, Strict(), PydanticField(max_length=f.max_length)]
    py = {"float": float, "int": int, "bool": bool}[f.kind]
    return Annotated[py, Strict(), PydanticField(ge=f.ge, le=f.le)]


_TIMESTAMP = Annotated[datetime, BeforeValidator(_require_date_time)]


def _adapter(stream: str, fast: bool = False) -> TypeAdapter[Any]:
    """The validator of ``stream``'s events. ``fast``: no Python call per event (the timestamp
    taken as any text, parsed apart by ``_TIMESTAMP`` once per distinct text; identifiers
    checked by a pattern): what it accepts, the exact one accepts with the same values."""
    lat = Annotated[float, Strict(), PydanticField(ge=-90, le=90)]
    lon = Annotated[float, Strict(), PydanticField(ge=-180, le=180)]
    location: Any = tuple[lat, lon]
    spec: dict[str, Any] = {
        "timestamp": Annotated[str, Strict()] if fast else _TIMESTAMP,
        "location": NotRequired[location | None] if stream in LOCATION_OPTIONAL else location,
    }
    for f in COMMON + SCHEMAS[stream]:
        ann = _annotation(f, fast)
        if f.aliases:  # the canonical name first: it wins when a producer sends two of them
            ann = Annotated[ann, PydanticField(validation_alias=AliasChoices(*f.names))]
        spec[f.name] = ann if f.required else NotRequired[ann]
    make_typed_dict: Any = TypedDict  # built from the field list at run time, not a static type
    td = make_typed_dict(f"{stream}_event{'_fast' if fast else ''}", spec)
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


def _format_errors(exc: ValidationError, aliases: Mapping[str, tuple[str, ...]]) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "event"
        msg = err["msg"]
        if err["type"] == "missing" and aliases.get(loc):
            msg += f" (also accepted as {', '.join(aliases[loc])})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


class Validator:
    """Validates raw events of every stream against the shared schemas."""

    def __init__(self, limits: Limits | None = None, naive_zone: tzinfo = UTC) -> None:
        """``naive_zone``: the zone of timestamps sent without one (deployments set the city's,
        ``SMARTCITY_NAIVE_TIMEZONE``; UTC when none is given)."""
        self.limits = limits or Limits()
        self.naive_zone = naive_zone
        self._adapters = {stream: _adapter(stream) for stream in SCHEMAS}
        # pydantic-core's own validators: TypeAdapter's wrapper costs a fifth of the call
        self._fast = {stream: _adapter(stream, fast=True).validator.validate_python for stream in SCHEMAS}
        self._timestamp = TypeAdapter(_TIMESTAMP)
        self._times: dict[str, datetime | None] = {}  # timestamp text -> its UTC time (None: invalid)
        self._fields = {stream: COMMON + SCHEMAS[stream] for stream in SCHEMAS}
        self._aliases = {s: {f.name: f.aliases for f in fs if f.aliases} for s, fs in self._fields.items()}
        self._canonical = {
            s: frozenset({"timestamp", "location", *(f.name for f in fs)}) for s, fs in self._fields.items()
        }
        self._known = {
            s: frozenset({"timestamp", "location"}.union(*(f.names for f in fs))) for s, fs in self._fields.items()
        }
        # alias -> the names before it (which win over it when sent too), and its field's check: a name
        # outranked must still hold a valid value, as the published JSON Schema says of every property
        self._outranked = {
            s: {name: (f.names[:i], TypeAdapter(_annotation(f))) for f in fs for i, name in enumerate(f.names) if i}
            for s, fs in self._fields.items()
        }

    def json_schema(self, stream: str) -> dict[str, Any]:
        """The JSON Schema of ``stream``'s events, as this validator checks them (for the API docs):
        every alias a property of its own, a required field satisfied by any of its names."""
        schema: dict[str, Any] = self._adapters[stream].json_schema()
        props: dict[str, Any] = schema["properties"]
        props["timestamp"] = {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "number", "description": f"epoch seconds, or milliseconds from {EPOCH_MS_FROM:.0e} on"},
            ]
        }
        required: list[str] = schema.get("required", [])
        either = []
        for f in self._fields[stream]:
            for alias in f.aliases:
                props[alias] = {**props[f.name], "title": alias, "description": f"another name of `{f.name}`"}
            if f.aliases and f.name in required:
                required.remove(f.name)
                either.append({"anyOf": [{"required": [name]} for name in f.names]})
        if either:
            schema["allOf"] = either
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
        if type(raw) is not bytes and isinstance(raw, Mapping):  # bytes first: an ABC check costs more
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
        # The fast validator first (the usual event passes it); the exact one says why not, or takes
        # what the fast one does not (an epoch timestamp, a mapping's odd types).
        sent: datetime | None = None
        try:
            event = self._fast[stream](obj)
            sent = self._time(event.pop("timestamp"))
        except ValidationError:
            pass
        if sent is None:
            try:
                event = adapter.validate_python(obj)
            except ValidationError as exc:
                raise _Reject(_format_errors(exc, self._aliases[stream])) from None
            # the validated dict becomes the lake record in place (cheaper than a copy)
            sent = self._utc(event.pop("timestamp"))
        if sent < _MIN_TIME:
            raise _Reject(f"timestamp: {sent.isoformat()} is before {_MIN_TIME.date()}")
        ts = sent
        if sent > now + self.limits.max_future:  # the device's clock runs ahead: kept, timed on arrival
            event["device_time"], event["clock_skew_s"] = sent, (sent - now).total_seconds()
            ts = now
        event["latitude"], event["longitude"] = event.pop("location", None) or (None, None)
        event["event_id"] = event.pop("id", None) or str(
            uuid.uuid5(_EVENT_NS, f"{stream}|{event['device_id']}|{sent.isoformat()}")
        )
        event["event_time"] = ts
        event["ingest_time"] = now
        extra = self._extra(stream, obj)
        if extra:
            try:
                event["extra"] = orjson.dumps(extra).decode()
            except TypeError as exc:  # a mapping handed in holding what JSON cannot
                raise _Reject(f"extra fields: {exc}") from None
        record: Record = event
        return record

    def _time(self, text: str) -> datetime | None:
        """The UTC time of a timestamp's text (None: not a valid one), parsed once per distinct text."""
        times = self._times
        if text in times:
            return times[text]
        try:
            sent: datetime | None = self._utc(self._timestamp.validate_python(text))
        except ValidationError:
            sent = None
        if len(times) >= TIMES_KEPT:
            times.clear()
        times[text] = sent
        return sent

    def _utc(self, sent: datetime) -> datetime:
        # a naive time in the zone: replace() keeps fold=0, so a repeated or skipped hour resolves one way
        return (sent.replace(tzinfo=self.naive_zone) if sent.tzinfo is None else sent).astimezone(UTC)

    def _extra(self, stream: str, obj: dict[str, Any]) -> dict[str, Any]:
        """What ``obj`` sent that no field took: unknown names, and an alias a higher-ranked name
        of its field outranked (unless both said the same; an invalid value is refused all the same)."""
        if self._canonical[stream].issuperset(obj):  # the usual case: canonical names only
            return {}
        unknown = obj.keys() - self._known[stream]
        outranked = self._outranked[stream]
        for alias in obj.keys() & outranked.keys():
            before, check = outranked[alias]
            winner = next((name for name in before if name in obj), None)
            if winner is None or obj[winner] == obj[alias]:
                continue
            try:
                check.validate_python(obj[alias])
            except ValidationError as exc:
                msg = exc.errors(include_url=False, include_input=False)[0]["msg"]
                raise _Reject(f"{alias}: {msg} (sent beside {winner}, which wins)") from None
            unknown.add(alias)
        return {key: obj[key] for key in obj if key in unknown} if unknown else {}

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
