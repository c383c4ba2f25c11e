"""Event: JSON form, reserved keys that a payload can never overwrite, the event types."""

from __future__ import annotations

import pytest

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


def test_packet_has_no_faces_field() -> None:
    assert "faces" not in Packet.__slots__
