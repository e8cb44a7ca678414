"""``status``: is each service of a cluster alive and answering?"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from cluster.services import http_ok
from cluster.spark import master_json
from cluster.topology import ClusterState
from pipeline.exceptions import KafkaUnavailable
from pipeline.topics import admin_client, broker_count


@dataclass(frozen=True)
class Health:
    service: str
    ok: bool
    address: str
    detail: str


def kafka_health(state: ClusterState) -> Health:
    address = state.bootstrap_servers or ""
    try:
        brokers = broker_count(address, timeout=5)
        topics = [t for t in admin_client(address).list_topics(timeout=5).topics if not t.startswith("__")]
    except KafkaUnavailable as exc:
        return Health("kafka", False, address, str(exc))
    detail = f"{brokers}/{state.brokers} brokers, {len(topics)} topics"
    return Health("kafka", brokers == state.brokers, address, detail)


def spark_health(state: ClusterState) -> Health:
    address = f"{state.spark_master} (UI {state.spark_ui_url})"
    try:
        page = master_json(state.spark_ui_url or "")
    except (OSError, ValueError) as exc:
        return Health("spark", False, address, f"master not answering: {exc}")
    alive = sum(w.get("state") == "ALIVE" for w in page.get("workers", []))
    ok = page.get("status") == "ALIVE" and alive == state.workers
    return Health("spark", ok, address, f"master {page.get('status')}, {alive}/{state.workers} workers ALIVE")


def redis_health(state: ClusterState) -> Health:
    url = state.redis_url or ""
    if "+cluster://" in url:
        return redis_cluster_health(url)
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return Health("redis", bool(client.ping()), state.redis_url or "", "PING answered")
    except redis.RedisError as exc:
        return Health("redis", False, state.redis_url or "", f"PING failed: {exc}")
    finally:
        client.close()


def redis_cluster_health(url: str) -> Health:
    """The node the URL names says the cluster is ok (every slot served)."""
    client = redis.Redis.from_url(url.replace("+cluster://", "://", 1), socket_connect_timeout=2, socket_timeout=2)
    try:
        info = client.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        ok = "cluster_state:ok" in text
        return Health("redis", ok, url, "cluster_state:ok" if ok else "cluster not ok")
    except redis.RedisError as exc:
        return Health("redis", False, url, f"CLUSTER INFO failed: {exc}")
    finally:
        client.close()


def s3_health(state: ClusterState) -> Health:
    ok = http_ok(f"{state.s3_endpoint_url}/{state.s3_bucket}", method="HEAD")
    detail = f"bucket {state.s3_bucket} " + ("exists" if ok else "not reachable")
    return Health("s3", ok, state.s3_endpoint_url or "", detail)


def check(state: ClusterState) -> list[Health]:
    """One line per service the cluster runs, plus one per recorded process that is gone."""
    checks = [
        (state.bootstrap_servers, kafka_health),
        (state.spark_master, spark_health),
        (state.redis_url, redis_health),
        (state.s3_endpoint_url, s3_health),
    ]
    report = [probe(state) for present, probe in checks if present]
    for name, record in state.processes.items():
        if not record.running():
            report.append(Health(name, False, f"pid {record.pid}", "process is gone; see " + state.logs.get(name, "")))
    return report
