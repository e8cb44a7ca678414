"""``python -m producers.mqtt``: the MQTT bridge of the distributed mode, broker -> Kafka.

Subscribes to ``<prefix>/<stream>/<device_id>`` on ``SMARTCITY_MQTT_URL`` (the same bridge as the
demo's, ``pipeline.mqtt.MqttBridge``) and produces each message to its stream's Kafka topic keyed
by the device id, acknowledging it to the broker only once Kafka acknowledged it (``acks=all``,
idempotent): a message is never in neither place. A delivery that fails is produced again;
SIGINT/SIGTERM waits for what is in flight, then leaves the session on the broker.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from pipeline.exceptions import BusClosed
from pipeline.mqtt import MqttBridge, bridge_config
from pipeline.settings import Settings
from producers.kafka import producer_config

log = logging.getLogger(__name__)


class KafkaTarget:
    """The bridge's target on Kafka: ``done`` runs (acknowledging to the broker) from the delivery
    report of a message Kafka took; one that Kafka did not take is produced again."""

    def __init__(self, bootstrap_servers: str, linger_ms: float = 5.0, compression: str = "lz4") -> None:
        self.bootstrap_servers = bootstrap_servers
        self._producer = Producer(producer_config(bootstrap_servers, linger_ms, compression))
        self._closed = threading.Event()
        self._failing = ""
        self.delivered = 0
        self.retried = 0
        self._poller = threading.Thread(target=self._poll, name="smartcity-mqtt-kafka", daemon=True)
        self._poller.start()

    def send(self, topic: str, key: bytes | None, value: bytes, done: Callable[[], None]) -> None:
        if self._closed.is_set():
            raise BusClosed("the Kafka target is closed")

        def report(err: KafkaError | None, _msg: Message) -> None:
            if err is None:
                self.delivered += 1
                done()
                return
            self.retried += 1
            if err.str() != self._failing:
                self._failing = err.str()
                log.error("Kafka did not take an MQTT message for %r (%s): producing it again", topic, err.str())
            if not self._closed.is_set():
                self.send(topic, key, value, done)

        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=report)
                return
            except BufferError:  # the client's queue is full: serve reports, then retry
                self._producer.poll(0.1)

    def flush(self, timeout: float = 10.0) -> None:
        left = self._producer.flush(timeout)
        if left:
            log.error("%d MQTT messages not yet in Kafka: unacknowledged, the broker sends them again", left)

    def close(self) -> None:
        self._closed.set()
        self._poller.join(5)

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)  # runs the delivery reports, so acknowledgements go out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m producers.mqtt", description=__doc__.split("\n")[0])
    p.add_argument("--kafka", help="Kafka bootstrap servers (default: SMARTCITY_KAFKA_BOOTSTRAP_SERVERS)")
    args = p.parse_args(argv)
    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bootstrap = args.kafka or settings.kafka_bootstrap_servers
    config = bridge_config(settings)
    if config is None or not bootstrap:
        print("producers.mqtt: set SMARTCITY_MQTT_URL and --kafka (or SMARTCITY_KAFKA_BOOTSTRAP_SERVERS)",
              file=sys.stderr)  # fmt: skip
        return 2
    target = KafkaTarget(bootstrap, settings.kafka_linger_ms, settings.kafka_compression)
    bridge = MqttBridge(config, target)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    bridge.start()
    log.info("bridging %s (%s) to Kafka at %s", config.broker.describe(), config.subscription, bootstrap)
    stop.wait()
    bridge.stop()  # flushes the target first: what Kafka took is acknowledged before the DISCONNECT
    target.close()
    summary: dict[str, Any] = bridge.status() | {"delivered": target.delivered, "retried": target.retried}
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
