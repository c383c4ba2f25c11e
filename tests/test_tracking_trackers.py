"""Tracker life cycle: stable ids, tentative/confirmed/lost/removed, per-instance ids, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.types import Detections
from stages.tracking import TRACKERS, make_tracker


def _dets(boxes: list[list[float]], score: float = 0.9) -> Detections:
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections(xyxy=xyxy, score=np.full(len(xyxy), score, np.float32),
                      class_id=np.zeros(len(xyxy), np.int32))


def _box(f: int, x0: float = 10.0, vx: float = 4.0) -> list[float]:
    return [x0 + vx * f, 50.0, x0 + vx * f + 40, 150.0]


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_tracking_trackers_stable_ids_on_moving_boxes(name: str) -> None:
    tracker = make_tracker(name, lost_frames=5)
    seen = []
    for f in range(30):
        out = tracker.update(_dets([_box(f), _box(f, x0=400, vx=-3)]), f)
        assert out.track_id is not None
        assert out.track_id.dtype == np.int64
        seen.append(out.track_id.tolist())
    final = seen[-1]
    assert sorted(final) == [1, 2]
    assert all(ids == final for ids in seen[3:])
    assert sorted(tracker.active_track_ids()) == [1, 2]


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_tracking_trackers_lost_then_removed_after_lost_frames(name: str) -> None:
    tracker = make_tracker(name, lost_frames=5)
    for f in range(10):
        tracker.update(_dets([_box(f)]), f)
    assert tracker.active_track_ids() == [1]
    for f in range(10, 15):  # 5 missed frames: lost but alive
        tracker.update(Detections.empty(), f)
        assert tracker.active_track_ids() == [1]
        assert tracker.pop_ended() == []
    tracker.update(Detections.empty(), 15)
    assert tracker.active_track_ids() == []
    ended = tracker.pop_ended()
    assert [(e.track_id, e.first_frame, e.last_frame, e.hits) for e in ended] == [(1, 0, 9, 10)]
    assert tracker.pop_ended() == []


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_tracking_trackers_recover_after_short_gap(name: str) -> None:
    tracker = make_tracker(name, lost_frames=10)
    for f in range(10):
        tracker.update(_dets([_box(f)]), f)
    for f in range(10, 13):
        tracker.update(Detections.empty(), f)
    out = tracker.update(_dets([_box(13)]), 13)
    assert out.track_id.tolist() == [1]


def test_tracking_trackers_skipped_frames_with_dt() -> None:
    tracker = make_tracker("argus")
    for f in range(0, 40, 4):  # every 4th frame, fast box: only dt keeps the prediction on it
        out = tracker.update(_dets([_box(f, vx=8.0)]), f, dt=4.0)
    assert out.track_id.tolist() == [1]


def test_tracking_trackers_ids_per_instance() -> None:
    a, b = make_tracker("argus"), make_tracker("argus")
    for f in range(3):
        ia = a.update(_dets([_box(f), _box(f, x0=300)]), f).track_id
        ib = b.update(_dets([_box(f)]), f).track_id
    assert sorted(ia.tolist()) == [1, 2]
    assert ib.tolist() == [1]


def test_tracking_trackers_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown tracker"):
        make_tracker("nope")


def test_tracking_trackers_tentative_needs_min_hits() -> None:
    tracker = make_tracker("bytetrack", min_hits=3)
    tracker.update(Detections.empty(), 0)  # first frame empty: later tracks must earn their id
    ids = [tracker.update(_dets([_box(f)]), f).track_id[0] for f in range(1, 5)]
    assert ids == [-1, -1, 1, 1]
    tracker.update(_dets([_box(9, x0=500)]), 5)
    tracker.update(Detections.empty(), 6)  # a tentative track that misses is dropped silently
    assert [e.track_id for e in tracker.pop_ended()] == []


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_tracking_trackers_empty_and_huge_frames(name: str) -> None:
    tracker = make_tracker(name)
    out = tracker.update(Detections.empty(), 0)
    assert len(out) == 0
    assert out.track_id is not None
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 4000, (3000, 2))
    boxes = np.hstack([xy, xy + rng.uniform(5, 30, (3000, 2))]).astype(np.float32)
    scores = rng.uniform(0.05, 1.0, 3000).astype(np.float32)
    dets = Detections(xyxy=boxes, score=scores, class_id=np.zeros(3000, np.int32))
    for f in range(1, 4):  # how fast belongs in `run.py bench tracker`
        out = tracker.update(dets, f)
    assert len(out) == 3000
    np.testing.assert_array_equal(out.xyxy, boxes)  # same rows, same order
    assert (out.track_id >= 1).sum() > 500
    assert len(set(out.track_id[out.track_id >= 0].tolist())) == (out.track_id >= 0).sum()
    out = tracker.update(Detections.empty(), 4)
    assert len(out) == 0


def test_tracking_trackers_rows_keep_order_and_scores() -> None:
    tracker = make_tracker("bytetrack")
    for f in range(5):
        d = _dets([_box(f), _box(f, x0=300)])
        d = d.with_columns(score=np.array([0.9, 0.3], np.float32) if f == 4 else d.score)
        out = tracker.update(d, f)
    assert out.track_id.tolist() == [1, 2]  # the low-score row still continues track 2


@pytest.mark.parametrize("name", ["bytetrack", "argus"])
def test_tracking_trackers_scene_cut_does_not_hand_over_ids(name: str) -> None:
    """A small person's track must not jump onto a close-up that overlaps it (IoU 0.14, 7x the area)."""
    tracker = make_tracker(name)
    small = Detections(xyxy=np.array([[624, 149, 756, 602]], np.float32), score=np.array([0.9], np.float32),
                       class_id=np.zeros(1, np.int32))
    for frame in range(5):
        out = tracker.update(small, frame)
    first_id = int(out.track_id[0])
    close_up = small.with_columns(xyxy=np.array([[126, 202, 960, 720]], np.float32))
    ids = {int(tracker.update(close_up, frame).track_id[0]) for frame in range(5, 10)}
    assert first_id >= 1 and first_id not in ids
