"""Event: JSON form, reserved keys that a payload can never overwrite, the event types (open: the
core's lifecycle ones plus what plugins register)."""

from __future__ import annotations

import logging

import pytest

from pipeline.event_types import CORE_EVENT_TYPES
from pipeline.registry import Registry, default_registry
from pipeline.sink_set import SinkSet, SinkSlot
from pipeline.stats import RunStats
from pipeline.types import Event, EventType, Packet


def test_event_json_has_id_type_and_payload() -> None:
    event = Event(EventType.TRACK_ENDED, "cam", pts_s=1.23456, track_id=4, payload={"duration_s": 2.0})
    data = event.to_json()
    assert data["type"] == "track_ended" and data["source"] == "cam" and data["track_id"] == 4
    assert data["duration_s"] == 2.0 and data["pts_s"] == 1.235 and len(data["id"]) == 32
    assert "frame_index" not in data


@pytest.mark.parametrize("key", ["id", "type", "source", "wall_time", "pts_s", "frame_index", "track_id"])
def test_event_payload_cannot_take_a_reserved_key(key: str) -> None:
    with pytest.raises(ValueError, match=f"'{key}'"):
        Event(EventType.STREAM_ERROR, "cam", payload={"error": "x", key: "forged"})


def test_event_to_json_ignores_reserved_keys_added_later() -> None:
    event = Event(EventType.STREAM_ERROR, "cam", frame_index=7, payload={"error": "boom"})
    event.payload.update(id="forged", source="other", type="track_started", pts_s=9.0, track_id=3)
    data = event.to_json()
    assert data["id"] == event.id and data["source"] == "cam" and data["type"] == "stream_error"
    assert data["frame_index"] == 7 and data["error"] == "boom"
    assert "pts_s" not in data and "track_id" not in data  # None fields stay out, not the payload's


def test_event_types_of_the_runner() -> None:
    assert {str(t) for t in (EventType.STAGE_ERROR, EventType.SINK_ERROR, EventType.CONFIG_APPLIED,
                             EventType.SOURCE_ADDED, EventType.SOURCE_REMOVED)} == {
        "stage_error", "sink_error", "config_applied", "source_added", "source_removed"}
    assert EventType("stage_error") is EventType.STAGE_ERROR


def test_core_knows_lifecycle_events_only_plugins_add_theirs() -> None:
    assert set(CORE_EVENT_TYPES) == {str(t) for t in EventType}
    assert not {"face_recognized", "action_started", "action_ended"} & set(CORE_EVENT_TYPES)
    assert set(Registry().event_types) == set(CORE_EVENT_TYPES)
    installed = default_registry().event_types
    assert installed["face_recognized"].origin == "stages.faces" and "name" in installed["face_recognized"].fields
    assert {"action_started", "action_ended"} <= set(installed)


def test_event_type_is_any_name() -> None:
    event = Event("zone_entered", "cam", payload={"zone": "door"})
    assert event.to_json()["type"] == "zone_entered" and event.type == "zone_entered"
    assert Event(EventType.STREAM_OPENED, "cam").type == "stream_opened"
    with pytest.raises(TypeError, match="event type name"):
        Event("", "cam")


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def start_source(self, start: object) -> None:
        self.calls.append("start_source")

    def write(self, packet: object) -> None:
        raise OSError("disk full")

    def write_events(self, events: object) -> None:
        self.calls.append("write_events")

    def end_source(self, source_id: str) -> None:
        self.calls.append("end_source")

    def close(self) -> None:
        self.calls.append("close")


def test_sink_set_calls_typed_methods_and_warns_once_per_unregistered_type(caplog: pytest.LogCaptureFixture) -> None:
    good, bad, stats = _Recorder(), _Recorder(), RunStats()
    good.write = lambda packet: good.calls.append("write")  # type: ignore[method-assign]
    sinks = SinkSet([SinkSlot("good", good), SinkSlot("bad", bad)], stats, Registry().event_types)
    with caplog.at_level(logging.WARNING, logger="argus"):
        sinks.events([Event("nobody_registered_me", "cam"), Event("nobody_registered_me", "cam")])
        sinks.events([Event(EventType.TRACK_STARTED, "cam", track_id=1)])
    assert caplog.text.count("'nobody_registered_me' is not registered") == 1
    sinks.write(Packet.__new__(Packet))  # `bad` raises: closed, reported, dropped
    sinks.end_source("cam")
    assert [slot.id for slot in sinks.slots] == ["good"]
    assert "write failed: OSError: disk full" in stats.failed_sinks["bad"]
    assert good.calls == ["write_events", "write_events", "write", "write_events", "end_source"]  # + sink_error
    assert bad.calls == ["write_events", "write_events", "close"]


def test_packet_has_no_faces_field() -> None:
    assert "faces" not in Packet.__slots__
