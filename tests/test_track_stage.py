"""TrackStage: per-source trackers, dt from frame indices, TRACK_STARTED / TRACK_ENDED events, ids
unique per source across reconnects and rebuilds, config changes in place."""

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
    out = stage.process([_packet("a", 0, [_box(0)])])  # a restarted source continues its ids
    assert out[0].detections.track_id.tolist() == [3]
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


def _run(stage: TrackStage, source: str, frames: range, boxes_of=lambda f: [_box(f)]) -> tuple[list, list]:
    """(track ids per frame, events) of `stage` over `frames` of `source`."""
    ids, events = [], []
    for f in frames:
        out = stage.process([_packet(source, f, boxes_of(f))])[0]
        ids.append(out.detections.track_id.tolist())
        events += out.events
    return ids, events


def _started(events: list) -> list[int]:
    return [e.track_id for e in events if e.type == EventType.TRACK_STARTED]


def test_track_stage_ids_continue_after_reconnects() -> None:
    stage = TrackStage(TrackConfig(camera_motion=False))
    two = lambda f: [_box(f), _box(f, 300)]  # noqa: E731
    ids, events = _run(stage, "cam", range(5), two)
    assert ids[-1] == [1, 2] and _started(events) == [1, 2]
    _run(stage, "other", range(3))
    assert sorted(e.track_id for e in stage.end_source("cam")) == [1, 2]  # stream_lost
    ids, events = _run(stage, "cam", range(50, 55), two)  # frames resume: a new tracker
    assert ids[-1] == [3, 4] and _started(events) == [3, 4]
    ended = stage.end_source("cam")
    assert sorted(e.track_id for e in ended) == [3, 4] and all(e.payload["frames"] == 5 for e in ended)
    ids, events = _run(stage, "cam", range(0, 3))  # a file restarting at frame 0: still no reuse
    assert ids[-1] == [5] and _started(events) == [5]
    assert _run(stage, "other", range(3, 4))[0] == [[1]]  # other sources keep their own ids


def test_track_stage_take_over_continues_ids_of_the_old_stage() -> None:
    old = TrackStage(TrackConfig(camera_motion=False))
    _run(old, "a", range(4), lambda f: [_box(f), _box(f, 300)])
    _run(old, "b", range(4))
    assert old.next_ids() == {"a": 3, "b": 2}  # live trackers count too
    ended = old.end_source("a")  # the runner ends the old stage's tracks before the swap
    assert sorted(e.track_id for e in ended) == [1, 2]
    new = TrackStage(TrackConfig(camera_motion=False, tracker="bytetrack"))
    new.take_over(old)
    ids_a, events = _run(new, "a", range(4, 8))
    assert ids_a[-1] == [3] and _started(events) == [3]
    ids_b, _ = _run(new, "b", range(4, 8))
    assert ids_b[-1] == [2]  # b was still open in the old stage: its ids go on above 1
    assert _run(new, "c", range(2))[0][-1] == [1]  # a source the old stage never saw starts at 1
    old.close()
    newer = TrackStage(TrackConfig(camera_motion=False))
    new.close()  # closing keeps the counters, a rebuild after close still continues
    newer.take_over(new)
    assert _run(newer, "a", range(2))[0][-1] == [4] and _run(newer, "b", range(2))[0][-1] == [3]


def test_track_stage_reconfigure_in_place_keeps_tracks_and_changes_behaviour() -> None:
    absolute = {"camera_motion": False, "score_mode": "absolute", "min_hits": 2}  # raw scores, as in the test
    stage = TrackStage(TrackConfig(**absolute))
    ids, _ = _run(stage, "a", range(5))
    assert ids[-1] == [1]
    tracker = stage._sources["a"].tracker
    assert stage.reconfigure(TrackConfig(**absolute, new_track_score=0.95, lost_frames=5))
    assert stage._sources["a"].tracker is tracker and tracker.new_track_score == 0.95 and tracker.lost_frames == 5
    ids, events = _run(stage, "a", range(5, 10), lambda f: [_box(f), _box(f, 300)])
    assert ids == [[1, -1]] * 5 and _started(events) == []  # open track goes on; 0.9 < 0.95: no new track
    assert stage.reconfigure(TrackConfig(**absolute))  # back to the default thresholds (0.63, 30)
    assert tracker.new_track_score == 0.63 and tracker.lost_frames == 30 and tracker.score_mode == "absolute"
    ids, events = _run(stage, "a", range(10, 13), lambda f: [_box(f), _box(f, 300)])
    assert ids[-1] == [1, 2] and _started(events) == [2]
    assert stage.reconfigure(TrackConfig(camera_motion=False, lost_frames=2))  # ends tracks sooner
    _, events = _run(stage, "a", range(13, 17), lambda f: [])
    assert sorted(e.track_id for e in events if e.type == EventType.TRACK_ENDED) == [1, 2]


def test_track_stage_reconfigure_switches_and_rebuilds() -> None:
    stage = TrackStage(TrackConfig(camera_motion=False))
    _run(stage, "a", range(3))
    tracker = stage._sources["a"].tracker
    assert tracker.camera is None and tracker.sot is None
    config = TrackConfig(camera_motion=True, single_object=True, frame_rate=12.5, high_score=0.5, match_iou=0.3)
    assert stage.reconfigure(config) and stage.config is config
    assert tracker.camera is not None and tracker.sot is not None
    assert (tracker.frame_rate, tracker.high_score, tracker.match_iou) == (12.5, 0.5, 0.3)
    assert _run(stage, "a", range(3, 5))[0][-1] == [1]
    for rebuild in (TrackConfig(tracker="bytetrack"), TrackConfig(camera_motion=True, single_object=True,
                                                                  appearance=False)):
        assert not stage.reconfigure(rebuild)
        assert stage.config is config and tracker.high_score == 0.5  # nothing changed
    sort = TrackStage(TrackConfig(tracker="sort"))
    _run(sort, "a", range(3))
    assert sort.reconfigure(TrackConfig(tracker="sort", high_score=0.4, match_iou=0.5, min_hits=4))
    t = sort._sources["a"].tracker
    assert (t.min_score, t.new_track_score, t.min_iou, t.min_hits) == (0.4, 0.4, 0.5, 4)


def test_track_stage_score_bands_default_per_model() -> None:
    """The score height bands come from the model's facts (the recipe gives pose models 2), never from its
    name; a set value wins; an in-place reconfigure keeps each source's per-model choice."""
    from pipeline.types import ModelFacts
    from stages.track import per_model_score_bands

    renamed_pose = ModelFacts("my-people-model", task="pose", score_bands=2)
    assert per_model_score_bands(renamed_pose) == 2
    assert per_model_score_bands(ModelFacts("yolo11n-pose-lookalike", task="detect")) == 1
    assert per_model_score_bands(None) == 1
    stage = TrackStage(TrackConfig())
    pose, other = _packet("cam", 0, [_box(0)]), _packet("file", 0, [_box(0)])
    pose.detector = renamed_pose
    stage.process([pose, other])
    assert stage._sources["cam"].tracker.score_bands == 2
    assert stage._sources["file"].tracker.score_bands == 1
    assert stage.reconfigure(TrackConfig(new_track_score=0.5)) is True
    assert stage._sources["cam"].tracker.score_bands == 2 and stage._sources["file"].tracker.score_bands == 1
    assert stage.reconfigure(TrackConfig(score_bands=1)) is True
    assert stage._sources["cam"].tracker.score_bands == 1
    fixed = TrackStage(TrackConfig(score_bands=3))
    fixed.process([pose])
    assert fixed._sources["cam"].tracker.score_bands == 3


def test_class_aware_tracking_never_moves_an_id_to_another_class() -> None:
    """One tracker per class sharing one id counter: a car appearing where a person was gets its own id,
    ids stay unique across classes, and `class_aware: false` (one tracker for all) lets the id move."""
    from pipeline.types import Detections

    def frame(index: int, classes: list[int]) -> Packet:
        packet = _packet("cam", index, [_box(0)] * len(classes))
        dets = packet.detections
        packet.detections = Detections(xyxy=dets.xyxy + np.arange(len(classes))[:, None] * 300, score=dets.score,
                                       class_id=np.array(classes, np.int32))
        return packet

    for aware, same in ((True, False), (False, True)):
        stage = TrackStage(TrackConfig(tracker="bytetrack", min_hits=1, class_aware=aware))
        first = stage.process([frame(0, [0, 2])])[0].detections.track_id.tolist()
        second = stage.process([frame(1, [2, 2])])[0].detections.track_id.tolist()  # a car where the person was
        assert len(set(first)) == 2 and min(first) >= 1
        assert (second[0] == first[0]) is same, (aware, first, second)
        if aware:
            assert second[1] == first[1] and second[0] not in first  # a new id, never a reused one
