"""A producer written the public "smart city" simulators' way -> Kafka -> the Spark job.

Those simulators write traffic to ``traffic_camera_data`` and incidents to
``emergency_incident_data`` (the job's default topic lists include both), key each message by a
random UUID, and let the broker create the topics. A few messages go to a misspelt topic,
``traffic_camra_data``, which no stream reads: ``/api/system`` must list it with its count.
Every topic here has this module's own prefix.

Two dialects: the original's (snake_case, UTC times ending in the past) and the one most of its
clones emit: camelCase fields (``deviceId``, ``cameraId``, ``fuelType``, incident ``type``…), GPS
fixes with no location at all, and naive local times from the producer's clock, which starts at
its local "now" and runs 30-60 s ahead per loop, so its later events are minutes in the future.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from confluent_kafka import Producer

from cluster.topology import ClusterState
from pipeline.lake import DEADLETTER
from pipeline.schemas import STREAMS
from pipeline.settings import Settings
from tests.distributed.test_spark_stream import Run, SparkJob, Topics, console, run_of, settings_for, wait_for

pytestmark = pytest.mark.distributed
LOOPS = 20
CAMERAS = 4
TYPO_MESSAGES = 3
AUTH = {"Authorization": "Bearer viewer-token"}


@dataclass
class Sent:
    """What the simulator sent, per stream, and the entities the speed layer should hold."""

    prefix: str
    events: Counter[str] = field(default_factory=Counter)
    cameras: set[str] = field(default_factory=set)
    incidents: set[str] = field(default_factory=set)

    @property
    def typo_topic(self) -> str:
        return f"{self.prefix}traffic_camra_data"


# the clones' names for our fields
CAMEL = {"device_id": "deviceId", "camera_id": "cameraId", "fuel_type": "fuelType", "vehicle_type": "vehicleType",
         "weather_condition": "weatherCondition", "wind_speed": "windSpeed", "incident_type": "type"}  # fmt: skip
CLONES_ZONE = "America/New_York"  # where the clone's machine is: its naive times are read in this zone


def simulate(bootstrap: str, prefix: str, seed: int = 11, clone: bool = False) -> Sent:
    """The simulator's loop: each step a vehicle report, its GPS fix, a camera, the weather and
    an incident, the event clock 30-60 s ahead of the step before, every message keyed by a
    random UUID. The original's clock is UTC and starts far enough back to end in the past; a
    ``clone``'s starts at its local now (naive) and so runs into the future."""
    rng = random.Random(seed)
    producer = Producer({"bootstrap.servers": bootstrap})  # the simulators' whole configuration
    sent = Sent(prefix)
    if clone:
        clock = datetime.now(ZoneInfo(CLONES_ZONE)).replace(tzinfo=None, microsecond=0)
    else:
        clock = datetime.now(UTC) - timedelta(seconds=LOOPS * 60 + 120)
    lat, lon = 51.5074, -0.1278

    def send(topic: str, stream: str, event: dict[str, Any]) -> None:
        if clone:
            event = {CAMEL.get(k, k): v for k, v in event.items()}
            if stream == "gps_data":
                del event["location"]
        producer.produce(f"{prefix}{topic}", key=str(uuid.uuid4()), value=orjson.dumps(event))
        sent.events[stream] += 1

    for step in range(LOOPS):
        clock += timedelta(seconds=rng.randint(30, 60))
        lat, lon = lat + rng.uniform(0.0001, 0.0005), lon + rng.uniform(0.0001, 0.0005)
        base = {"device_id": "Vehicle-CodeWithYu-123", "timestamp": clock.isoformat(), "location": [lat, lon]}
        send("vehicle_data", "vehicle_data", {"id": str(uuid.uuid4()), **base, "speed": rng.uniform(10, 40),
                                              "direction": "North-East", "make": "BMW", "model": "C500",
                                              "year": 2024, "fuel_type": "Hybrid"})  # fmt: skip
        send("gps_data", "gps_data", {"id": str(uuid.uuid4()), **base, "speed": rng.uniform(0, 40),
                                      "direction": "North-East", "vehicle_type": "private"})  # fmt: skip
        camera = f"{prefix}camera-{step % CAMERAS}"
        send("traffic_camera_data", "traffic_data", {"id": str(uuid.uuid4()), **base, "camera_id": camera,
                                                     "snapshot": "Base64EncodedString"})  # fmt: skip
        sent.cameras.add(camera)
        send("weather_data", "weather_data", {"id": str(uuid.uuid4()), **base, "temperature": rng.uniform(-5, 26),
                                              "weather_condition": rng.choice(["Sunny", "Cloudy", "Rain", "Snow"]),
                                              "precipitation": rng.uniform(0, 25), "wind_speed": rng.uniform(0, 100),
                                              "humidity": rng.randint(0, 100),
                                              "airQualityIndex": rng.uniform(0, 500)})  # fmt: skip
        incident = str(uuid.uuid4())
        send("emergency_incident_data", "emergency_data", {"id": str(uuid.uuid4()), **base, "incidentId": incident,
                                                           "incident_type": rng.choice(["Accident", "Fire", "Police"]),
                                                           "status": rng.choice(["Active", "Resolved"]),
                                                           "description": "Description of the incident"})  # fmt: skip
        sent.incidents.add(incident)
    for _ in range(TYPO_MESSAGES):  # a producer with a typo in its topic name: nobody reads these
        producer.produce(sent.typo_topic, key=str(uuid.uuid4()), value=b'{"device_id": "cam-typo"}')
    assert producer.flush(60) == 0
    return sent


def job_env(cluster: ClusterState, prefix: str, **overrides: str) -> dict[str, str]:
    """The job's settings: this module's own prefix on the default topic lists, set the new way
    (SMARTCITY_TOPICS_*; settings_for sets the old single topic too, which agrees with it)."""
    lists = Settings(_env_file=None).stream_topics()
    assert lists["traffic_data"][1:] == ("traffic_camera_data",)  # the simulators' names are read by default
    topics = {f"SMARTCITY_TOPICS_{s.upper()}": ",".join(prefix + t for t in lists[s]) for s in STREAMS}
    return settings_for(cluster, Topics(prefix, [], {}), "sim", **topics, **overrides)


@pytest.fixture(scope="module", params=["original", "clone"])
def simulated(
    request: pytest.FixtureRequest, cluster: ClusterState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Run, Sent, Any]]:
    """The simulator's events sent, the job run until they are all in the lake and the unread
    topic shows in ``/api/system`` (the job looks at the cluster at start, then every 30 s)."""
    assert cluster.bootstrap_servers
    clone = request.param == "clone"
    prefix = f"sim{uuid.uuid4().hex[:6]}_"
    sent = simulate(cluster.bootstrap_servers, prefix, clone=clone)
    env = job_env(cluster, prefix, **({"SMARTCITY_NAIVE_TIMEZONE": CLONES_ZONE} if clone else {}))
    run = run_of(f"simulator ({request.param})", env, Path(tmp_path_factory.mktemp("spark")) / "simulator.log")
    assert run.log is not None
    job = SparkJob(cluster, env, run.log)
    system: dict[str, Any] = {}
    client = console(run)

    def lists_the_typo_and_counts_every_event() -> bool:
        """The unread topic listed, and the job's published counts caught up with the lake (it
        publishes once a second, so they may trail the lake's files by as much)."""
        system.update(client.get("/api/system", headers=AUTH).json or {})
        acc = system.get("accounting") or {}
        unread = acc.get("unread_topics") or []
        counted = (acc.get("totals") or {}).get("received", 0) >= sum(sent.events.values())
        return counted and any(t["topic"] == sent.typo_topic for t in unread)

    try:
        wait_for(lambda: sum(run.table(s).num_rows for s in STREAMS) >= sum(sent.events.values()), "the lake", job)
        wait_for(lists_the_typo_and_counts_every_event, "the unread topic and every event in /api/system", job)
    finally:
        assert job.stop() == 0, run.log.read_text()[-4000:]
    yield run, sent, system


def test_every_event_on_the_simulator_topics_reaches_the_lake_and_none_is_a_dead_letter(
    simulated: tuple[Run, Sent, Any],
) -> None:
    run, sent, system = simulated
    assert {s: run.table(s).num_rows for s in STREAMS} == dict(sent.events)
    assert run.table(DEADLETTER).num_rows == 0
    totals = system["accounting"]["totals"]
    assert totals["received"] == totals["valid"] == sum(sent.events.values()) and totals["dead_letters"] == 0


def test_cameras_and_incidents_from_the_simulator_topics_are_in_the_speed_layer(
    simulated: tuple[Run, Sent, Any],
) -> None:
    run, sent, _ = simulated
    snapshot = run.speed.snapshot()
    assert set(snapshot["traffic"]) == sent.cameras
    assert set(snapshot["incidents"]) == sent.incidents
    listed = console(run).get("/api/emergency/incidents?status=all&limit=5000", headers=AUTH).json or {}
    assert {i["id"] for i in listed["incidents"]} == sent.incidents


def test_the_system_view_lists_the_unread_topic_with_its_messages(simulated: tuple[Run, Sent, Any]) -> None:
    _, sent, system = simulated
    unread = {t["topic"]: t for t in system["accounting"]["unread_topics"]}
    assert unread[sent.typo_topic]["messages"] == TYPO_MESSAGES
    read = set(system["accounting"]["topics"])
    assert {f"{sent.prefix}traffic_camera_data", f"{sent.prefix}emergency_incident_data"} <= read
    assert not read & set(unread)  # a topic the job reads is never listed as unread
    assert not [t for t in unread if t.startswith("__")]  # Kafka's own topics are not ours to report


def test_the_clones_dialect_lands_under_the_canonical_names_with_its_clock_skew_kept(
    simulated: tuple[Run, Sent, Any],
) -> None:
    run, sent, _ = simulated
    vehicles = run.table("vehicle_data").to_pylist()
    assert {"device_id", "fuel_type"} <= set(vehicles[0]) and "deviceId" not in vehicles[0]
    assert {r["device_id"] for r in vehicles} == {"Vehicle-CodeWithYu-123"}
    ahead = [r for r in vehicles if r["clock_skew_s"]]
    if run.name.endswith("(original)"):
        assert not ahead  # its clock ended in the past
        return
    # the clone's clock ran minutes ahead: those events are kept at their receive time, with their own
    assert ahead and all(r["clock_skew_s"] > 300 and r["device_time"] > r["event_time"] for r in ahead)
    assert all(r["event_time"] <= r["ingest_time"] + timedelta(seconds=300) for r in vehicles)
    gps = run.table("gps_data").to_pylist()
    assert len(gps) == sent.events["gps_data"] and all(r["latitude"] is None for r in gps)  # no location sent
    types = {r["incident_type"] for r in run.table("emergency_data").to_pylist()}
    assert types <= {"Accident", "Fire", "Police"} and types  # "type" read as incident_type
