"""Topics: which topics each stream reads (settings), how a record's topic finds its stream
(embedded bus and Spark partitions), and the Kafka topics with messages that nobody reads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient
from pydantic import ValidationError

from app.console import system
from pipeline import runtime
from pipeline.accounting import Accounting, ProcessorStatus, StatusPublisher, combine
from pipeline.lake import open_lake, read_table
from pipeline.settings import Settings
from pipeline.spark_executor import PartitionJob
from pipeline.topics import TopicWatch, unread_topics, unwatched
from tests.unit.test_console import texts
from tests.unit.test_openapi import schema_errors
from tests.unit.test_spark_executor import BATCH_TIME, kafka_batch, run


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[arg-type]


def env_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(f"SMARTCITY_{name}", value)
    return Settings(_env_file=None)


# -- settings -----------------------------------------------------------------------------


def test_by_default_a_stream_reads_its_own_topic_and_the_public_simulators_one() -> None:
    s = settings()
    assert s.stream_topics() == {
        "vehicle_data": ("vehicle_data",),
        "gps_data": ("gps_data",),
        "traffic_data": ("traffic_data", "traffic_camera_data"),
        "weather_data": ("weather_data",),
        "emergency_data": ("emergency_data", "emergency_incident_data"),
    }
    assert s.topics()["traffic_data"] == "traffic_data"  # where our producers and HTTP ingest write
    assert s.topic_streams()["traffic_camera_data"] == "traffic_data"
    assert s.topic_streams()["emergency_incident_data"] == "emergency_data"


def test_a_topic_list_is_comma_separated_and_its_first_is_written_to(monkeypatch: pytest.MonkeyPatch) -> None:
    s = env_settings(monkeypatch, TOPICS_TRAFFIC_DATA=" city.traffic , cams,city.traffic,", TOPICS_GPS_DATA="")
    assert s.stream_topics()["traffic_data"] == ("city.traffic", "cams")
    assert s.topics()["traffic_data"] == "city.traffic"
    assert s.topic_streams()["cams"] == "traffic_data" and "traffic_camera_data" not in s.topic_streams()
    assert s.stream_topics()["gps_data"] == ("gps_data",)  # blank is unset


def test_the_single_topic_setting_still_names_the_written_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    s = env_settings(monkeypatch, TOPIC_TRAFFIC_DATA="city.traffic", TOPIC_GPS_DATA="city.gps")
    assert s.topics()["gps_data"] == "city.gps" and s.stream_topics()["gps_data"] == ("city.gps",)
    assert s.stream_topics()["traffic_data"] == ("city.traffic", "traffic_camera_data")
    agreeing = env_settings(monkeypatch, TOPICS_TRAFFIC_DATA="city.traffic,cams")
    assert agreeing.stream_topics()["traffic_data"] == ("city.traffic", "cams")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TOPIC_TRAFFIC_DATA": "a", "TOPICS_TRAFFIC_DATA": "b,a"}, "is not the first of SMARTCITY_TOPICS_TRAFFIC"),
        ({"TOPICS_GPS_DATA": "gps_data,traffic_camera_data"}, "read by two streams"),
        ({"TOPICS_WEATHER_DATA": " , "}, "SMARTCITY_TOPICS_WEATHER_DATA names no topic"),
        ({"TOPICS_WEATHER_DATA": "weather data"}, "is not a Kafka topic name"),
    ],
)
def test_topic_settings_that_cannot_work_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        env_settings(monkeypatch, **env)


# -- topic -> stream ----------------------------------------------------------------------


def traffic(i: int) -> bytes:
    ts = (BATCH_TIME - timedelta(seconds=30 - i)).isoformat()
    return orjson.dumps({"id": f"tr-{i}", "device_id": f"cam-{i}", "camera_id": f"cam-{i}", "timestamp": ts,
                         "location": [52.44, 13.52], "speed": 31.5})  # fmt: skip


def test_spark_records_of_a_simulator_topic_land_in_their_stream(tmp_path: Path) -> None:
    s = settings(lake_uri=str(tmp_path / "lake"), redis_prefix="x:")
    records = kafka_batch("traffic_camera_data", 0, range(3), [traffic(i) for i in range(3)])
    counts = run(PartitionJob(s, "r"), [records])
    assert counts["totals"] == {"received": 3, "valid": 3, "dead_letters": 0, "speed_layer": 3, "lake_rows": 3}
    fs, root = open_lake(s.lake_uri)
    assert sorted(read_table(fs, root, "traffic_data").column("event_id").to_pylist()) == ["tr-0", "tr-1", "tr-2"]


def test_the_embedded_bus_takes_the_simulator_topics_and_counts_their_lag_per_stream(tmp_path: Path) -> None:
    bus, processor = runtime.embedded(settings(lake_uri=str(tmp_path / "lake")), fakeredis.FakeRedis())
    bus.produce_many("traffic_data", [(b"k", traffic(0))])
    bus.produce_many("traffic_camera_data", [(b"k", traffic(1)), (b"k", traffic(2))])
    assert processor.lag()["traffic_data"] == 3
    processor.start()
    try:
        assert processor.stop(30)
    finally:
        bus.close()
    assert processor.accounting.stream("traffic_data").valid == 3


# -- topics nobody reads -----------------------------------------------------------------


def test_internal_read_and_dead_letter_topics_are_not_reported() -> None:
    read, skip = {"traffic_data", "traffic_camera_data"}, {"dead_letters"}
    assert [t for t in ("__consumer_offsets", "_schemas", "traffic_camera_data", "dead_letters", "traffic_camra_data")
            if not unwatched(t, read, skip)] == ["traffic_camra_data"]  # fmt: skip


def test_unread_topics_have_messages_and_those_still_written_come_first() -> None:
    first = unread_topics({"traffic_camra_data": 4, "empty": 0, "old": 900}, None, 0.0)
    assert first == [{"topic": "old", "messages": 900, "messages_per_s": None},
                     {"topic": "traffic_camra_data", "messages": 4, "messages_per_s": None}]  # fmt: skip
    later = unread_topics({"traffic_camra_data": 64, "old": 900, "new": 3}, {"traffic_camra_data": 4, "old": 900}, 30)
    assert [(t["topic"], t["messages_per_s"]) for t in later] == [("traffic_camra_data", 2.0), ("new", 0.1),
                                                                   ("old", 0.0)]  # fmt: skip
    assert len(unread_topics({f"t{i}": 1 for i in range(500)}, None, 0.0)) == 100  # a status stays small


class Watch(TopicWatch):
    """A watch over end offsets given by the test instead of a cluster."""

    def __init__(self, answers: list[dict[str, int] | Exception]) -> None:
        super().__init__("127.0.0.1:1", ["traffic_data"], clock=lambda: self.t)
        self.answers, self.t = answers, 0.0

    def end_offsets(self) -> dict[str, int]:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_watch_keeps_its_last_answer_while_kafka_is_away() -> None:
    from confluent_kafka import KafkaError, KafkaException

    watch = Watch([{"typo": 5}, KafkaException(KafkaError(KafkaError._TRANSPORT)), {"typo": 35}])
    assert watch.current() is None  # not looked yet: unknown, not "none"
    watch.check()
    watch.t = 10.0
    assert watch.check() == [{"topic": "typo", "messages": 5, "messages_per_s": None}]
    watch.t = 15.0
    assert watch.check() == [{"topic": "typo", "messages": 35, "messages_per_s": 2.0}]  # over the 15 s since


def status(unread: list[dict[str, Any]] | None, topics: tuple[str, ...]) -> dict[str, Any]:
    return ProcessorStatus("p", "spark", Accounting(), topics=topics, unread_topics=lambda: unread).current()


def test_a_topic_is_unread_when_no_processor_reads_it() -> None:
    typo = {"topic": "traffic_camra_data", "messages": 4, "messages_per_s": None}
    other = {"topic": "city2.gps", "messages": 50, "messages_per_s": 1.0}
    one = status([typo, other], ("traffic_data",))
    assert combine([one]) == one  # one processor: as it published
    both = combine([one, status([typo], ("city2.gps",)), status(None, ("x",))])
    assert both is not None
    assert both["unread_topics"] == [typo]  # city2.gps is read by the second job
    assert both["topics"] == ["city2.gps", "traffic_data", "x"]
    assert (combine([status(None, ("x",))]) or {})["unread_topics"] is None  # nobody looks: unknown


def test_the_system_tab_lists_unread_topics_only_when_a_processor_looks() -> None:
    typo = {"topic": "traffic_camra_data", "messages": 1234, "messages_per_s": None}
    _, streams = system.render({"accounting": {"streams": {}, "unread_topics": [typo]}})
    shown = texts(streams)
    assert shown[shown.index("traffic_camra_data") + 1 : shown.index("traffic_camra_data") + 3] == ["1,234", "–"]
    _, none = system.render({"accounting": {"streams": {}, "unread_topics": []}})
    assert "Every Kafka topic with messages is read by a stream." in texts(none)
    _, embedded = system.render({"accounting": {"streams": {}, "unread_topics": None}})
    assert "Unread Kafka topics" not in texts(embedded)


def test_api_system_lists_the_unread_topics_as_documented(app: Flask, client: FlaskClient) -> None:
    typo = {"topic": "traffic_camra_data", "messages": 3, "messages_per_s": 0.1}
    status = ProcessorStatus("spark:1", "spark", Accounting(), topics=["traffic_data"], unread_topics=lambda: [typo])
    assert StatusPublisher(app.extensions["smartcity.store"].speed, status).publish()
    body = client.get("/api/system").json or {}
    assert body["accounting"]["unread_topics"] == [typo] and body["accounting"]["topics"] == ["traffic_data"]
    doc = client.get("/openapi.json").json or {}
    schema = doc["paths"]["/api/system"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema_errors(doc, schema, body) == []
    assert schema_errors(doc, schema, body | {"accounting": {"unread_topics": [{"topic": "t"}]}})  # it does check
