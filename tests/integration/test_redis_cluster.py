"""The speed layer on a Redis Cluster of three masters: started by the cluster CLI, reached from
``SMARTCITY_REDIS_URL``, its shards spread evenly over the masters, every script call in one
slot, and the change stream of every shard followed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from app.store import Store
from pipeline import runtime
from pipeline.changes import nothing_changed
from pipeline.exceptions import ConfigError
from pipeline.settings import Settings
from pipeline.speed_layer import CLUSTER_SHARDS, SpeedLayer, SpeedLayerConfig
from pipeline.validation import Record, Validator
from tests.services import free_port, native_cluster

T0 = datetime.now(UTC).replace(microsecond=0)


def vehicle(device: str, seconds: float = 0) -> tuple[str, Record]:
    event = {"timestamp": (T0 + timedelta(seconds=seconds)).isoformat(), "device_id": device,
             "location": [52.44, 13.52], "speed": 30.0, "vehicle_type": "bus"}  # fmt: skip
    out = Validator().validate("vehicle_data", event, now=T0 + timedelta(minutes=1))
    assert isinstance(out, dict), out
    return "vehicle_data", out


def test_the_cluster_cli_starts_a_redis_cluster_the_product_reaches_by_its_url(tmp_path: Path, prefix: str) -> None:
    with native_cluster(tmp_path / "cluster", "--only", "redis", "--redis-cluster") as state:
        assert state.redis_url is not None and state.redis_url.startswith("redis+cluster://")
        assert sorted(state.processes) == ["redis-cluster-1", "redis-cluster-2", "redis-cluster-3"]
        settings = Settings(_env_file=None, redis_url=state.redis_url, redis_prefix=prefix)
        client = runtime.redis_client(settings)
        assert isinstance(client, RedisCluster) and len(client.get_primaries()) == 3
        speed = runtime.speed_layer(settings, client)
        assert speed.shards == CLUSTER_SHARDS
        speed.write([vehicle(f"bus-{i}") for i in range(40)])
        assert speed.summary()["vehicles_by_type"]["bus"] == 40
        client.close()


def test_an_unreachable_cluster_is_a_configuration_error() -> None:
    settings = Settings(_env_file=None, redis_url=f"redis+cluster://127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError, match="Redis Cluster"):
        runtime.redis_client(settings)


def test_the_shards_spread_evenly_over_the_masters(cluster_redis: RedisCluster, prefix: str) -> None:
    speed = SpeedLayer(cluster_redis, prefix)
    masters = [cluster_redis.get_node_from_key(keys.summary).name for keys in speed.shard_keys]
    assert sorted(masters.count(m) for m in set(masters)) == [4, 4, 4]
    # every key of one shard is in that shard's slot: one script call touches one slot
    slots = {cluster_redis.keyslot(k) for k in (speed.keys.v_geo, speed.keys.changes, speed.keys.entity("v", "x"))}
    assert len(slots) == 1


def test_the_follower_reads_every_shard_and_waits_for_the_whole_write(cluster_redis: RedisCluster, prefix: str) -> None:
    speed = SpeedLayer(cluster_redis, prefix, SpeedLayerConfig(chunk=5))
    follower = Store(speed).follower()
    follower.start()
    ids = {f"bus-{i}" for i in range(60)}  # several calls on every master
    speed.write([vehicle(vid) for vid in sorted(ids)])
    changed = nothing_changed()
    deadline = time.monotonic() + 30
    while changed["v"] != ids and time.monotonic() < deadline:
        follower.read(changed, 0.2)
    assert changed["v"] == ids
    assert follower.hold(time.monotonic()) == 0  # the write's last call was read: nothing to wait for
    assert not follower.read(nothing_changed(), 0.1)  # and nothing is read twice
