"""Settings: environment variables with the ``SMARTCITY_`` prefix (and a ``.env`` file).

Read once at an entry point and passed down; no other module reads the environment.
Every setting is documented in ``.env.example``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.schemas import STREAMS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTCITY_", env_file=".env", extra="ignore")

    # Where state and history live. Unset -> embedded store / local folder.
    redis_url: SecretStr | None = Field(None, description="redis://[:password@]host:port/db; unset = embedded")
    redis_prefix: str = Field("sc:", description="prefix of every speed-layer key")
    redis_max_connections: int = Field(100, ge=1, description="Redis connections per process, at most")
    redis_pool_wait_seconds: float = Field(
        3.0, gt=0, description="how long a request waits for a free Redis connection before a 503"
    )
    lake_uri: str = Field("./data/lake", description="local folder or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(None, description="S3 API endpoint, e.g. http://127.0.0.1:9000")
    s3_region: str | None = None
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None

    # Topics (one per stream); the defaults are the names other simulators use.
    topic_vehicle_data: str = "vehicle_data"
    topic_gps_data: str = "gps_data"
    topic_traffic_data: str = "traffic_data"
    topic_weather_data: str = "weather_data"
    topic_emergency_data: str = "emergency_data"

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
    max_future_seconds: float = Field(300.0, ge=0, description="how far ahead of now a timestamp may be")
    active_window_seconds: float = Field(120.0, gt=0, description="vehicles unseen this long leave the map")
    track_length: int = Field(30, ge=0, description="recent positions kept per vehicle")

    # The city simulation.
    city: str = "berlin"
    vehicles: int = Field(1000, ge=0)
    traffic_sensors: int = Field(40, ge=0)
    weather_stations: int = Field(4, ge=0)
    incidents_per_hour: float = Field(6.0, ge=0)
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

    log_level: str = "INFO"

    def topics(self) -> dict[str, str]:
        """Stream name -> topic name."""
        return {stream: getattr(self, f"topic_{stream}") for stream in STREAMS}

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None
