"""Fixtures of the integration tests: a Redis Cluster beside the single redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from tests.services import RedisClusterServer

# Where the speed layer's semantic tests run: one redis-server, the same split into shards
# (the layout a cluster uses, on one server), and a Redis Cluster of three masters.
TARGETS = ("redis", "redis-3-shards", "redis-cluster")


@pytest.fixture(scope="session")
def redis_cluster_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServer]:
    """A Redis Cluster of three native masters on free loopback ports, stopped by PID afterwards."""
    with RedisClusterServer(tmp_path_factory.mktemp("redis-cluster")) as server:
        yield server


@pytest.fixture(scope="session")
def cluster_redis(redis_cluster_server: RedisClusterServer) -> Iterator[RedisCluster]:
    """A cluster client (it finds every master from one), shared: tests use their own prefixes."""
    client = RedisCluster(host="127.0.0.1", port=redis_cluster_server.nodes[0].port)
    yield client
    client.close()


def target_client(request: pytest.FixtureRequest, target: str) -> redis.Redis | RedisCluster:
    """The client of a ``TARGETS`` entry."""
    fixture = "cluster_redis" if target == "redis-cluster" else "real_redis"
    client: redis.Redis | RedisCluster = request.getfixturevalue(fixture)
    return client
