"""Score thresholds relative to a stream's scores (`stages/tracking/scores.py`) and the trackers using them."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.types import Detections
from stages.track import TrackConfig, TrackStage, _SourceState
from stages.tracking import make_tracker
from stages.tracking.scores import ScoreScale

LEVELS = (0.63, 0.62, 0.01)


def _feed(scale: ScoreScale, scores: np.ndarray, per_frame: int = 10) -> tuple[float, ...]:
    for start in range(0, len(scores), per_frame):
        scale.observe(scores[start:start + per_frame])
        thr = scale.thresholds(LEVELS)
    return thr


def test_tracking_scores_absolute_is_the_identity() -> None:
    scale = ScoreScale("absolute")
    assert _feed(scale, np.full(100, 0.3)) == LEVELS


def test_tracking_scores_prior_first_then_the_data() -> None:
    scale = ScoreScale("range", prior=32)
    first = scale.thresholds(LEVELS)  # nothing seen: the even prior over [0, 1] ~ absolute levels
    assert first == pytest.approx(LEVELS, abs=0.08)  # (5th-95th percentile of the prior: 0.06-0.94)
    rng = np.random.default_rng(0)
    thr = _feed(scale, rng.uniform(0.3, 0.55, 400))  # a compressed detector
    assert 0.3 < thr[1] < 0.5 and 0.3 < thr[0] < 0.5 and thr[2] < 0.33


@pytest.mark.parametrize("mode", ["range", "quantile"])
def test_tracking_scores_follow_a_shift_and_compression_of_the_scores(mode: str) -> None:
    rng = np.random.default_rng(1)
    scores = rng.beta(2, 2, 600)
    a = np.array(_feed(ScoreScale(mode, window=256), scores))
    b = np.array(_feed(ScoreScale(mode, window=256), 0.4 + 0.3 * scores))  # shifted down, compressed
    np.testing.assert_allclose(b, 0.4 + 0.3 * a, atol=1e-9)


def test_tracking_scores_adaptive_never_raises_an_absolute_threshold() -> None:
    rng = np.random.default_rng(2)
    high = np.array(_feed(ScoreScale("adaptive"), rng.uniform(0.8, 1.0, 500)))
    low = np.array(_feed(ScoreScale("adaptive"), rng.uniform(0.2, 0.5, 500)))
    np.testing.assert_allclose(high, LEVELS)  # a detector that is sure of everything: the levels
    assert np.all(low[:2] < 0.5)


def test_tracking_scores_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown score mode"):
        ScoreScale("zscore")


def _walkers(score: float, frames: int = 20) -> list[Detections]:
    out = []
    for f in range(frames):
        xyxy = np.array([[10 + 3 * f, 50, 50 + 3 * f, 150], [400 - 3 * f, 60, 440 - 3 * f, 160]], np.float32)
        out.append(Detections(xyxy=xyxy, score=np.full(2, score, np.float32), class_id=np.zeros(2, np.int32)))
    return out


def test_tracking_scores_low_scoring_detector_is_tracked_with_relative_thresholds() -> None:
    """yolo11n-pose-like: everybody 0.45-0.55. Absolute 0.6/0.7 never starts a track; the default does."""
    rng = np.random.default_rng(3)
    frames = _walkers(0.5)
    for det in frames:
        det.score[:] = rng.uniform(0.45, 0.55, 2)
    old = make_tracker("argus", score_mode="absolute", high_score=0.6, new_track_score=0.7, appearance=False)
    new = make_tracker("argus", appearance=False)
    assert new.score_mode == "range"
    old_ids = [old.update(d, f).track_id for f, d in enumerate(frames)]
    new_ids = [new.update(d, f).track_id for f, d in enumerate(frames)]
    assert all((ids == -1).all() for ids in old_ids)
    assert sorted(set(np.concatenate(new_ids[5:]).tolist())) == [1, 2]  # two stable ids


def test_tracking_scores_low_lost_frames_continue_a_track_on_low_boxes() -> None:
    def run(low_lost: int) -> int:
        tracker = make_tracker("bytetrack", low_lost_frames=low_lost, lost_frames=10)
        frames = _walkers(0.9, 12)
        for f, det in enumerate(frames[:8]):
            tracker.update(det, f)
        tracker.update(Detections.empty(), 8)  # one missed frame, then low-score boxes only
        ids = [tracker.update(det.with_columns(score=np.full(2, 0.3, np.float32)), 9 + k).track_id
               for k, det in enumerate(frames[9:12])]
        return int(np.count_nonzero(np.concatenate(ids) >= 0))
    assert run(0) == 0 and run(5) == 6


def test_tracking_scores_stage_switches_mode_in_place() -> None:
    stage = TrackStage(TrackConfig(camera_motion=False, appearance=False))
    tracker = stage._new_tracker(stage.config)
    assert tracker.score_mode == "range" and tracker.min_hits == 1 and tracker.low_lost_frames == 10
    stage._sources["a"] = _SourceState(tracker)  # a live source
    assert stage.reconfigure(TrackConfig(camera_motion=False, appearance=False, score_mode="absolute"))
    assert tracker.score_mode == "absolute" and tracker.score_scale is None
    assert stage.reconfigure(TrackConfig(camera_motion=False, appearance=False, score_mode="quantile"))
    assert tracker.score_mode == "quantile"


def test_tracking_scores_appearance_switches_to_two_hits_and_no_low_continuation() -> None:
    tracker = make_tracker("argus")
    assert (tracker.min_hits, tracker.low_lost_frames) == (1, 10)  # motion only (MOT data)
    det = _walkers(0.9, 1)[0]
    tracker.update(det.with_columns(embedding=np.eye(2, 8, dtype=np.float32)), 0)
    assert (tracker.min_hits, tracker.low_lost_frames, tracker.lost_frames) == (2, 0, 90)
    tracker.adopt_settings(make_tracker("argus", min_hits=3))  # a config change keeps the switch
    assert (tracker.min_hits, tracker.low_lost_frames) == (3, 0)
