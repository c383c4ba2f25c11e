"""MQTT sink against a real Mosquitto broker (Debian `mosquitto`) started on a free loopback port.

The broker is stopped while events keep coming: every event still reaches a subscriber exactly
once after deduplication by id, in order per source. Skipped when mosquitto is not installed. Each
step waits (generously) for what it needs to see; nothing is timed.
"""

from __future__ import annotations

import getpass
import json
import logging
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline import EXIT_OK, Pipeline
from pipeline.config import load_config
from pipeline.types import Event
from stages.sinks.mqtt import MqttSink, MqttSinkConfig
from tests.conftest import write_video
from tests.live_servers import free_port
from tests.test_sinks_webhook import assert_all_once_in_order, emit
from tests.waiting import wait_event, wait_until

mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed (pip install 'argus-pipeline[mqtt]')")
MOSQUITTO = shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)
needs_mosquitto = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto not installed (apt-get install mosquitto)")


class Mosquitto:
    """One broker process with a temporary config; persistence on, so a stop keeps queued messages."""

    def __init__(self, folder: Path, password: tuple[str, str] | None = None) -> None:
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {folder}/",
                 "max_queued_messages 0", f"user {getpass.getuser()}"]
        if password is None:
            lines.append("allow_anonymous true")
        else:
            subprocess.run(["mosquitto_passwd", "-b", "-c", str(folder / "passwd"), *password], check=True)
            lines += ["allow_anonymous false", f"password_file {folder / 'passwd'}"]
        (folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    def start(self) -> Mosquitto:
        assert MOSQUITTO is not None
        log = (self.folder / "mosquitto.log").open("a")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.folder / "mosquitto.conf")],
                                        stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.folder / 'mosquitto.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


class Subscriber:
    """A paho subscriber with a persistent session (QoS 1) that reconnects by itself and records messages."""

    def __init__(self, port: int, topic: str = "argus/+/events") -> None:
        self.messages: list[dict] = []
        self.topic = topic
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{port}", clean_session=False)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = lambda c, *_: c.subscribe(self.topic, qos=1)
        self.client.on_message = lambda c, u, msg: self.messages.append(
            {**json.loads(msg.payload), "_topic": msg.topic})
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_event(self.subscribed, what="the subscriber's SUBACK")

    def wait_for(self, ids: set[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not ids <= {m["id"] for m in self.messages}:
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "broker")
    yield server
    server.stop()


def sink_config(port: int, **extra: object) -> MqttSinkConfig:
    return MqttSinkConfig(host="127.0.0.1", port=port, reconnect_max_s=0.5, **extra)


@needs_mosquitto
def test_mqtt_broker_down_every_event_once_in_order(tmp_path: Path, broker: Mosquitto,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    broker.start()
    subscriber = Subscriber(broker.port)
    sink = MqttSink(sink_config(broker.port, flush_timeout_s=60), tmp_path)
    sent: list[Event] = []
    try:
        emit(sink, sent, 20)
        wait_until(lambda: sink.outbox_size == 0, what="the first events to reach the broker")
        broker.stop()
        written = threading.Event()
        writer = threading.Thread(target=lambda: (emit(sink, sent, 100), written.set()), daemon=True)
        writer.start()  # write_events never waits for the broker: this ends while it is down
        wait_event(written, what="write_events to return while the broker is down")
        wait_until(lambda: "retrying with back-off" in caplog.text, what="the sink to notice the broker is down")
        waiting = sink.outbox_size
        broker.start()
        emit(sink, sent, 20)
        sink.close()  # delivers everything (flush_timeout_s is generous)
        subscriber.wait_for({e.id for e in sent}, timeout_s=60)
    finally:
        subscriber.close()
        sink.close()
    assert waiting >= 200, f"the events written while the broker was down should wait in the outbox ({waiting})"
    assert sink.outbox_size == 0
    assert_all_once_in_order(subscriber.messages, sent)
    print(f"{len(sent)} events, {len(subscriber.messages)} messages, {waiting} waited in the outbox")
    assert {m["_topic"] for m in subscriber.messages} == {"argus/a/events", "argus/b/events"}
    assert "retrying with back-off" in caplog.text and "connected to broker" in caplog.text


@needs_mosquitto
def test_mqtt_outbox_survives_restart(tmp_path: Path, broker: Mosquitto) -> None:
    first = MqttSink(sink_config(broker.port, flush_timeout_s=0.2), tmp_path)  # broker not started: all kept
    sent: list[Event] = []
    emit(first, sent, 25, sources=("cam",))
    first.close()
    assert first.outbox_size == len(sent) > 0
    broker.start()
    subscriber = Subscriber(broker.port)
    try:
        second = MqttSink(sink_config(broker.port, flush_timeout_s=60), tmp_path)
        assert second.outbox_size == len(sent)
        emit(second, sent, 15, sources=("cam",))
        second.close()
        subscriber.wait_for({e.id for e in sent}, timeout_s=60)
    finally:
        subscriber.close()
    assert second.outbox_size == 0
    assert_all_once_in_order(subscriber.messages, sent)


@needs_mosquitto
def test_mqtt_password_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd not installed (apt-get install mosquitto)")
    server = Mosquitto(tmp_path / "auth", password=("argus", "s3cr3t-pw")).start()
    try:
        wrong = MqttSink(sink_config(server.port, username="argus", password="wrong-pw", flush_timeout_s=1.0,
                                     outbox="wrong.db"), tmp_path)
        wrong.write_events([Event("track_started", "cam")])  # type: ignore[arg-type]
        with caplog.at_level(logging.DEBUG):
            wrong.close()
        assert wrong.outbox_size == 1 and "refused the connection" in caplog.text
        subscriber_config = sink_config(server.port, username="argus", password="s3cr3t-pw", flush_timeout_s=60,
                                        topic="t/{source_id}")
        right = MqttSink(subscriber_config, tmp_path)
        right.write_events([Event("track_started", "cam")])  # type: ignore[arg-type]
        right.close()
        assert right.outbox_size == 0
    finally:
        server.stop()
    assert "s3cr3t-pw" not in caplog.text and "wrong-pw" not in caplog.text
    assert "s3cr3t-pw" not in repr(subscriber_config)


@needs_mosquitto
def test_mqtt_topic_per_event_type_takes_any_registered_type(tmp_path: Path, broker: Mosquitto) -> None:
    broker.start()
    subscriber = Subscriber(broker.port, topic="argus/#")
    sink = MqttSink(sink_config(broker.port, topic="argus/{source_id}/{type}", flush_timeout_s=60), tmp_path)
    sent = [Event("zone_entered", "cam", payload={"zone": "door"}), Event("track_started", "lobby", track_id=1)]
    try:
        sink.write_events(sent)
        sink.close()
        subscriber.wait_for({e.id for e in sent}, timeout_s=60)
    finally:
        subscriber.close()
    assert {(m["_topic"], m["type"]) for m in subscriber.messages} == {
        ("argus/cam/zone_entered", "zone_entered"), ("argus/lobby/track_started", "track_started")}


@pytest.mark.parametrize("topic", ["argus/{camera}/events", "argus/#", ""])
def test_mqtt_bad_topic_is_a_config_error(topic: str) -> None:
    with pytest.raises(ValueError, match="topic"):
        MqttSinkConfig(host="localhost", topic=topic)


@needs_mosquitto
def test_runner_publishes_every_event_it_stores(tmp_path: Path, broker: Mosquitto) -> None:
    broker.start()
    subscriber = Subscriber(broker.port)
    a, b = write_video(tmp_path / "a.mp4", 8), write_video(tmp_path / "b.mp4", 5)
    config = load_config(None, replace={
        "sources": [{"id": "a", "uri": str(a)}, {"id": "b", "uri": str(b)}], "output_dir": str(tmp_path / "out"),
        "sinks": [{"type": "events", "path": "events.db"},
                  {"type": "mqtt", "host": "127.0.0.1", "port": broker.port, "client_id": "argus-test",
                   "flush_timeout_s": 60}],
        "runner": {"progress": False}})
    try:
        assert Pipeline(config, stages=[]).run() == EXIT_OK
        with sqlite3.connect(tmp_path / "out" / "events.db") as db:
            stored = [row[0] for row in db.execute("SELECT id FROM events ORDER BY rowid")]
        subscriber.wait_for(set(stored), timeout_s=60)
    finally:
        subscriber.close()
    assert len(stored) >= 4 and [m["id"] for m in subscriber.messages] == stored
    assert not list((tmp_path / "out").glob("outbox-mqtt.db-wal")) or \
        (tmp_path / "out" / "outbox-mqtt.db-wal").stat().st_size == 0


def test_mqtt_numeric_password_is_text_and_never_echoed() -> None:
    from pipeline.errors import ConfigError

    config = load_config(None, replace={"sinks": [{"type": "mqtt", "host": "h", "password": 123456}]})
    assert config.sinks[0].password.get_secret_value() == "123456"  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as info:
        load_config(None, replace={"sinks": [{"type": "mqtt", "host": "h", "port": "x", "password": 98765}]})
    assert "sinks.0.port" in str(info.value) and "98765" not in str(info.value)
