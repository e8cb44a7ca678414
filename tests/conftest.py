"""Shared fixtures. Real services start only when a test asks for them (session-scoped)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.store import Store
from cluster.topology import ClusterState
from pipeline.speed_layer import SpeedLayer
from tests.city import api_settings, seed
from tests.services import RedisServer, S3Server, native_cluster


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port, stopped by its PID afterwards."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def real_redis(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=redis_server.port)
    yield client
    client.close()


@pytest.fixture
def fake_redis() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def prefix() -> str:
    """A key prefix of this test's own, so tests sharing one Redis never collide."""
    return f"t{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3 API (moto_server) on a free loopback port, stopped by its PID afterwards."""
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterState]:
    """ONE native cluster for the whole session: Kafka (1 broker, the five stream topics),
    a Spark master with 2 workers, Redis and S3 (bucket created) on loopback, started with the
    cluster CLI (``scripts/cluster up``) in a tmp dir and stopped by PID at the end.

    Attributes: ``bootstrap_servers``, ``spark_master``, ``spark_ui_url``, ``redis_url``,
    ``s3_endpoint_url``, ``s3_bucket``, ``s3_region``, ``s3_access_key_id``,
    ``s3_secret_access_key``, ``lake_uri``, ``jars`` (Spark's extra jars), ``jars_option``
    (the ``--jars`` value), ``env()`` (the SMARTCITY_* settings), ``processes``, ``logs``.
    Tests share it: give each test its own topics, key prefix and lake prefix.
    """
    with native_cluster(tmp_path_factory.mktemp("cluster")) as state:
        yield state


@pytest.fixture
def speed_client() -> redis.Redis:
    """The store behind the API tests; tests/integration overrides it with a real Redis."""
    return fakeredis.FakeRedis()


@pytest.fixture
def app(speed_client: redis.Redis, prefix: str, tmp_path: Path) -> Flask:
    """The server over the small seeded city (tests/city.py), with known tokens and users."""
    speed = SpeedLayer(speed_client, prefix)
    seed(speed)
    return create_app(api_settings(tmp_path), store=Store(speed))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that presents the viewer token."""
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = "Bearer viewer-token"
    return c
