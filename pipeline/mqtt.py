"""MQTT ingest: devices publish to ``<prefix>/<stream>/<device_id>`` with QoS 1; a bridge hands
each message to the bus (the in-process bus, or Kafka) keyed by the device id, and acknowledges
it to the broker only once the bus took it.

No message the broker acknowledged to a device is lost on the way: the bridge keeps a persistent
session (a fixed client id, MQTT 5 ``clean_start=False`` with a session expiry), subscribes with
QoS 1 and acknowledges by hand (paho's ``manual_ack``). Whatever it had not acknowledged when the
connection, the broker or this process went away, the broker sends again: at least once, so the
lake may hold a redelivered event twice (same ``event_id``; the batch views count it once).
The bridge reconnects with backoff (1 s doubling to 30 s) and logs once per change of state.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from pipeline.bus import InProcessBus
from pipeline.exceptions import BusClosed, ConfigError
from pipeline.settings import Settings

log = logging.getLogger(__name__)

# Where a message goes whose MQTT topic names no stream: nothing reads this topic as a stream, so
# the embedded processor dead-letters it ("unknown stream") and counts it; on Kafka it is a topic
# with traffic that no stream consumes.
UNROUTED_TOPIC = "unknown_mqtt_stream"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class Broker:
    """Where the broker is and how to log in; the password never shows in a repr or a log."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def from_url(
        cls, url: str, username: str | None = None, password: str | None = None, ca_file: str | None = None
    ) -> Broker:
        """``mqtt://[user[:password]@]host[:port]`` or ``mqtts://…`` (TLS); a user or password
        in the URL wins over the ones given apart."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ConfigError(f"SMARTCITY_MQTT_URL must look like mqtt://host:port or mqtts://host:port, not "
                              f"{parts.scheme or '(no scheme)'}://{parts.hostname or ''}")  # fmt: skip
        try:
            port = parts.port or DEFAULT_PORTS[parts.scheme]
        except ValueError as exc:
            raise ConfigError(f"SMARTCITY_MQTT_URL: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else username,
            password=unquote(parts.password) if parts.password else password,
            ca_file=ca_file,
        )

    def describe(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True)
class BridgeConfig:
    broker: Broker
    topics: Mapping[str, str]  # stream -> the bus topic its messages go to
    topic_prefix: str = "smartcity"
    client_id: str = "smartcity-ingest"
    session_expiry_s: int = 7 * 24 * 3600
    keepalive_s: int = 30
    receive_maximum: int = 1000  # unacknowledged messages the broker may send us at once

    @property
    def subscription(self) -> str:
        return f"{self.topic_prefix}/#"


def bridge_config(settings: Settings) -> BridgeConfig | None:
    """The bridge's configuration from settings; None when ``SMARTCITY_MQTT_URL`` is unset."""
    url = settings.secret("mqtt_url")
    if not url:
        return None
    broker = Broker.from_url(url, settings.mqtt_username, settings.secret("mqtt_password"), settings.mqtt_ca_file)
    return BridgeConfig(
        broker=broker,
        topics=settings.topics(),
        topic_prefix=settings.mqtt_topic_prefix.strip("/"),
        client_id=settings.mqtt_client_id,
        session_expiry_s=settings.mqtt_session_expiry_seconds,
    )


@dataclass(frozen=True, slots=True)
class Routed:
    """One MQTT message as the bus carries it."""

    topic: str
    key: bytes | None
    value: bytes


def route(mqtt_topic: str, payload: bytes, prefix: str, topics: Mapping[str, str]) -> Routed:
    """Where one MQTT message goes: its stream's topic, keyed by the device id that the MQTT topic
    names (the rest of it after the stream; none when the topic ends at the stream). The payload
    is passed on untouched: the processor validates it. A topic naming no stream goes to
    ``UNROUTED_TOPIC``, wrapped with its MQTT topic so that its dead letter says where it came from."""
    rest = mqtt_topic[len(prefix) + 1 :] if mqtt_topic.startswith(prefix + "/") else ""
    stream, _, device = rest.partition("/")
    topic = topics.get(stream)
    if topic is None:
        wrapped = {"mqtt_topic": mqtt_topic, "payload": payload.decode("utf-8", "replace")}
        return Routed(UNROUTED_TOPIC, mqtt_topic.encode(), orjson.dumps(wrapped))
    return Routed(topic, device.encode() if device else None, payload)


class Target(Protocol):
    """Takes the bridge's messages: calls ``done`` (at once, or later from any thread) once a
    message is safely taken, which acknowledges it to the broker; raises only when closed."""

    def send(self, topic: str, key: bytes | None, value: bytes, done: Callable[[], None]) -> None: ...

    def flush(self, timeout: float) -> None:
        """Hand on what ``send`` got so far (and so acknowledge it), waiting up to ``timeout``."""


class BusTarget:
    """The embedded mode's target: the in-process bus, in groups.

    A thread hands the messages that arrived within ``linger_s`` of the first to the bus at once
    (one ``produce_many`` per topic, in order), then acknowledges them: one message per bus call
    woke the processor for batches of one or two, and the bridge reached only ~4,500 messages/s
    into Redis. While the bus is full the thread waits, the broker stops sending once
    ``receive_maximum`` messages are unacknowledged, and queues the rest for our session.
    """

    def __init__(self, bus: InProcessBus, linger_s: float = 0.002) -> None:
        self.bus = bus
        self.linger_s = linger_s
        self._pending: list[tuple[str, bytes | None, bytes, Callable[[], None]]] = []
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None

    def send(self, topic: str, key: bytes | None, value: bytes, done: Callable[[], None]) -> None:
        if self.bus.closed:
            raise BusClosed("bus is closed")
        with self._cond:
            self._pending.append((topic, key, value, done))
            if len(self._pending) == 1:
                self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="smartcity-mqtt-bus", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _run(self) -> None:
        while not self.bus.closed:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._pending), 1.0)
            time.sleep(self.linger_s)  # let a burst gather: one bus call for it
            with self._cond:
                batch, self._pending, self._busy = self._pending, [], True
            try:
                self._hand_on(batch)
            except BusClosed:  # stopping: unacknowledged, the broker sends them again next time
                return
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _hand_on(self, batch: list[tuple[str, bytes | None, bytes, Callable[[], None]]]) -> None:
        start = 0
        for i in range(1, len(batch) + 1):  # runs of one topic, in arrival order
            if i == len(batch) or batch[i][0] != batch[start][0]:
                self.bus.produce_many(batch[start][0], [(k, v) for _, k, v, _ in batch[start:i]], timeout=None,
                                      source="mqtt")  # fmt: skip
                for *_, done in batch[start:i]:
                    try:
                        done()
                    except Exception:  # unacknowledged: the broker sends it again, never lost
                        log.exception("MQTT acknowledgement failed")
                start = i


def _nothing() -> None:
    """A QoS 0 message needs no acknowledgement."""


class MqttBridge:
    """Subscribes to ``<prefix>/#`` on the broker and hands every message to ``target``.

    ``start`` returns at once (nothing connects before it; paho's thread connects and reconnects);
    ``stop`` disconnects and leaves the session on the broker, which queues for the next start.
    """

    def __init__(self, config: BridgeConfig, target: Target) -> None:
        self.config = config
        self.target = target
        self.state = "stopped"
        self.received = 0  # messages the broker delivered (redeliveries too)
        self.acknowledged = 0  # of those, taken by the target and acknowledged to the broker
        self.unrouted = 0  # of those, on a topic naming no stream
        self.failed = 0  # of those, refused by the target (left for the broker to send again)
        self.connects = 0
        self._client: mqtt.Client | None = None
        self._generation = 0  # one per connection: an acknowledgement is for its own connection only
        self._stopping = False
        self._lock = threading.Lock()
        self._unrouted_seen: set[str] = set()
        self._failing = ""

    def start(self) -> None:
        cfg, broker = self.config, self.config.broker
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)  # fmt: skip
        if broker.username is not None:
            client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            client.tls_set(ca_certs=broker.ca_file)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = cfg.session_expiry_s
        properties.ReceiveMaximum = cfg.receive_maximum
        self._stopping = False
        self._client = client
        self._set_state("connecting")
        client.connect_async(broker.host, broker.port, cfg.keepalive_s, clean_start=False, properties=properties)
        client.loop_start()

    def stop(self) -> None:
        """Disconnect; messages not yet acknowledged stay with the broker for the next session."""
        client, self._stopping = self._client, True
        if client is None:
            return
        self.target.flush(10.0)  # acknowledged before the DISCONNECT: not sent again next time
        client.disconnect()
        client.loop_stop()
        self._client = None
        self._set_state("stopped")

    def status(self) -> dict[str, Any]:
        """What the processor status shows about MQTT ingest."""
        return {
            "state": self.state,
            "broker": self.config.broker.describe(),
            "client_id": self.config.client_id,
            "subscription": self.config.subscription,
            "received": self.received,
            "acknowledged": self.acknowledged,
            "unrouted": self.unrouted,
            "failed": self.failed,
            "connects": self.connects,
        }

    def _set_state(self, state: str, detail: str = "") -> None:
        with self._lock:
            if state == self.state:
                return
            self.state = state
        level = logging.INFO if state in ("connecting", "connected", "stopped") else logging.WARNING
        log.log(level, "MQTT %s %s%s", self.config.broker.describe(), state, f" ({detail})" if detail else "")

    def _on_connect(self, client: mqtt.Client, _userdata: Any, flags: mqtt.ConnectFlags, reason: ReasonCode,
                    _properties: Properties | None) -> None:  # fmt: skip
        if reason.is_failure:
            self._set_state(f"refused: {reason}")
            return
        self._generation += 1
        self.connects += 1
        client.subscribe(self.config.subscription, options=SubscribeOptions(qos=1))
        self._set_state("connected", f"client id {self.config.client_id}, session present: {flags.session_present}")

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._set_state("unreachable", "retrying with backoff")

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: mqtt.DisconnectFlags, reason: ReasonCode,
                       _properties: Properties | None) -> None:  # fmt: skip
        if not self._stopping:
            self._set_state("disconnected", str(reason))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers refuse such topics; never trust that
            topic = bytes(msg._topic).decode("utf-8", "replace")
        routed = route(topic, bytes(msg.payload), self.config.topic_prefix, self.config.topics)
        if routed.topic == UNROUTED_TOPIC:
            self.unrouted += 1
            stream = topic.removeprefix(self.config.topic_prefix + "/").partition("/")[0]
            if len(self._unrouted_seen) < 100 and stream not in self._unrouted_seen:
                self._unrouted_seen.add(stream)
                log.warning("MQTT topic %r names no stream (streams: %s): dead-lettered", topic,
                            ", ".join(self.config.topics))  # fmt: skip
        done = functools.partial(self._ack, self._generation, msg.mid, msg.qos) if msg.qos else _nothing
        try:
            self.target.send(routed.topic, routed.key, routed.value, done)
        except Exception as exc:  # left unacknowledged: the broker sends it again to the next session
            self.failed += 1
            kind = f"{type(exc).__name__}: {exc}"
            if kind != self._failing:
                self._failing = kind
                log.error("MQTT message on %r not taken (%s); the broker keeps it", topic, kind)

    def _ack(self, generation: int, mid: int, qos: int) -> None:
        client = self._client
        if client is None or generation != self._generation:
            return  # a later connection: the broker sends that message again there
        if client.ack(mid, qos) == MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.acknowledged += 1


def embedded_bridge(settings: Settings, bus: InProcessBus) -> MqttBridge | None:
    """The demo's bridge onto its in-process bus; None when ``SMARTCITY_MQTT_URL`` is unset.
    The bus needs the topic ``UNROUTED_TOPIC`` besides the streams' topics."""
    config = bridge_config(settings)
    return None if config is None else MqttBridge(config, BusTarget(bus))
