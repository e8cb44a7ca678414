"""The alert log and the rule book on a real redis-server and on a Redis Cluster of three masters
(every script call in the ``{alerts}`` or ``{rules}`` slot)."""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster

from pipeline.rulebook import RuleBook, RuleBookError
from tests.city import ZONE
from tests.unit.test_alerts import check_log


def test_the_alert_log_on_a_real_server(real_redis: redis.Redis, prefix: str) -> None:
    check_log(real_redis, prefix)


def test_the_alert_log_on_a_redis_cluster(cluster_redis: RedisCluster, prefix: str) -> None:
    check_log(cluster_redis, prefix)


@pytest.mark.parametrize("target", ["redis", "redis-cluster"])
def test_the_rule_book_on_real_servers(target: str, prefix: str, request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue("real_redis" if target == "redis" else "cluster_redis")
    book = RuleBook(client, prefix)
    zone_id, v1 = book.add_zone(ZONE)
    rule_id, v2 = book.add_rule({"name": "in", "kind": "zone_enter", "zone": zone_id})
    with pytest.raises(RuleBookError, match="uses zone"):
        book.delete_zone(zone_id)
    assert book.delete_rule(rule_id) > v2 > v1
    book.delete_zone(zone_id)
    loaded = book.load()
    assert loaded.zones == {} and loaded.rules == {} and loaded.version == book.version() == v1 + 3
