"""The incident tests (assignment, notes, history, the resolved list) against a real redis-server
and a Redis Cluster of three masters: the speed-layer script's history lines and their expiry on
real servers, an incident's lines in its own cluster slot."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster

from tests.integration.conftest import target_client
from tests.unit.test_incident_actions import *  # noqa: F403 - the same tests, another store


@pytest.fixture(params=["redis", "redis-cluster"])
def speed_client(request: pytest.FixtureRequest) -> redis.Redis | RedisCluster:
    return target_client(request, str(request.param))
