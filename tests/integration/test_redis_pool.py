"""The Redis client's connection pool (``pipeline.runtime.redis_client``) on a real redis-server:
callers beyond its size queue for a connection, and give up with a ``RedisError`` the API
answers 503, never ``MaxConnectionsError`` at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from pipeline.runtime import redis_client
from pipeline.settings import Settings
from tests.services import RedisServer


def client_with_pool(server: RedisServer, size: int, wait_s: float) -> redis.Redis:
    settings = Settings(_env_file=None, redis_url=server.url, redis_max_connections=size,
                        redis_pool_wait_seconds=wait_s)  # fmt: skip
    return redis_client(settings)


def test_a_caller_waits_for_a_connection_another_caller_gives_back(redis_server: RedisServer) -> None:
    client = client_with_pool(redis_server, 2, wait_s=30)
    pool = client.connection_pool
    busy = [pool.get_connection() for _ in range(2)]  # every connection in use
    got: list[Any] = []
    caller = threading.Thread(target=lambda: got.append(client.ping()))
    caller.start()
    pool.release(busy.pop())
    caller.join(timeout=30)
    assert got == [True]
    pool.release(busy.pop())
    client.close()


def test_a_caller_that_waits_in_vain_gets_a_connection_error(redis_server: RedisServer) -> None:
    client = client_with_pool(redis_server, 2, wait_s=0.1)
    pool = client.connection_pool
    busy = [pool.get_connection() for _ in range(2)]
    with pytest.raises(redis.ConnectionError, match="No connection available") as raised:
        client.ping()
    assert not isinstance(raised.value, redis.exceptions.MaxConnectionsError)
    for conn in busy:
        pool.release(conn)
    assert client.ping()  # and the pool serves again once connections come back
    client.close()
