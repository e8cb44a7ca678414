"""The speed-layer semantics tests, run against a real redis-server (in one shard and in three)
and a Redis Cluster of three masters."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster

from tests.integration.conftest import TARGETS, target_client
from tests.unit.test_speed_layer import *  # noqa: F403 - the same tests, another store


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(request: pytest.FixtureRequest, target: str) -> redis.Redis | RedisCluster:
    return target_client(request, target)


@pytest.fixture
def shards(target: str) -> int | None:
    return 3 if target == "redis-3-shards" else None
