"""MQTT ingest without a broker: where each topic's messages go, and the broker URL."""

from __future__ import annotations

import json

import pytest

from pipeline.exceptions import ConfigError
from pipeline.mqtt import UNROUTED_TOPIC, Broker, bridge_config, route
from pipeline.settings import Settings

TOPICS = {"gps_data": "gps_data", "vehicle_data": "city.vehicles"}


def test_a_device_topic_goes_to_its_streams_topic_keyed_by_the_device() -> None:
    routed = route("smartcity/gps_data/car-7", b'{"speed": 1}', "smartcity", TOPICS)
    assert (routed.topic, routed.key, routed.value) == ("gps_data", b"car-7", b'{"speed": 1}')
    assert route("smartcity/vehicle_data/car-7", b"x", "smartcity", TOPICS).topic == "city.vehicles"


def test_a_device_id_keeps_its_slashes_and_a_topic_without_one_has_no_key() -> None:
    assert route("smartcity/gps_data/fleet/7", b"x", "smartcity", TOPICS).key == b"fleet/7"
    assert route("smartcity/gps_data", b"x", "smartcity", TOPICS).key is None
    assert route("a/b/gps_data/car-1", b"x", "a/b", TOPICS).key == b"car-1"


@pytest.mark.parametrize("topic", ["smartcity/bogus/car-1", "smartcity", "smartcity/", "smartcity//car-1"])
def test_a_topic_naming_no_stream_is_kept_with_its_topic_for_the_dead_letter(topic: str) -> None:
    routed = route(topic, b"\xff{not utf-8", "smartcity", TOPICS)
    assert routed.topic == UNROUTED_TOPIC
    assert json.loads(routed.value) == {"mqtt_topic": topic, "payload": "\ufffd{not utf-8"}


def test_broker_urls() -> None:
    assert Broker.from_url("mqtt://broker.local") == Broker("broker.local", 1883)
    tls = Broker.from_url("mqtts://u%40x:p%3Aw@broker.local", ca_file="/etc/ca.pem")
    assert (tls.port, tls.tls, tls.username, tls.password, tls.ca_file) == (8883, True, "u@x", "p:w", "/etc/ca.pem")
    assert Broker.from_url("mqtt://h:1884", "user", "pw") == Broker("h", 1884, username="user", password="pw")
    assert "p:w" not in repr(tls) and tls.describe() == "mqtts://broker.local:8883"


@pytest.mark.parametrize("url", ["tcp://h:1883", "h:1883", "mqtt://", "mqtt://h:port"])
def test_a_broker_url_that_is_not_one_is_a_clear_error(url: str) -> None:
    with pytest.raises(ConfigError, match="SMARTCITY_MQTT_URL"):
        Broker.from_url(url)


def test_settings_make_the_bridge_and_keep_the_password_secret() -> None:
    assert bridge_config(Settings(_env_file=None)) is None
    settings = Settings(_env_file=None, mqtt_url="mqtt://dev:s3cret@10.0.0.5", mqtt_topic_prefix="/city/",
                        topic_gps_data="gps")  # fmt: skip
    config = bridge_config(settings)
    assert config is not None
    assert config.subscription == "city/#" and config.topics["gps_data"] == "gps"
    assert config.broker == Broker("10.0.0.5", 1883, username="dev", password="s3cret")
    assert "s3cret" not in repr(settings) and "s3cret" not in repr(config)
