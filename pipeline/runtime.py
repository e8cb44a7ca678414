"""Builds the pipeline's external resources from settings: the store, the lake, the processor."""

from __future__ import annotations

import gc
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import redis
from redis.cluster import RedisCluster

from pipeline.accounting import Accounting
from pipeline.alerts import AlertLog
from pipeline.bus import InProcessBus
from pipeline.embedded_redis import EmbeddedRedis, start_server
from pipeline.exceptions import ConfigError
from pipeline.lake import LakeWriter, S3Options, open_lake
from pipeline.processor import BatchProcessor, Processor, RawEvent
from pipeline.rulebook import RuleBook
from pipeline.rules import RuleEngine
from pipeline.settings import Settings
from pipeline.speed_layer import SpeedLayer, SpeedLayerConfig
from pipeline.validation import Limits, Validator

log = logging.getLogger(__name__)


def tune_interpreter() -> None:
    """Collect garbage less often: a streaming process holds ~100k live rows between lake
    flushes, and CPython's default thresholds rescan them thousands of times a second
    (measured: +15% events/s into Redis with these thresholds).

    And hand the GIL over every 1 ms instead of 5: the speed-layer writer waits on Redis while
    the processor validates, and when Redis answers it waits for the GIL before sending the next
    call, leaving Redis idle meanwhile (measured with ``benchmarks.pipeline``'s batches, on 2
    cores: event -> speed layer p99 at 10,000 events/s 22-27 ms against 31-42, and more events/s)."""
    gc.set_threshold(50_000, 50, 100)
    sys.setswitchinterval(0.001)


def settle_heap() -> None:
    """Once a long-running process has loaded what it keeps (the console's Dash app, Plotly,
    pandas, the road network: ~165k objects), move it out of the collector's sight: a full
    collection rescanned all of it, stalling every request for 100-200 ms (measured on the
    2-core build machine); after ``gc.freeze`` it takes well under a millisecond."""
    tune_interpreter()
    gc.collect()
    gc.freeze()


CLUSTER_SCHEME = "redis+cluster://"  # SMARTCITY_REDIS_URL of a Redis Cluster: any one node of it


def redis_client(settings: Settings) -> redis.Redis | RedisCluster:
    """A client for ``SMARTCITY_REDIS_URL``, or the in-process store (fakeredis) when unset:
    what a console alone and the unit tests use; the demo runs a real server (``store_client``).
    A ``redis+cluster://host:port`` URL gives a Redis Cluster client (``cluster_client``).

    Its connections are a bounded pool that callers queue for: a gevent worker serves up to
    1,000 requests at once, and redis-py's default pool (100, then ``MaxConnectionsError`` at
    once) failed the 101st. A caller that waits ``redis_pool_wait_seconds`` in vain gets
    ``redis.ConnectionError`` ("No connection available."), which the API answers with 503.
    """
    url = settings.secret("redis_url")
    if not url:
        import fakeredis  # the embedded store: Redis-compatible, Lua and GEO included

        return fakeredis.FakeRedis()
    client: redis.Redis | RedisCluster
    if url.startswith(CLUSTER_SCHEME):
        client = cluster_client(settings, url)
    else:
        client = redis.Redis.from_pool(connection_pool(settings, url))  # closing the client closes the pool
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ConfigError(f"cannot reach Redis at {describe_url(url)}: {exc}") from exc
    return client


def store_client(settings: Settings) -> tuple[redis.Redis | RedisCluster, EmbeddedRedis | None]:
    """The demo's store: ``SMARTCITY_REDIS_URL``'s Redis when set; else the embedded server,
    a child process the caller stops (``SMARTCITY_EMBEDDED_STORE=server``, the default); else,
    or when that server cannot start here (said in the log), the in-process fakeredis store."""
    if settings.redis_url is not None or settings.embedded_store == "fakeredis":
        return redis_client(settings), None
    server = start_server(settings.embedded_store_binary, settings.embedded_store_persist_dir)
    if server is None:
        return redis_client(settings), None
    return redis.Redis.from_pool(connection_pool(settings, server.url)), server


def connection_pool(settings: Settings, url: str) -> redis.BlockingConnectionPool:
    """Connections to ``url``: at most ``redis_max_connections``, waited for at most
    ``redis_pool_wait_seconds``."""
    return redis.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis_max_connections,
        timeout=settings.redis_pool_wait_seconds,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


def cluster_client(settings: Settings, url: str) -> RedisCluster:
    """A Redis Cluster client found from the node ``url`` names (``redis+cluster://``, or
    ``rediss+cluster://`` for TLS): a bounded pool per node, as ``connection_pool``."""
    try:
        return RedisCluster.from_url(
            url.replace("+cluster://", "://", 1),
            connection_pool_class=redis.BlockingConnectionPool,
            max_connections=settings.redis_max_connections,
            timeout=settings.redis_pool_wait_seconds,
            socket_timeout=10,
            socket_connect_timeout=5,
        )
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:  # it reads the slots at once
        raise ConfigError(f"cannot reach the Redis Cluster at {describe_url(url)}: {exc}") from exc


def describe_url(url: str) -> str:
    """A URL with any password removed, safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def s3_options(settings: Settings) -> S3Options:
    return S3Options(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key=settings.secret("s3_access_key_id"),
        secret_key=settings.secret("s3_secret_access_key"),
    )


def speed_layer(settings: Settings, client: redis.Redis | RedisCluster) -> SpeedLayer:
    config = SpeedLayerConfig(active_s=settings.active_window_seconds, track_len=settings.track_length)
    return SpeedLayer(client, settings.redis_prefix, config, settings.redis_shards)


def lake_writer(settings: Settings) -> LakeWriter:
    filesystem, root = open_lake(settings.lake_uri, s3_options(settings))
    return LakeWriter(filesystem, root, settings.lake_flush_rows, settings.lake_flush_seconds)


def validator(settings: Settings) -> Validator:
    return Validator(
        Limits(
            max_payload_bytes=settings.max_payload_bytes,
            max_future=timedelta(seconds=settings.max_future_seconds),
        ),
        naive_zone=ZoneInfo(settings.naive_timezone),
    )


def rule_engine(settings: Settings, client: redis.Redis | RedisCluster) -> RuleEngine | None:
    """The zones and alert rules of the city, evaluated in the stream (None: turned off)."""
    if not settings.rules_enabled:
        return None
    book = RuleBook(client, settings.redis_prefix)
    return RuleEngine(book, AlertLog(client, settings.alerts_prefix), settings.rules_reload_seconds,
                      active_s=settings.active_window_seconds)  # fmt: skip


def batch_processor(
    settings: Settings, client: redis.Redis | RedisCluster, accounting: Accounting | None = None
) -> BatchProcessor:
    return BatchProcessor(speed_layer(settings, client), lake_writer(settings), validator(settings), accounting,
                          rules=rule_engine(settings, client))  # fmt: skip


def embedded(
    settings: Settings, client: redis.Redis | RedisCluster, extra_topics: Sequence[str] = ()
) -> tuple[InProcessBus, Processor]:
    """The embedded pipeline: an in-process bus and a processor thread reading it. The bus has
    every topic a stream reads, so a producer naming a simulator's topic is read too, and
    ``extra_topics``, which no stream owns (e.g. MQTT messages naming no stream): their events
    are dead-lettered as of an unknown stream, and counted."""
    streams = settings.topic_streams()
    bus = InProcessBus([*streams, *extra_topics], capacity=settings.bus_capacity)
    processor = Processor(
        bus,
        batch_processor(settings, client),
        topic_streams=streams,
        max_batch=settings.max_batch,
        backlog_bytes=settings.speed_layer_backlog_mb << 20,
    )
    return bus, processor


class DirectIngest:
    """Processes submitted events at once (validate -> speed layer + lake, flushed).

    For a server that runs without the embedded bus, e.g. the console alone in front of
    a real Redis and lake: each call is one micro-batch, so each call writes its own files.
    """

    def __init__(self, settings: Settings, speed: SpeedLayer) -> None:
        self.batch = BatchProcessor(
            speed, lake_writer(settings), validator(settings), rules=rule_engine(settings, speed.client)
        )
        self.streams = settings.topic_streams()
        self._lock = threading.Lock()

    def __call__(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        stream = self.streams.get(topic, topic)
        with self._lock:  # one writer at a time: the lake writer is not thread-safe
            self.batch.process([RawEvent(stream, value, "http") for _, value in items])
            self.batch.flush_lake()


def bus_ingest(
    bus: InProcessBus, source: str, timeout: float = 5.0
) -> Callable[[str, Sequence[tuple[bytes | None, bytes]]], None]:
    """Events submitted by ``source`` (e.g. "http") onto the embedded bus (the processor thread
    does the rest; a dead letter names the source)."""

    def submit(topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        bus.produce_many(topic, items, timeout, source)

    return submit
