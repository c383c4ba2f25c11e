"""Simulated detectors over MOT ground truth (`argus/tools/tracking/simulate.py`), on synthetic sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from argus.tools.tracking.mot import load_sequence
from argus.tools.tracking.simulate import DEFAULT_DETECTORS, DetectorSpec, occlusion, simulate

_INI = "[Sequence]\nname=S\nframeRate=10\nseqLength={n}\nimWidth=800\nimHeight=400\n"


def write_sequence(root: Path, name: str = "S", frames: int = 60, people: int = 6, det: bool = True) -> Path:
    """A sequence folder with `people` walkers of different heights (20-200 px) in every frame."""
    seq = root / name
    (seq / "gt").mkdir(parents=True)
    (seq / "det").mkdir()
    (seq / "seqinfo.ini").write_text(_INI.format(n=frames))
    gt, dets = [], []
    for f in range(1, frames + 1):
        for i in range(people):
            h = 20 + 180 * i / max(people - 1, 1)
            x, y = 20 + 120 * i + 2 * f, 380 - h
            gt.append(f"{f},{i + 1},{x:.1f},{y:.1f},{0.4 * h:.1f},{h:.1f},1,-1,-1,-1\n")
            if det and i % 2 == 0:
                dets.append(f"{f},-1,{x:.1f},{y:.1f},{0.4 * h:.1f},{h:.1f},0.9,-1,-1,-1\n")
    (seq / "gt" / "gt.txt").write_text("".join(gt))
    (seq / "det" / "det.txt").write_text("".join(dets))
    return seq


def test_tracking_simulate_occlusion_counts_only_boxes_in_front() -> None:
    back = [0, 0, 10, 10]  # bottom at 10
    front = [5, 0, 15, 20]  # bottom at 20: covers half of `back`
    far = [100, 100, 110, 110]
    occ = occlusion(np.array([back, front, far], float))
    np.testing.assert_allclose(occ, [0.5, 0.0, 0.0])
    assert occlusion(np.zeros((0, 4))).shape == (0,)


def test_tracking_simulate_is_seeded_and_recall_grows_with_height(tmp_path: Path) -> None:
    seq = load_sequence(write_sequence(tmp_path, people=6))
    spec = DetectorSpec("t", "calibrated", recall=0.95, half_height=60, jitter=0.02, fp_per_frame=0.0)
    a, b, c = simulate(seq, spec, 1), simulate(seq, spec, 1), simulate(seq, spec, 2)
    assert len(a.detections) == seq.length == 60
    np.testing.assert_array_equal(np.concatenate([d.xyxy for d in a.detections]),
                                  np.concatenate([d.xyxy for d in b.detections]))
    assert sum(map(len, a.detections)) != sum(map(len, c.detections)) or not np.array_equal(
        np.concatenate([d.score for d in a.detections]), np.concatenate([d.score for d in c.detections]))
    boxes = np.concatenate([d.xyxy for d in a.detections])
    heights = boxes[:, 3] - boxes[:, 1]
    small = np.count_nonzero(heights < 40) / 60  # the 20 px walker (and noise): mostly missed
    large = np.count_nonzero(heights > 150) / 60  # the 164 and 200 px walkers: nearly always found
    assert small < 0.3 and large > 1.6
    scores = np.concatenate([d.score for d in a.detections])
    assert np.corrcoef(heights, scores)[0, 1] > 0.5  # calibrated: bigger people score higher


@pytest.mark.parametrize("spec", DEFAULT_DETECTORS, ids=lambda s: s.name)
def test_tracking_simulate_profiles_and_false_positives(tmp_path: Path, spec: DetectorSpec) -> None:
    seq = load_sequence(write_sequence(tmp_path, frames=200, people=3))
    out = simulate(seq, spec, 0)
    scores = np.concatenate([d.score for d in out.detections])
    assert scores.min() > 0 and scores.max() < 1
    hi = np.quantile(scores, 0.95)
    expected = {"calibrated": (0.9, 1.0), "shifted": (0.65, 0.8), "compressed": (0.45, 0.6),
                "bimodal": (0.8, 1.0), "pose": (0.8, 0.95)}[spec.score]
    assert expected[0] <= hi <= expected[1], hi
    count = sum(map(len, out.detections))
    assert count <= 200 * 3 * spec.recall + 200 * spec.fp_per_frame * 1.4  # recall cap + Poisson FPs
    assert count >= 200 * spec.fp_per_frame * 0.7  # FPs are there
    boxes = np.concatenate([d.xyxy for d in out.detections])
    assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])


def test_tracking_simulate_pose_scores_follow_height_in_network_pixels(tmp_path: Path) -> None:
    """The pose profile reproduces the vtest measurement: small people low, large people high."""
    seq = load_sequence(write_sequence(tmp_path, frames=200, people=6))  # 800 px wide: x1.2 at 960
    spec = DetectorSpec("p", "pose", recall=0.95, half_height=85, jitter=0.0, fp_per_frame=0.0, imgsz=960)
    out = simulate(seq, spec, 0)
    boxes = np.concatenate([d.xyxy for d in out.detections])
    scores = np.concatenate([d.score for d in out.detections])
    net_h = (boxes[:, 3] - boxes[:, 1]) * 960 / 800
    assert scores.min() >= 0.25  # the pose stage's score_min
    assert np.median(scores[net_h < 90]) < 0.45 and np.median(scores[net_h > 150]) > 0.8
    mid = (net_h > 100) & (net_h < 120)  # the 92 px walker, 110 network px: inside the rise
    assert 0.45 < np.median(scores[mid]) < 0.8
    assert np.count_nonzero(net_h < 40) < 0.3 * np.count_nonzero(net_h > 220)  # 24 vs 240 network px


def test_tracking_simulate_needs_ground_truth(tmp_path: Path) -> None:
    seq = load_sequence(write_sequence(tmp_path))
    seq.gt_path = None
    with pytest.raises(ValueError, match=r"no gt/gt\.txt"):
        simulate(seq, DEFAULT_DETECTORS[0])
