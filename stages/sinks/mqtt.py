"""Events to an MQTT broker (`{type: mqtt, host, port, topic, qos}`) through an on-disk outbox.

Delivery guarantee: at least once, in order per source. Each event is stored in the outbox
(`outbox`, a SQLite file under output_dir) before `write_events` returns; a delivery thread owned by
the sink publishes the oldest events (up to `max_inflight` unacknowledged at a time) and deletes an
event only when the broker acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2, sent for QoS 0).
When the connection drops, the un-acknowledged events are published again from the oldest after
reconnecting (back-off from 0.2 s up to `reconnect_max_s`), so a subscriber may see an event twice:
deduplicate by the event's `id`. Each message is one event as a JSON object (`Event.to_json()`).

Every connection is a fresh paho client with a clean session: resending is the outbox's job, not
paho's, so nothing is resent twice over. The password never appears in logs or errors.
"""

from __future__ import annotations

import json
import logging
import string
import uuid
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from pipeline.errors import SinkOpenError
from pipeline.stage import StageConfig
from stages.sinks.outbox import Backoff, OutboxItem, OutboxSink

log = logging.getLogger(__name__)


class MqttSinkConfig(StageConfig):
    """Events published to an MQTT broker (paho-mqtt, `pip install argus-pipeline[mqtt]`), one JSON message
    per event, kept in an on-disk outbox until the broker acknowledges them."""

    type: Literal["mqtt"] = "mqtt"
    host: str = Field(..., description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    topic: str = Field("argus/{source_id}/events", description="Topic per event; `{source_id}` and `{type}` (the "
                       "event type, any registered one) are filled in, e.g. argus/{source_id}/{type}.")
    qos: Literal[0, 1, 2] = Field(1, description="MQTT QoS; an event leaves the outbox when the broker "
                                  "acknowledged it (1: PUBACK).")
    client_id: str | None = Field(None, description="MQTT client id (default: argus-<random>).")
    username: str | None = Field(None, description="Broker user name.")
    password: SecretStr | None = Field(None, description="Broker password (use `${env:VAR}`; never logged).")
    keepalive_s: int = Field(30, ge=5, description="MQTT keep-alive interval.")
    outbox: str = Field("outbox-mqtt.db", description="Outbox file under output_dir; what a run could not "
                        "deliver is delivered first by the next run with the same file.")
    max_inflight: int = Field(100, ge=1, le=65535, description="Events published and not yet acknowledged.")
    reconnect_max_s: float = Field(10.0, gt=0, description="Longest wait between reconnection attempts.")
    flush_timeout_s: float = Field(5.0, ge=0, description="On close, wait at most this long for the outbox "
                                   "to empty; the rest stays in the outbox.")

    @field_validator("password", mode="before")
    @classmethod
    def _password_text(cls, value: object) -> object:
        # YAML reads `password: 123456` as a number: take it as text (an error would echo it).
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("topic")
    @classmethod
    def _topic_template(cls, value: str) -> str:
        try:
            topic = value.format(source_id="x", type="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"only {{source_id}} and {{type}} may be filled into the topic ({exc})") from None
        if not topic or "+" in topic or "#" in topic:
            raise ValueError("a publish topic must be non-empty and hold no '+' or '#' wildcard")
        return value


class MqttError(ConnectionError):
    """The broker refused the connection or the link broke."""


class MqttSink(OutboxSink):
    """Publishes every event to `topic` on the broker, from its own delivery thread."""

    name = "mqtt"

    def __init__(self, config: MqttSinkConfig, output_dir: Path) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise SinkOpenError("sink 'mqtt': needs paho-mqtt: pip install 'argus-pipeline[mqtt]'") from None
        self._mqtt = mqtt
        self.config = config
        self.client_id = config.client_id or f"argus-{uuid.uuid4().hex[:12]}"
        self._typed_topic = "type" in {field for _, field, _, _ in string.Formatter().parse(config.topic)}
        super().__init__(output_dir, config.outbox, flush_timeout_s=config.flush_timeout_s)
        self._client: mqtt.Client | None = None
        self._connected = False
        self._connect_error: str | None = None
        self._inflight: dict[int, int] = {}  # message id -> outbox seq
        self._acked: list[int] = []
        self._start()

    @property
    def broker(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def topic_for(self, source_id: str, event_type: str = "") -> str:
        """The topic of an event from `source_id` of type `event_type`."""
        return self.config.topic.format(source_id=source_id, type=event_type)

    def _topic_of(self, item: OutboxItem) -> str:
        """An outbox item's topic (its event type is read back from the body only when the topic uses it)."""
        if not self._typed_topic:
            return self.topic_for(item.source)
        return self.topic_for(item.source, str(json.loads(item.body).get("type", "")))

    # -- paho callbacks (run on the delivery thread, inside loop() / publish()) --
    def _on_connect(self, client: object, userdata: object, flags: object, reason_code: object,
                    properties: object = None) -> None:
        if getattr(reason_code, "is_failure", False):
            self._connect_error = f"broker {self.broker} refused the connection: {reason_code}"
        else:
            self._connected = True

    def _on_disconnect(self, client: object, userdata: object, flags: object, reason_code: object,
                       properties: object = None) -> None:
        self._connected = False

    def _on_publish(self, client: object, userdata: object, mid: int, reason_code: object,
                    properties: object = None) -> None:
        seq = self._inflight.pop(mid, None)
        if seq is not None and not getattr(reason_code, "is_failure", False):
            self._acked.append(seq)

    # -- delivery thread --
    def _connect(self) -> None:
        """A fresh client, connected (CONNACK received) or raising."""
        mqtt = self._mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=True,
                             protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        if self.config.username is not None:
            password = self.config.password.get_secret_value() if self.config.password else None
            client.username_pw_set(self.config.username, password)
        client.max_inflight_messages_set(self.config.max_inflight)
        client.max_queued_messages_set(0)
        client.connect_timeout = 5.0
        client.on_connect, client.on_disconnect = self._on_connect, self._on_disconnect
        client.on_publish = self._on_publish
        self._client, self._connected, self._connect_error = client, False, None
        self._inflight.clear()
        self._acked.clear()
        client.connect(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        for _ in range(100):  # CONNACK within 5 s
            if self._connected or self._connect_error or self._stop.is_set():
                break
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                raise MqttError(self._connect_error or f"broker {self.broker} closed the connection before CONNACK")
        if self._connect_error:
            raise MqttError(self._connect_error)
        if not self._connected and not self._stop.is_set():
            raise MqttError(f"no CONNACK from broker {self.broker} within 5 s")

    def _pump(self) -> None:
        """Publish from the outbox and collect acknowledgements until the link breaks or the sink stops."""
        mqtt, client, last_seq = self._mqtt, self._client, 0
        assert client is not None
        while not self._stop.is_set():
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS or not self._connected:
                raise MqttError(f"lost the connection to broker {self.broker}")
            if self._acked:
                self.outbox.remove(self._acked)
                self._acked.clear()
            room = self.config.max_inflight - len(self._inflight)
            if room <= 0:
                continue
            for item in self.outbox.peek(room, after_seq=last_seq):
                info = client.publish(self._topic_of(item), item.body, qos=self.config.qos)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    raise MqttError(f"publish to broker {self.broker} failed: {mqtt.error_string(info.rc)}")
                last_seq = item.seq
                if self.config.qos == 0:  # nothing to wait for (paho calls on_publish once it is written)
                    self._acked.append(item.seq)
                    self._inflight.pop(info.mid, None)
                else:
                    self._inflight[info.mid] = item.seq

    def _deliver_loop(self) -> None:
        backoff = Backoff(0.2, self.config.reconnect_max_s)
        while not self._stop.is_set():
            try:
                self._connect()
                if self._stop.is_set():
                    break
                self._up(f"connected to broker {self.broker}")
                backoff.reset()
                self._pump()
            except (OSError, MqttError) as exc:
                self._down(f"broker {self.broker}: {type(exc).__name__}: {exc}")
            self._disconnect()
            self._sleep(backoff.next())

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.disconnect()  # writes DISCONNECT and closes the socket, if one is open
        except (OSError, ValueError) as exc:
            log.debug("sink 'mqtt': closing the connection: %s", exc)
        self._connected = False
