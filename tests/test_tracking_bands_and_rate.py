"""Height bands of the score thresholds (`scores.py`) and the frame-rate-scaled gates (`bytetrack.py`)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.types import Detections
from stages.track import TrackConfig, TrackStage, _SourceState
from stages.tracking import make_tracker
from stages.tracking.scores import ScoreScale

LEVELS = (0.63, 0.62, 0.01)


def _pose_like(scale: ScoreScale, frames: int = 60, seed: int = 0) -> None:
    """Feed small boxes (50 px) scoring 0.3-0.6 and large ones (150 px) scoring 0.75-0.9."""
    rng = np.random.default_rng(seed)
    for _ in range(frames):
        scores = np.concatenate([rng.uniform(0.3, 0.6, 5), rng.uniform(0.75, 0.9, 5)])
        heights = np.concatenate([np.full(5, 50.0), np.full(5, 150.0)])
        scale.observe(scores, heights)
        scale.box_thresholds(LEVELS, heights)


def test_tracking_bands_read_each_box_against_boxes_of_its_height() -> None:
    flat, banded = ScoreScale("range"), ScoreScale("range", bands=2)
    _pose_like(flat)
    _pose_like(banded)
    heights = np.array([50.0, 150.0, np.sqrt(50.0 * 150.0)])  # small, large, their geometric mean
    new_flat = flat.box_thresholds(LEVELS, heights)[0]
    new_small, new_large, new_mid = banded.box_thresholds(LEVELS, heights)[0]
    assert isinstance(new_flat, float) and new_flat > 0.6  # one distribution: a small 0.55 is weak
    assert 0.45 < new_small < 0.55 and 0.8 < new_large < 0.86  # each band its own 5th-95th range
    assert new_mid == pytest.approx((new_small + new_large) / 2, abs=1e-6)  # interpolated in log height


def test_tracking_bands_wait_for_enough_scores_and_ignore_absolute() -> None:
    scale = ScoreScale("range", prior=32, bands=3)
    scale.observe(np.full(40, 0.5), np.full(40, 100.0))  # fewer than prior x bands = 96 scores
    assert isinstance(scale.box_thresholds(LEVELS, np.full(3, 100.0))[0], float)
    assert ScoreScale("absolute", bands=3).box_thresholds(LEVELS, np.ones(2)) == LEVELS
    with pytest.raises(ValueError, match="bands"):
        ScoreScale("range", bands=0)


def test_tracking_bands_switched_on_mid_stream_use_only_scores_seen_with_heights() -> None:
    scale = ScoreScale("range")
    for _ in range(40):  # no bands: heights are not sampled
        scale.observe(np.array([0.5, 0.9]), np.array([50.0, 150.0]))
    scale.copy_mode(ScoreScale("range", bands=2))
    assert isinstance(scale.box_thresholds(LEVELS, np.array([50.0]))[0], float)  # 0 scores with heights yet
    _pose_like(scale, frames=20)  # 200 scores with heights (thresholds refresh every 16 frames)
    small, large = scale.box_thresholds(LEVELS, np.array([50.0, 150.0]))[0]
    assert 0.45 < small < 0.55 and 0.8 < large < 0.86


def _two_sizes(frames: int = 60, seed: int = 1) -> list[Detections]:
    """A small person scoring 0.45-0.55 and a large walker scoring 0.85-0.95 on every frame."""
    rng = np.random.default_rng(seed)
    out = []
    for f in range(frames):
        xyxy = np.array([[10 + f, 50, 30 + f, 100], [400 - 3 * f, 60, 460 - 3 * f, 210]], np.float32)
        score = np.array([rng.uniform(0.45, 0.55), rng.uniform(0.85, 0.95)], np.float32)
        out.append(Detections(xyxy=xyxy, score=score, class_id=np.zeros(2, np.int32)))
    return out


def test_tracking_bands_track_the_small_low_scoring_person() -> None:
    frames = _two_sizes()

    def small_ids(bands: int) -> int:
        tracker = make_tracker("argus", appearance=False, score_bands=bands)
        ids = [tracker.update(d, f).track_id[0] for f, d in enumerate(frames)]
        return int(np.count_nonzero(np.array(ids[-10:]) >= 0))
    assert small_ids(1) == 0  # one distribution: new tracks need ~0.76, the small person never gets one
    assert small_ids(2) == 10  # its own band: ~0.51


def test_tracking_bands_and_rate_settings_reach_the_tracker_and_change_in_place() -> None:
    stage = TrackStage(TrackConfig(camera_motion=False, appearance=False, score_bands=3, frame_rate=10))
    tracker = stage._new_tracker(stage.config)
    assert tracker.score_bands == 3 and tracker.rate_exponent == 1.0 and tracker.iou_rate_exponent == 1.0
    std_vel = tracker.tracks.kalman.std_vel
    stage._sources["a"] = _SourceState(tracker)  # a live source
    assert stage.reconfigure(TrackConfig(camera_motion=False, appearance=False, score_bands=1, frame_rate=10,
                                         rate_exponent=0.5, iou_rate_exponent=0.0))
    assert tracker.score_bands == 1 and tracker._iou_rate == 1.0
    assert tracker.tracks.kalman.std_vel == pytest.approx(std_vel / 3**0.5)  # (30/10)^0.5 instead of ^1


def _low_score_continuation(frame_rate: float, exponent: float) -> int:
    """A track, then low-score boxes overlapping its prediction by IoU ~0.35: how many continue it."""
    tracker = make_tracker("bytetrack", frame_rate=frame_rate, iou_rate_exponent=exponent, low_lost_frames=0)
    box = np.array([[100, 100, 140, 200]], np.float32)
    for f in range(5):
        tracker.update(Detections(xyxy=box, score=np.array([0.9], np.float32), class_id=np.zeros(1, np.int32)), f)
    shifted = box + np.array([[20, 0, 20, 0]], np.float32)  # half a width aside: IoU 1/3
    low = Detections(xyxy=shifted, score=np.array([0.3], np.float32), class_id=np.zeros(1, np.int32))
    return int(tracker.update(low, 5).track_id[0] >= 0)


def test_tracking_rate_scaled_low_gate_continues_tracks_at_low_frame_rates() -> None:
    assert _low_score_continuation(10.0, 0.0) == 0  # 0.5 gate: IoU 1/3 is not enough
    assert _low_score_continuation(10.0, 1.0) == 1  # 0.5 x 10/30 = 0.17 at 10 fps
    assert _low_score_continuation(30.0, 1.0) == 0  # unchanged at 30 fps and above
    assert _low_score_continuation(60.0, 1.0) == 0
