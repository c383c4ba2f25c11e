"""TrackStage: per-source trackers, dt from frame indices, TRACK_STARTED / TRACK_ENDED events."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.stage import Stage
from pipeline.types import Detections, EventType, Frame, Packet
from stages.track import TrackConfig, TrackStage

_IMAGE = np.zeros((8, 8, 3), np.uint8)


def _packet(source: str, index: int, boxes: list[list[float]], fps: float = 10.0) -> Packet:
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    dets = Detections(xyxy=xyxy, score=np.full(len(xyxy), 0.9, np.float32),
                      class_id=np.zeros(len(xyxy), np.int32))
    return Packet(Frame(source, index, index / fps, _IMAGE), dets)


def _box(f: int, x0: float = 10.0) -> list[float]:
    return [x0 + 3 * f, 20.0, x0 + 3 * f + 30, 100.0]


def test_track_stage_events_started_once_and_ended_at_end_source() -> None:
    stage = TrackStage(TrackConfig(camera_motion=False))
    assert isinstance(stage, Stage)
    assert stage.name == "track"
    events = []
    for f in range(20):
        batch = [_packet("a", f, [_box(f), _box(f, 300)]), _packet("b", f, [_box(f)])]
        out = stage.process(batch)
        assert [len(p.detections.track_id) for p in out] == [2, 1]
        events += [e for p in out for e in p.events]
    started = [(e.source_id, e.track_id) for e in events if e.type == EventType.TRACK_STARTED]
    assert sorted(started) == [("a", 1), ("a", 2), ("b", 1)]
    assert not [e for e in events if e.type == EventType.TRACK_ENDED]
    ended = stage.end_source("a")
    assert sorted(e.track_id for e in ended) == [1, 2]
    assert all(e.type == EventType.TRACK_ENDED for e in ended)
    assert all(e.payload["frames"] == 20 and e.payload["duration_s"] == pytest.approx(1.9) for e in ended)
    assert stage.end_source("a") == []
    out = stage.process([_packet("a", 0, [_box(0)])])  # a restarted source starts from id 1 again
    assert out[0].detections.track_id.tolist() == [1]
    assert [e.track_id for e in stage.end_source("b")] == [1]
    stage.close()


def test_track_stage_track_ended_when_lost_too_long() -> None:
    stage = TrackStage(TrackConfig(lost_frames=3, camera_motion=False))
    for f in range(5):
        stage.process([_packet("a", f, [_box(f)])])
    events = []
    for f in range(5, 10):
        events += stage.process([_packet("a", f, [])])[0].events
    assert [(e.type, e.track_id, e.frame_index) for e in events] == [(EventType.TRACK_ENDED, 1, 4)]
    assert events[0].payload == {"duration_s": 0.4, "frames": 5}
    assert stage.end_source("a") == []


def test_track_stage_skipped_frames_use_dt() -> None:
    stage = TrackStage(TrackConfig(camera_motion=False))
    ids = []
    frames = [*range(10), *range(20, 120, 10)]  # then every 10th frame: the box moves 60 px a step
    for f in frames:
        box = [6.0 * f, 20.0, 6.0 * f + 40, 100.0]
        ids.append(stage.process([_packet("a", f, [box])])[0].detections.track_id[0])
    assert ids == [1] * len(frames)


@pytest.mark.parametrize("tracker", ["sort", "bytetrack", "argus"])
def test_track_stage_every_tracker_and_camera_motion(tracker: str) -> None:
    stage = TrackStage(TrackConfig(tracker=tracker, camera_motion=True))
    rng = np.random.default_rng(0)
    for f in range(6):
        image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        p = _packet("cam", f, [_box(f)])
        p.frame = Frame("cam", f, f / 10, image)
        out = stage.process([p])
    assert out[0].detections.track_id.tolist() == [1]


def test_track_stage_config_validates() -> None:
    assert TrackConfig().tracker == "argus"
    assert TrackConfig().lost_frames == 30
    with pytest.raises(ValidationError):
        TrackConfig(lost_frames=-1)
    with pytest.raises(ValidationError):
        TrackConfig(tracker="deepsort")
    with pytest.raises(ValidationError):
        TrackConfig(unknown_key=1)
    schema = TrackConfig.model_json_schema()
    assert schema["properties"]["lost_frames"]["description"]


def test_track_stage_frame_rate_from_timestamps() -> None:
    stage = TrackStage(TrackConfig())
    stage.process([_packet("a", 0, [_box(0)], fps=10.0)])
    stage.process([_packet("a", 1, [_box(1)], fps=10.0)])
    tracker = stage._sources["a"].tracker
    assert tracker.frame_rate == pytest.approx(10.0)
    fixed = TrackStage(TrackConfig(frame_rate=25.0))
    fixed.process([_packet("a", 0, [_box(0)], fps=10.0)])
    fixed.process([_packet("a", 1, [_box(1)], fps=10.0)])
    assert fixed._sources["a"].tracker.frame_rate == pytest.approx(25.0)
