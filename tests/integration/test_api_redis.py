"""The REST API tests, run against a real redis-server (GEO search included)."""

from __future__ import annotations

import pytest
import redis

from tests.unit.test_api import *  # noqa: F403 - the same tests, another store


@pytest.fixture
def speed_client(real_redis: redis.Redis) -> redis.Redis:
    return real_redis
