"""The REST API tests, run against a real redis-server (GEO search included) and a Redis
Cluster of three masters."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster

from tests.integration.conftest import target_client
from tests.unit.test_api import *  # noqa: F403 - the same tests, another store


@pytest.fixture(params=["redis", "redis-cluster"])
def speed_client(request: pytest.FixtureRequest) -> redis.Redis | RedisCluster:
    return target_client(request, str(request.param))
