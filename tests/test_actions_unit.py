"""Action stage pieces on synthetic skeletons: windows in seconds, normalisation, rules, hysteresis,
the stage's columns/events, carried rows, bad models and labels."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from argus.tools.actions.labels import read_clips
from pipeline.errors import ArgusError
from pipeline.stage import Stage
from pipeline.types import Detections, EventType, Frame, Packet
from stages.actions import rules
from stages.actions.events import ACTION_ENDED, ACTION_STARTED
from stages.actions.features import FEATURES, VALID, mirror, window_features
from stages.actions.hysteresis import ActionState
from stages.actions.stage import ActionConfig, ActionStage

_IMAGE = np.zeros((8, 8, 3), np.uint8)
# a standing person, hips at the origin, y down, ~180 px tall
_STAND = np.array([[0, -80], [-5, -85], [5, -85], [-10, -82], [10, -82], [-20, -60], [20, -60], [-25, -30],
                   [25, -30], [-25, 0], [25, 0], [-12, 0], [12, 0], [-12, 45], [12, 45], [-12, 90], [12, 90]],
                  np.float32)


def _lying(pose: np.ndarray) -> np.ndarray:
    return np.stack([pose[:, 1], -pose[:, 0] * 0.5], 1)  # rotated to horizontal


def _obs(pose: np.ndarray, at: tuple[float, float], scale: float = 1.0, conf: float = 0.9):
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = pose * scale + np.asarray(at)
    kp[:, 2] = conf
    box = np.concatenate([kp[:, :2].min(0) - 5 * scale, kp[:, :2].max(0) + 5 * scale])
    return kp, box


def _track(poses, fps: float, scale: float = 1.0, speed: float = 0.0):
    pts, kps, boxes = [], [], []
    for i, pose in enumerate(poses):
        kp, box = _obs(pose, (300 + speed * i / fps * scale, 300), scale)
        pts.append(i / fps)
        kps.append(kp)
        boxes.append(box)
    return np.asarray(pts), np.stack(kps), np.stack(boxes)


def test_window_needs_the_whole_window_and_is_rate_and_scale_independent() -> None:
    slow = _track([_STAND] * 13, fps=10, speed=60)  # 1.2 s at 10 FPS
    fast = _track([_STAND] * 37, fps=30, speed=60, scale=2.5)  # same motion, 30 FPS, 2.5x closer
    w10 = window_features(*slow, t_end=1.2, window_s=1.2, steps=12)
    w30 = window_features(*fast, t_end=1.2, window_s=1.2, steps=12)
    assert w10 is not None and w30 is not None and w10.shape == (12, FEATURES)
    np.testing.assert_allclose(w10, w30, atol=0.02)
    short = _track([_STAND] * 6, fps=10)  # 0.5 s: younger than the window -> no window, no label
    assert window_features(*short, t_end=0.5, window_s=1.2, steps=12) is None


def test_low_confidence_keypoints_and_missing_frames_do_not_pollute() -> None:
    pts, kps, boxes = _track([_STAND] * 13, fps=10)
    kps[:, 9:11, 2] = 0.1  # wrists unseen
    kps[:, 9:11, :2] = 1e6  # garbage coordinates must not leak
    boxes[4:7] = np.nan  # three missed frames
    w = window_features(pts, kps, boxes, 1.2, 1.2, 12)
    assert w is not None and np.isfinite(w).all() and np.abs(w).max() < 10
    assert w[:, VALID].sum() < 12
    np.testing.assert_allclose(mirror(mirror(w)), w)


def _classify(poses, fps=10, speed=0.0):
    pts, kps, boxes = _track(poses, fps, speed=speed)
    w = window_features(pts, kps, boxes, pts[-1], 1.2, 12)
    return rules.classify(w, 1.2)[0]


def test_rules_standing_walking_running_lying_hands_up_falling() -> None:
    assert _classify([_STAND] * 13) == "standing"
    assert _classify([_STAND] * 13, speed=50) == "walking"  # ~0.5 box sizes (sqrt of area) per second
    lean = _STAND.copy()
    lean[:11, 0] += 15  # upper body ~14 degrees forward: joggers lean
    assert _classify([lean] * 13, speed=300) == "running"
    assert _classify([_STAND] * 13, speed=300) == "walking"  # fast but upright: a brisk walker
    assert _classify([_lying(_STAND)] * 13) == "lying"
    up = _STAND.copy()
    up[[9, 10], 1] = -140  # wrists well above the head
    assert _classify([up] * 13) == "hands_up"
    sit = _STAND.copy()
    sit[[13, 14], 1] = 5  # knees level with the hips
    sit[[15, 16], 1] = 50
    assert _classify([sit] * 13) == "sitting"
    down = np.array([0.0, 30.0], np.float32)
    fall = [_STAND] * 5 + [_STAND + down * k for k in range(1, 4)] + [_lying(_STAND) + down * 3.7] * 5
    assert _classify(fall) == "falling"
    bend = [_STAND] * 5 + [_lying(_STAND)] * 8  # torso horizontal without the hips dropping: not a fall
    assert _classify(bend) != "falling"


def test_hysteresis_min_duration_enter_leave_and_fall_until_up() -> None:
    classes = ("standing", "lying", "falling")
    st = ActionState(enter=0.6, leave=0.4, min_duration_s=0.5)
    out = []
    seq = [(0.9, 0, 0)] * 10 + [(0.0, 0.0, 0.9)] * 2 + [(0.9, 0, 0)] * 5  # a 0.2 s blip of falling
    seq += [(0.45, 0.55, 0)] * 10  # standing weak but above leave: holds
    seq += [(0.0, 0.1, 0.9)] * 8 + [(0.0, 0.9, 0.1)] * 20 + [(0.9, 0.0, 0.0)] * 10
    for i, s in enumerate(seq):
        out += [(i, tr) for tr in st.update(classes, np.asarray(s), i * 0.1, i)]
    out += [(len(seq), tr) for tr in st.close(len(seq) * 0.1)]
    kinds = [(tr.kind, tr.label) for _, tr in out]
    assert kinds == [("started", "standing"), ("ended", "standing"), ("started", "falling"),
                     ("ended", "falling"), ("started", "standing"), ("ended", "standing")]
    fall_start = out[2][1]
    assert fall_start.start_pts_s == pytest.approx(2.7)
    fall_end = out[3][1]
    assert fall_end.end_pts_s == pytest.approx(5.5)  # cleared when standing began, not when lying did
    assert out[1][1].payload()["duration_s"] == pytest.approx(2.7)


def test_a_candidate_starts_at_its_onset_but_still_waits_min_duration() -> None:
    classes = ("standing", "falling")
    st = ActionState(enter=0.6, leave=0.4, min_duration_s=0.3)
    out = []
    for i in range(10):
        out += st.update(classes, np.asarray([0.9, 0.1]), i * 0.1, i)
    # falling is top from 1.0 s on, with an onset 0.6 s back (the drop began at 0.4 s)
    started = []
    for i in range(10, 14):
        started += [tr for tr in st.update(classes, np.asarray([0.1, 0.9]), i * 0.1, i, onset_s=0.6)
                    if tr.kind == "started"]
        if i < 13:
            assert not started  # min_duration_s counts from when it became the candidate (1.0 s)
    assert [tr.label for tr in started] == ["falling"]
    assert started[0].start_pts_s == pytest.approx(0.4)
    ended = [tr for tr in out + st.close(1.4) if tr.kind == "ended"]
    assert ended[-1].label == "falling" and ended[-1].start_pts_s == pytest.approx(0.4)
    # an onset reaching back before the current action began is cut there: events stay in order
    st = ActionState(enter=0.6, leave=0.4, min_duration_s=0.3)
    trs = [tr for i in range(5) for tr in st.update(classes, np.asarray([0.9, 0.1]), i * 0.1, i)]
    trs += [tr for i in range(5, 9) for tr in st.update(classes, np.asarray([0.1, 0.9]), i * 0.1, i, onset_s=2.0)]
    assert [(tr.kind, tr.label) for tr in trs] == [("started", "standing"), ("ended", "standing"),
                                                    ("started", "falling")]
    assert trs[2].start_pts_s == pytest.approx(trs[0].start_pts_s) and trs[1].end_pts_s >= trs[1].start_pts_s


def _packet(i: int, fps: float, poses, carried=None, source="cam") -> Packet:
    n = len(poses)
    if n == 0:
        det = Detections.empty(17, with_track_id=True)
        return Packet(Frame(source, i, i / fps, _IMAGE), det)
    kps, boxes = zip(*[_obs(p, (100 + 200 * k, 300)) for k, p in enumerate(poses)], strict=True)
    det = Detections(xyxy=np.stack(boxes), score=np.full(n, 0.9), class_id=np.zeros(n, np.int32),
                     track_id=np.arange(1, n + 1), keypoints=np.stack(kps))
    if carried is not None:
        det = det.with_columns(carried=np.asarray(carried, bool))
    return Packet(Frame(source, i, i / fps, _IMAGE), det)


def test_stage_labels_rows_emits_events_and_closes_on_end_source() -> None:
    stage = ActionStage(ActionConfig())
    assert isinstance(stage, Stage)
    events, labels = [], []
    for i in range(40):
        poses = [_STAND, _lying(_STAND)]
        out = stage.process([_packet(i, 10.0, poses, carried=[False, i % 2 == 1])])
        labels.append(out[0].detections.column("action").tolist())
        events += out[0].events
    assert labels[0] == [None, None]  # younger than the window
    assert labels[-1] == ["standing", "lying"]
    assert np.isfinite(out[0].detections.column("action_score")).all()
    rec = out[0].detections.to_records()
    assert rec[0]["action"] == "standing" and 0 < rec[0]["action_score"] <= 1
    started = {(e.track_id, e.payload["label"]) for e in events if e.type == ACTION_STARTED}
    assert started == {(1, "standing"), (2, "lying")}
    ended = stage.end_source("cam")
    assert {(e.track_id, e.type) for e in ended} == {(1, ACTION_ENDED), (2, ACTION_ENDED)}
    assert all(e.payload["duration_s"] > 0 for e in ended)
    assert stage.end_source("cam") == []


def test_carried_rows_never_fill_a_window() -> None:
    stage = ActionStage(ActionConfig())
    for i in range(30):
        out = stage.process([_packet(i, 10.0, [_STAND, _STAND], carried=[False, True])])
    assert out[0].detections.column("action").tolist() == ["standing", None]
    assert not [e for e in out[0].events if e.track_id == 2]


def _person_packet(i: int, fps: float, people: list[tuple[int, np.ndarray, tuple[float, float]]]) -> Packet:
    """A frame whose rows are (track id, pose, hip position) of each person."""
    if not people:
        return Packet(Frame("cam", i, i / fps, _IMAGE), Detections.empty(17, with_track_id=True))
    kps, boxes = zip(*[_obs(pose, at) for _, pose, at in people], strict=True)
    det = Detections(xyxy=np.stack(boxes), score=np.full(len(people), 0.9), class_id=np.zeros(len(people), np.int32),
                     track_id=np.array([tid for tid, _, _ in people]), keypoints=np.stack(kps))
    return Packet(Frame("cam", i, i / fps, _IMAGE), det)


def _fall_poses() -> list[tuple[np.ndarray, tuple[float, float]]]:
    """10 fps: standing 2 s, a 0.4 s drop of 140 px, then lying still (pose, hip position)."""
    out = [(_STAND, (300.0, 300.0))] * 20
    out += [(_STAND, (300.0, 300.0 + 35.0 * k)) for k in range(1, 5)]
    return out + [(_lying(_STAND), (300.0, 440.0))] * 20


def _fall_starts(frames: list[list[tuple[int, np.ndarray, tuple[float, float]]]]) -> list:
    stage = ActionStage(ActionConfig())
    events = [e for i, people in enumerate(frames) for e in stage.process([_person_packet(i, 10.0, people)])[0].events]
    return [e for e in events if e.type == ACTION_STARTED and e.payload["label"] == "falling"]


def test_a_fall_is_confirmed_while_the_track_goes_unseen_on_the_floor() -> None:
    fall = _fall_poses()
    seen = [[(1, pose, at)] for pose, at in fall]
    starts = _fall_starts(seen)
    assert len(starts) == 1 and starts[0].payload["start_pts_s"] == pytest.approx(2.0, abs=0.15)
    # the detector loses them as they land: no row from the frame after the drop on
    lost = [[(1, pose, at)] if i <= 24 else [] for i, (pose, at) in enumerate(fall)]
    starts = _fall_starts(lost)
    assert len(starts) == 1 and starts[0].track_id == 1
    assert starts[0].payload["start_pts_s"] == pytest.approx(2.0, abs=0.15)
    # the same when the empty frames' detections carry no keypoints array at all (a detector's empty set)
    stage = ActionStage(ActionConfig())
    bare = [_person_packet(i, 10.0, people) if people else
            Packet(Frame("cam", i, i / 10.0, _IMAGE), Detections.empty(None, with_track_id=True))
            for i, people in enumerate(lost)]
    events = [e for p in bare for e in stage.process([p])[0].events]
    assert [e.track_id for e in events if e.type == ACTION_STARTED and e.payload["label"] == "falling"] == [1]


def test_a_new_track_where_one_vanished_continues_its_window() -> None:
    fall = _fall_poses()
    # the tracker loses id 1 as the drop begins and starts id 7 on the floor 0.7 s later
    split = [[(1, pose, at)] if i <= 21 else [] if i < 28 else [(7, pose, at)] for i, (pose, at) in enumerate(fall)]
    assert _fall_starts([people for people in split if not people or people[0][0] == 1]) == []  # id 1 alone
    starts = _fall_starts(split)
    assert [e.track_id for e in starts] == [7]
    assert starts[0].payload["start_pts_s"] == pytest.approx(2.0, abs=0.15)
    # a person standing far away who appears then is somebody else: no window carried over, no fall
    elsewhere = [[(1, pose, at)] if i <= 21 else [] if i < 28 else [(7, _STAND, (900.0, 300.0))]
                 for i, (pose, at) in enumerate(fall)]
    assert _fall_starts(elsewhere) == []


def test_an_id_that_jumps_to_someone_else_starts_a_new_window() -> None:
    # id 1 stands at the top of the frame, then the tracker gives it to a person standing 400 px lower:
    # read as one window, that is a 400 px drop in 0.1 s
    frames = [[(1, _STAND, (300.0, 200.0))]] * 20 + [[(1, _STAND, (330.0, 600.0))]] * 20
    assert _fall_starts(frames) == []


def test_track_ended_event_closes_its_action() -> None:
    from pipeline.types import Event

    stage = ActionStage(ActionConfig())
    for i in range(25):
        stage.process([_packet(i, 10.0, [_STAND])])
    p = _packet(25, 10.0, [])
    p.events.append(Event(EventType.TRACK_ENDED, "cam", 2.5, 25, 1))
    out = stage.process([p])
    assert [e.type for e in out[0].events][-1] == ACTION_ENDED


def test_reconfigure_thresholds_in_place_and_check_order() -> None:
    stage = ActionStage(ActionConfig())
    assert stage.reconfigure(ActionConfig(enter=0.7, leave=0.3))
    assert not stage.reconfigure(ActionConfig(window_s=2.0))
    from pipeline.capabilities import capability_problem
    from stages.detect import DetectConfig
    from stages.pose import PoseConfig
    from stages.track import TrackConfig

    cfg = ActionConfig()
    assert capability_problem([cfg]) is None  # no declared set: rows may come from a plugin, not checked
    problem = capability_problem([PoseConfig(), cfg])
    assert "stages.1 (action) needs track_ids" in problem and "stages.0 (pose)" in problem
    assert capability_problem([PoseConfig(), TrackConfig(), cfg]) is None
    # a detector's boxes have no keypoints until a top-down pose stage adds them, before or after tracking
    det = DetectConfig(output="people")
    assert "keypoints" in capability_problem([det, TrackConfig(), cfg])
    assert capability_problem([det, TrackConfig(), PoseConfig(input="people"), cfg]) is None
    with pytest.raises(ValidationError, match="leave"):
        ActionConfig(enter=0.3, leave=0.5)


def test_bad_model_files_are_one_line_errors(tmp_path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ValidationError, match="not found"):
        ActionConfig(model=str(missing))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(ValidationError, match="not a loadable ONNX"):
        ActionConfig(model=str(junk))


def test_wrong_input_shape_is_rejected(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from argus.tools.actions.train import export

    class Wrong(torch.nn.Module):
        def forward(self, x):
            return torch.softmax(x.mean(1)[:, :3], 1)

    path = tmp_path / "wrong.onnx"
    export(Wrong(), path, ("a", "b", "c"), 1.2, 12, "cnn")
    ActionConfig(model=str(path))  # matches
    import onnx

    proto = onnx.load(str(path))
    proto.graph.input[0].type.tensor_type.shape.dim[2].dim_value = 51  # 17 joints x 3: not Argus features
    onnx.save(proto, str(path))
    with pytest.raises(ValidationError, match="does not match the window"):
        ActionConfig(model=str(path))
    with pytest.raises(ValidationError):
        ActionConfig(model=str(path), window_s=2.0)


def test_malformed_labels_name_file_and_line(tmp_path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "labels.csv").write_text("file,start_s,end_s,label,source,note\na.mp4,0,1,standing,eye,\n"
                                         "a.mp4,1,abc,lying,eye,\n")
    with pytest.raises(ArgusError, match=r"labels.csv:3: start_s/end_s"):
        read_clips(tmp_path)
    (tmp_path / "labels.csv").write_text("file,start_s,end_s,label\nb.mp4,0,1,standing\n")
    with pytest.raises(ArgusError, match=r"labels.csv:2: clip not found"):
        read_clips(tmp_path)
    (tmp_path / "labels.csv").unlink()
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ArgusError, match="empty_class: class folder holds no clip"):
        read_clips(tmp_path)


def test_bench_runs_both_ways() -> None:
    from argus.benchmarks.actions import bench_actions

    result = bench_actions(model="builtin", tracks=4, frames=5, rounds=1)
    assert result["batched_ms_per_frame"] > 0 and result["one_by_one_ms_per_frame"] > 0


def test_batches_of_several_frames_match_frame_by_frame() -> None:
    one, many = ActionStage(ActionConfig()), ActionStage(ActionConfig())
    fall = [_STAND] * 15 + [_STAND + np.array([0.0, 20.0 * k], np.float32) for k in range(1, 6)]
    fall += [_lying(_STAND) + np.array([0.0, 110.0], np.float32)] * 15
    singles = [one.process([_packet(i, 10.0, [pose])])[0] for i, pose in enumerate(fall)]
    batched = []
    for start in range(0, len(fall), 4):
        batched += many.process([_packet(i, 10.0, [fall[i]]) for i in range(start, min(start + 4, len(fall)))])
    labels_one = [p.detections.column("action").tolist() for p in singles]
    assert labels_one == [p.detections.column("action").tolist() for p in batched]
    events_one = [(e.type, e.payload["label"]) for p in singles for e in p.events]
    assert events_one == [(e.type, e.payload["label"]) for p in batched for e in p.events]
    assert "falling" in {e.payload["label"] for p in singles for e in p.events}
