"""Overload and a lost Redis under the production server (gunicorn, one gevent worker): a
request that cannot be served now is answered 503 with ``Retry-After``, never 500."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from pipeline.schemas import VEHICLE_TYPES
from pipeline.speed_layer import SpeedLayer
from tests.city import rec, seed
from tests.services import Gunicorn, RedisServer, free_port

CONCURRENT = 1000  # as many as the worker accepts (gunicorn_conf.worker_connections)
VEHICLES = 3000
# Redis-backed reads; vehicle lists (the map's request) most of all
READS = [
    *["/api/vehicles/locations"] * 5,
    "/api/vehicles/locations?type=bus&limit=500",
    "/api/vehicles/locations?bbox=13.3,52.4,13.5,52.6",
    "/api/vehicles/v-17",
    "/api/emergency/incidents?status=all",
    "/api/traffic/conditions",
    "/api/weather/current",
    "/api/analytics/summary",
]
ROUTES = sorted(set(READS))


class ServerUnderTest(Gunicorn):
    """The production server, with a Redis error answered as the API will answer it
    (tests/integration/redis_errors_app.py: a stand-in until app/api/errors.py has it)."""

    def command(self) -> list[str]:
        return [*super().command()[:-1], "tests.integration.redis_errors_app:create_app()"]


@dataclass
class Answer:
    status: int  # 0: no answer (the connection failed)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def overloaded(self) -> bool:
        """A 503 a client can act on: JSON saying why, and when to come back."""
        if self.status != 503 or not self.headers.get("retry-after", "").isdigit():
            return False
        return bool(json.loads(self.body)["error"]["message"])


async def fetch(port: int, path: str, token: str) -> Answer:
    """One GET on a connection of its own, read to the end."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
        writer.write(f"{request}\r\n".encode())
        await writer.drain()
        raw = await reader.read()
        writer.close()
    except OSError:
        return Answer(0)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return Answer(int(status_line.split()[1]), headers, body)


def fire(port: int, paths: list[str], token: str = "vt") -> list[Answer]:
    """All ``paths`` requested at once, each on its own connection."""

    async def all_at_once() -> list[Answer]:
        return await asyncio.wait_for(asyncio.gather(*(fetch(port, p, token) for p in paths)), timeout=300)

    return asyncio.run(all_at_once())


def seed_fleet(client: redis.Redis, prefix: str) -> None:
    speed = SpeedLayer(client, prefix)
    seed(speed)  # traffic, weather, incidents
    speed.write(
        [
            rec("vehicle_data", 1, device_id=f"v-{i}", location=[52.40 + (i % 97) * 0.002, 13.30 + (i % 89) * 0.003],
                speed=float(i % 60), vehicle_type=VEHICLE_TYPES[i % len(VEHICLE_TYPES)])
            for i in range(VEHICLES)
        ]
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str) -> dict[str, str]:
    env = {"SMARTCITY_REDIS_PREFIX": prefix, "SMARTCITY_API_TOKENS": "viewer:vt",
           "SMARTCITY_LAKE_URI": str(tmp_path / "lake"),
           "SMARTCITY_FLEET_CACHE_SECONDS": "0"}  # fmt: skip  # every request reads Redis
    for key, value in env.items():  # the server process inherits them
        monkeypatch.setenv(key, value)
    return env


@pytest.mark.parametrize("pool", [None, 2], ids=["default-pool", "pool-of-2"])
def test_1000_concurrent_reads_are_answered_200_or_503_never_500(
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    real_redis: redis.Redis,
    prefix: str,
    pool: int | None,
) -> None:
    monkeypatch.setenv("SMARTCITY_REDIS_URL", redis_server.url)
    if pool is not None:  # far fewer connections than requests: most must wait, some in vain
        monkeypatch.setenv("SMARTCITY_REDIS_MAX_CONNECTIONS", str(pool))
    seed_fleet(real_redis, prefix)
    paths = [READS[i % len(READS)] for i in range(CONCURRENT)]
    with ServerUnderTest(tmp_path, free_port(), None, "--workers", "1", "--worker-connections", str(CONCURRENT)) as srv:
        answers = fire(srv.port, paths)
        counts = {status: sum(a.status == status for a in answers) for status in sorted({a.status for a in answers})}
        print(f"{CONCURRENT} concurrent GETs, pool {pool or 'default'}: {counts}")  # the figure, with -s
        assert counts.get(500, 0) == 0 and counts.get(0, 0) == 0
        assert set(counts) <= {200, 503}
        assert all(a.overloaded() for a in answers if a.status == 503)
        fleet = [json.loads(a.body) for a, p in zip(answers, paths, strict=True) if a.status == 200 and p == READS[0]]
        assert fleet and all(body["count"] == 1000 for body in fleet)  # served in full (the default limit)
        assert fire(srv.port, ["/api/vehicles/locations"])[0].status == 200  # and the server goes on
    assert "unhandled error" not in srv.log_path.read_text()


def test_without_redis_every_read_answers_503_and_recovers_when_redis_is_back(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    own = RedisServer(tmp_path / "redis")  # this test's own, to stop and start again
    monkeypatch.setenv("SMARTCITY_REDIS_URL", own.url)
    with own, ServerUnderTest(tmp_path / "gunicorn", free_port()) as srv:
        seed_fleet(redis.Redis(port=own.port), env["SMARTCITY_REDIS_PREFIX"])
        assert [a.status for a in fire(srv.port, ROUTES)] == [200] * len(ROUTES)

        own.stop()
        down = fire(srv.port, ROUTES)
        assert {route: a.status for route, a in zip(ROUTES, down, strict=True)} == dict.fromkeys(ROUTES, 503)
        assert all(a.overloaded() and b"Traceback" not in a.body for a in down)
        assert fire(srv.port, ["/api/system"])[0].status == 200  # the System tab reports the outage itself

        own.start()  # on the same port, empty
        seed_fleet(redis.Redis(port=own.port), env["SMARTCITY_REDIS_PREFIX"])
        assert [a.status for a in fire(srv.port, ROUTES)] == [200] * len(ROUTES)
