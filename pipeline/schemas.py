"""The event contracts: one schema per stream, the single source of truth.

Everything else is derived from the ``Field`` lists below: the validator
(``pipeline.validation``), the Arrow/Parquet schema of the lake (``arrow_schema``)
and the Spark schema (``spark_schema``). Add a field here and every layer gets it.

The wire format is the flat JSON of the public smart-city Kafka simulators:
``id``, ``device_id``, ``timestamp`` (ISO-8601 or epoch seconds/milliseconds; no zone means
the configured naive zone), ``location`` as ``[latitude, longitude]`` (optional for
``LOCATION_OPTIONAL`` streams) plus per-stream fields, in snake_case or camelCase: each
``Field`` declares the other names it is sent under (``aliases``). Our own producers send
more; those extra fields are optional so that any simulator's events validate unchanged,
and fields no schema names are kept as JSON in the ``extra`` column.
Units follow FIWARE Smart Data Models where they have a name for the field;
speeds are km/h.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover - pyspark is only needed by the Spark job
    from pyspark.sql.types import StructType

Kind = Literal["str", "float", "int", "bool"]

STREAMS: tuple[str, ...] = (
    "vehicle_data",
    "gps_data",
    "traffic_data",
    "weather_data",
    "emergency_data",
)

VEHICLE_TYPES = ("car", "bus", "taxi", "truck", "ambulance", "police", "fire")
EMERGENCY_VEHICLE_TYPES = ("ambulance", "police", "fire")
CONGESTION_LEVELS = ("free", "light", "moderate", "heavy", "severe")
SEVERITIES = ("low", "medium", "high", "critical")
INCIDENT_STATUSES = ("Active", "Resolved")

MAX_SPEED_KMH = 400.0
DEFAULT_MAX_STRING = 256


@dataclass(frozen=True)
class Field:
    """One typed, optionally bounded field of an event."""

    name: str
    kind: Kind
    required: bool = False
    ge: float | None = None
    le: float | None = None
    max_length: int = DEFAULT_MAX_STRING
    choices: tuple[str, ...] | None = None
    unit: str | None = None
    doc: str = ""
    identifier: bool = False  # an id: must not be blank (empty or only whitespace); any other text is fine
    # other names producers send it under (the other case family, other simulators' names): the validator
    # accepts each (the canonical ``name`` wins when both are sent), the lake stores ``name`` only
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every name the field is accepted under, the canonical one first."""
        return (self.name, *self.aliases)


# Fields every stream carries. ``timestamp`` and ``location`` are special-cased by the
# validator (ISO string -> UTC datetime, [lat, lon] -> two double columns).
COMMON: tuple[Field, ...] = (
    Field("id", "str", identifier=True, doc="event id; derived from the payload when a producer omits it"),
    Field(
        "device_id",
        "str",
        required=True,
        max_length=128,
        identifier=True,
        doc="sending device (Kafka key)",
        aliases=("deviceId",),
    ),
)

SCHEMAS: dict[str, tuple[Field, ...]] = {
    "vehicle_data": (
        Field("speed", "float", required=True, ge=0, le=MAX_SPEED_KMH, unit="km/h"),
        Field("direction", "str", max_length=32, doc="compass direction, e.g. North-East"),
        Field("make", "str"),
        Field("model", "str"),
        Field("year", "int", ge=1900, le=2100),
        Field("fuel_type", "str", max_length=32, aliases=("fuelType",)),
        Field("vehicle_type", "str", choices=VEHICLE_TYPES, aliases=("vehicleType",)),
        Field("heading", "float", ge=0, le=360, unit="deg", doc="FIWARE Vehicle.heading"),
        Field("road_segment", "str", doc="road segment (network edge) id", aliases=("roadSegment",)),
        Field("road_name", "str", aliases=("roadName",)),
        Field("status", "str", max_length=32, doc="e.g. patrolling, responding, on_scene"),
        Field("incident_id", "str", doc="incident an emergency vehicle responds to", aliases=("incidentId",)),
    ),
    "gps_data": (
        Field("speed", "float", required=True, ge=0, le=MAX_SPEED_KMH, unit="km/h"),
        Field("direction", "str", max_length=32),
        Field("vehicle_type", "str", max_length=32, aliases=("vehicleType",)),
        Field("heading", "float", ge=0, le=360, unit="deg"),
        Field("accuracy", "float", ge=0, le=10_000, unit="m"),
        Field("road_segment", "str", aliases=("roadSegment",)),
    ),
    "traffic_data": (
        Field("camera_id", "str", required=True, identifier=True, aliases=("cameraId",)),
        Field(
            "speed",
            "float",
            ge=0,
            le=MAX_SPEED_KMH,
            unit="km/h",
            doc="average speed of vehicles on the segment (FIWARE averageVehicleSpeed)",
        ),
        Field("snapshot", "str", max_length=4096, doc="image reference or base64 thumbnail"),
        Field("segment_id", "str", doc="road segment (network edge) observed", aliases=("segmentId",)),
        Field("road_name", "str", aliases=("roadName",)),
        Field("vehicle_count", "int", ge=0, le=100_000, doc="vehicles on the segment now", aliases=("vehicleCount",)),
        Field("intensity", "int", ge=0, le=1_000_000, unit="vehicles/h"),
        Field("occupancy", "float", ge=0, le=1, doc="fraction of the segment occupied"),
        Field("congestion_level", "str", choices=CONGESTION_LEVELS, aliases=("congestionLevel",)),
        Field("speed_limit", "float", ge=0, le=MAX_SPEED_KMH, unit="km/h", aliases=("speedLimit",)),
    ),
    "weather_data": (
        Field("temperature", "float", required=True, ge=-90, le=70, unit="Cel"),
        Field("weather_condition", "str", max_length=32, aliases=("weatherCondition",)),
        Field("humidity", "float", ge=0, le=100, unit="%"),
        Field("wind_speed", "float", ge=0, le=500, unit="km/h", aliases=("windSpeed",)),
        Field("precipitation", "float", ge=0, le=500, unit="mm/h"),
        Field("airQualityIndex", "float", ge=0, le=1000, doc="AQI (US EPA scale)", aliases=("air_quality_index",)),
        Field("visibility", "float", ge=0, le=100_000, unit="m"),
        Field("pm25", "float", ge=0, le=5000, unit="ug/m3"),
        Field("no2", "float", ge=0, le=5000, unit="ug/m3"),
    ),
    "emergency_data": (
        Field("incidentId", "str", required=True, identifier=True, aliases=("incident_id",)),
        Field("incident_type", "str", required=True, max_length=64, aliases=("incidentType", "type")),
        Field("status", "str", required=True, choices=INCIDENT_STATUSES),
        Field("description", "str", max_length=2048),
        Field("severity", "str", choices=SEVERITIES, doc="FIWARE Alert.severity"),
        Field("road_segment", "str", aliases=("roadSegment",)),
        Field("road_name", "str", aliases=("roadName",)),
        Field("responders", "int", ge=0, le=1000, doc="emergency vehicles dispatched"),
    ),
}

# Streams whose events may come without a location: a GPS fix without a position still updates
# a vehicle's speed and heading (public simulators' clones send such events).
LOCATION_OPTIONAL: frozenset[str] = frozenset({"gps_data"})

# Columns every lake table starts with, in this order.
BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("event_id", pa.string()),
    ("device_id", pa.string()),
    ("event_time", pa.timestamp("us", tz="UTC")),
    ("ingest_time", pa.timestamp("us", tz="UTC")),
    ("latitude", pa.float64()),
    ("longitude", pa.float64()),
)

# Columns every lake table ends with, after its stream's fields; null unless the event needed them.
TRAILING_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("device_time", pa.timestamp("us", tz="UTC")),  # the device's own time, when it ran ahead and was replaced
    ("clock_skew_s", pa.float64()),  # how far ahead it ran (device time - receive time), seconds
    ("extra", pa.string()),  # the fields no schema names, as one JSON object
)

_ARROW_TYPES: dict[Kind, pa.DataType] = {
    "str": pa.string(),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
}

DEADLETTER_SCHEMA = pa.schema(
    [
        ("stream", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),
        ("source", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
    ]
)


# The lake's ``alerts`` table: one row per alert raised (zones, rules, new serious incidents,
# advisories), partitioned by the event time of what raised it, like the streams' tables.
ALERTS = "alerts"
ALERTS_SCHEMA = pa.schema(
    [
        ("alert_id", pa.string()),
        ("kind", pa.string()),
        ("severity", pa.string()),
        ("message", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("entity", pa.string()),
        ("rule", pa.string()),
        ("event_id", pa.string()),  # the event that raised it
        ("latitude", pa.float64()),
        ("longitude", pa.float64()),
        ("raised_at", pa.timestamp("us", tz="UTC")),  # when the processor raised it (ingest time)
    ]
)


def fields(stream: str) -> tuple[Field, ...]:
    """The stream-specific fields of ``stream`` (raises KeyError for unknown streams)."""
    return SCHEMAS[stream]


def columns(stream: str) -> list[str]:
    """Lake column names of ``stream``, in schema order."""
    return [name for name, _ in BASE_COLUMNS] + [f.name for f in SCHEMAS[stream]] + [n for n, _ in TRAILING_COLUMNS]


def arrow_schema(stream: str) -> pa.Schema:
    """The Parquet/Arrow schema of ``stream``'s lake table (or of the ``alerts`` table)."""
    if stream == ALERTS:
        return ALERTS_SCHEMA
    nullable = {"ingest_time"} | ({"latitude", "longitude"} if stream in LOCATION_OPTIONAL else set())
    base = [pa.field(n, t, nullable=n in nullable) for n, t in BASE_COLUMNS]
    own = [pa.field(f.name, _ARROW_TYPES[f.kind], nullable=not f.required) for f in SCHEMAS[stream]]
    trailing = [pa.field(n, t) for n, t in TRAILING_COLUMNS]
    return pa.schema(base + own + trailing)


def spark_schema(stream: str) -> StructType:
    """The Spark schema of ``stream``'s wire format (JSON as producers send it), every alias a
    column of its own; ``timestamp`` is text (Spark reads a JSON number into it as its digits).
    The Spark job itself validates with ``pipeline.validation``; this is for other Spark readers."""
    from pyspark.sql import types as T

    spark_types: dict[Kind, Any] = {
        "str": T.StringType(),
        "float": T.DoubleType(),
        "int": T.LongType(),
        "bool": T.BooleanType(),
    }
    wire = [T.StructField(name, spark_types[f.kind], True) for f in COMMON for name in f.names]
    wire.append(T.StructField("timestamp", T.StringType(), True))
    wire.append(T.StructField("location", T.ArrayType(T.DoubleType()), True))
    wire += [T.StructField(name, spark_types[f.kind], True) for f in SCHEMAS[stream] for name in f.names]
    return T.StructType(wire)


def describe() -> dict[str, Any]:
    """A JSON-friendly description of every stream's contract (docs, OpenAPI)."""
    out: dict[str, Any] = {}
    for stream, stream_fields in SCHEMAS.items():
        items = [
            {"name": "timestamp", "type": "string | number", "format": "date-time or epoch s/ms", "required": True},
            {"name": "location", "type": "[latitude, longitude]", "required": stream not in LOCATION_OPTIONAL},
        ]
        for f in COMMON + stream_fields:
            item: dict[str, Any] = {"name": f.name, "type": f.kind, "required": f.required}
            for key in ("ge", "le", "choices", "unit", "doc", "aliases"):
                value = getattr(f, key)
                if value not in (None, "", ()):
                    item[key] = value
            items.append(item)
        out[stream] = items
    return out
