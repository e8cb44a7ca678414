"""MQTT for the tests and the benchmark: a device-side publisher (paho, QoS 1) that records which
messages the broker acknowledged, and the embedded platform fed by the MQTT bridge."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import redis
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from pipeline import runtime
from pipeline.mqtt import UNROUTED_TOPIC, MqttBridge, embedded_bridge
from pipeline.settings import Settings


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Return once ``condition()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.05)


class Publisher:
    """A device-side client: publishes with QoS 1 and counts the broker's PUBACKs (``acked``:
    the labels of the messages acknowledged). paho resends unacknowledged messages when it
    reconnects, e.g. after the broker restarted."""

    def __init__(self, port: int, client_id: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.max_inflight_messages_set(100)
        self.client.reconnect_delay_set(1, 2)
        self.client.on_publish = self._on_publish
        self._labels: dict[int, str] = {}
        self._acked: set[int] = set()  # mids; no lock shared with paho's (it calls back holding its own)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str, label: str = "") -> None:
        info = self.client.publish(topic, payload, qos=1)
        self._labels[info.mid] = label or topic

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        if not reason.is_failure:
            self._acked.add(mid)

    @property
    def acked(self) -> set[str]:
        """The labels of the messages the broker acknowledged."""
        return {self._labels[mid] for mid in list(self._acked) if mid in self._labels}

    @property
    def pending(self) -> int:
        """Messages published and not acknowledged yet."""
        return len(self._labels) - len(self.acked)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Platform:
    """The embedded pipeline (bus -> processor -> speed layer + lake) fed by the MQTT bridge, as
    ``app/main.py`` wires it."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self.settings = settings
        self.bus, self.processor = runtime.embedded(settings, client, [UNROUTED_TOPIC])
        bridge = embedded_bridge(settings, self.bus)
        assert bridge is not None
        self.bridge: MqttBridge = bridge

    def start(self) -> Platform:
        self.processor.start()
        self.bridge.start()
        wait_for(lambda: self.bridge.state == "connected", 30, "the bridge connected")
        return self

    def stop(self) -> dict[str, Any]:
        """Stop the bridge, drain the bus, flush the lake; the final accounting."""
        self.bridge.stop()
        assert self.processor.stop(timeout=120)
        return self.processor.accounting.snapshot()

    @property
    def received(self) -> int:
        return int(self.processor.accounting.snapshot()["totals"]["received"])


def mqtt_settings(lake: Path, url: str, name: str, **overrides: Any) -> Settings:
    """Settings with a topic prefix, client id and key prefix of the test's own."""
    return Settings(_env_file=None, lake_uri=str(lake), mqtt_url=url, mqtt_topic_prefix=f"city-{name}",
                    mqtt_client_id=f"ingest-{name}", redis_prefix=f"{name}:", **overrides)  # fmt: skip
