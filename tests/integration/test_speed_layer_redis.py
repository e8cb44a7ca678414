"""The speed-layer semantics tests, run against a real redis-server."""

from __future__ import annotations

import pytest
import redis

from tests.unit.test_speed_layer import *  # noqa: F403 - the same tests, another store


@pytest.fixture
def client(real_redis: redis.Redis) -> redis.Redis:
    return real_redis
