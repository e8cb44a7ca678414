"""The poison corpus of ids (tests/unit/test_poison_ids.py) against a real redis-server."""

from __future__ import annotations

import pytest
import redis

from tests.unit.test_poison_ids import *  # noqa: F403 - the same tests, another store


@pytest.fixture
def speed_client(real_redis: redis.Redis) -> redis.Redis:
    return real_redis
