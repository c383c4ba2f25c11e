"""Simulated detectors over MOTChallenge ground truth, to test trackers on detectors they were not
tuned on.

A `DetectorSpec` describes one detector: how recall falls with box height and with occlusion by
other people (MOT15 has no visibility column: a box's occlusion is the largest fraction of it
covered by a ground-truth box whose bottom edge is lower in the image, i.e. closer to the camera),
how it scores people (`score` profile), how much its boxes jitter, and how many false positives it
adds per frame. Each person has a slowly varying "difficulty" (AR(1) over frames), so misses and
low scores come in runs as they do with a real detector. Everything is drawn from one seeded
`numpy.random.Generator`: the same spec, sequence and seed give the same detections.

Score profiles (u in [0, 1] is how easy the person is to see on this frame):
- `calibrated`: 0.1 + 0.9 u, false positives mostly below 0.4;
- `shifted`: 0.45 + 0.3 u (yolo11n-pose-like: small people 0.5-0.7), false positives 0.3-0.55;
- `compressed`: 0.3 + 0.25 u, false positives 0.25-0.4;
- `bimodal`: near 0.85 for easy people, near 0.3 for hard ones and for false positives;
- `pose`: yolo11n-pose as measured on vtest.mp4 (see `POSE_SCORE`): the score rises steeply with the
  person's height in network-input pixels, from about 0.3 below 90 px to about 0.86 above 150 px;
  a person's difficulty and occlusion shift it; boxes below the pose stage's `score_min` (0.25) are
  dropped, as the stage drops them. Use it with `imgsz` (heights are then network-input pixels).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from argus.tools.tracking.mot import MotSequence, read_mot_rows
from pipeline.types import Detections

ScoreProfile = Literal["calibrated", "shifted", "compressed", "bimodal", "pose"]

# yolo11n-pose (INT8, OpenVINO) on vtest.mp4 at imgsz 640 and 960, 3126 boxes: median score by box
# height in network-input pixels 0.33 (60-90 px), 0.38 (90-100), 0.54 (100-110), 0.72 (110-120),
# 0.79 (120-130), 0.84 (140-160), 0.86 (160-200); inter-quartile range up to 0.2 inside the rise.
# Fitted: score = lo + span * sigmoid((h - mid) / width - difficulty - occlusion * covered fraction).
POSE_SCORE = {"lo": 0.30, "span": 0.56, "mid": 107.0, "width": 8.0, "occlusion": 4.0, "score_min": 0.25}


@dataclass(frozen=True)
class DetectorSpec:
    """One simulated detector.

    Attributes:
        name: label used in unit names and tables.
        score: score profile (module docstring).
        recall: detection probability of a large, unoccluded person.
        half_height: box height in pixels at which recall drops to half.
        occlusion: recall is multiplied by (1 - occlusion * covered fraction).
        jitter: standard deviation of box centre / log-size noise, as a fraction of the box size.
        fp_per_frame: mean number of false positives per frame (Poisson).
        persistence: AR(1) coefficient of each person's difficulty from frame to frame.
        imgsz: when > 0, heights (`half_height`, the `pose` score) are in pixels of a network input
            whose long side is `imgsz` (frame height x imgsz / the frame's long side).
    """

    name: str
    score: ScoreProfile = "calibrated"
    recall: float = 0.9
    half_height: float = 40.0
    occlusion: float = 0.8
    jitter: float = 0.05
    fp_per_frame: float = 1.0
    persistence: float = 0.9
    imgsz: int = 0


# The detectors `track tune` uses besides the real public detections (the settings docs/guides/tracking.md lists).
DEFAULT_DETECTORS: tuple[DetectorSpec, ...] = (
    DetectorSpec("sim-calibrated", "calibrated", recall=0.9, half_height=35, jitter=0.05, fp_per_frame=1.0),
    DetectorSpec("sim-shifted", "shifted", recall=0.85, half_height=50, jitter=0.07, fp_per_frame=0.5),
    DetectorSpec("sim-compressed", "compressed", recall=0.8, half_height=40, jitter=0.06, fp_per_frame=1.5),
    DetectorSpec("sim-bimodal", "bimodal", recall=0.9, half_height=30, jitter=0.04, fp_per_frame=2.0),
    # yolo11n-pose-like at imgsz 960 (recall halves at 85 network px, where its median score nears
    # the 0.25 floor; the smallest boxes it found on vtest at 640 were about that tall)
    DetectorSpec("sim-pose", "pose", recall=0.9, half_height=85, jitter=0.05, fp_per_frame=0.5, imgsz=960),
)


def occlusion(xyxy: np.ndarray) -> np.ndarray:
    """(N,) largest fraction of each box covered by another box whose bottom edge is lower."""
    n = len(xyxy)
    if n < 2:
        return np.zeros(n)
    lt = np.maximum(xyxy[:, None, :2], xyxy[None, :, :2])
    rb = np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1).clip(1e-6)
    in_front = xyxy[None, :, 3] > xyxy[:, None, 3]  # [i, j]: j's bottom is below i's
    return np.where(in_front, inter / area[:, None], 0.0).max(axis=1).clip(0, 1)


def _scores(profile: str, u: np.ndarray, rng: np.random.Generator, false: bool) -> np.ndarray:
    n = len(u)
    if profile == "calibrated":
        s = 0.1 + 0.3 * rng.beta(1.2, 3, n) if false else 0.1 + 0.9 * u
    elif profile == "shifted":
        s = 0.3 + 0.25 * rng.beta(1.2, 3, n) if false else 0.45 + 0.3 * u
    elif profile == "compressed":
        s = 0.25 + 0.15 * rng.beta(1.2, 3, n) if false else 0.3 + 0.25 * u
    elif profile == "pose":  # u: the logit of the score rise (see `simulate`)
        p = POSE_SCORE
        s = p["score_min"] + 0.2 * rng.beta(1.2, 3, n) if false else p["lo"] + p["span"] / (1 + np.exp(-u))
    elif profile == "bimodal":
        high = np.zeros(n, bool) if false else rng.random(n) < u
        s = np.where(high, rng.normal(0.85, 0.05, n), rng.normal(0.3, 0.07, n))
    else:
        raise ValueError(f"unknown score profile {profile!r}")
    return np.clip(s + rng.normal(0, 0.02, n), 0.01, 0.999)


def simulate(seq: MotSequence, spec: DetectorSpec, seed: int = 0) -> MotSequence:
    """`seq` with its detections replaced by `spec`'s, simulated over its `gt/gt.txt`.

    Every ground-truth row is a person the detector may find, flag-0 rows included (real
    detectors find those too; the evaluation then counts them as false positives).
    """
    if seq.gt_path is None:
        raise ValueError(f"{seq.path}: no gt/gt.txt to simulate detections from")
    rng = np.random.default_rng([seed, *spec.name.encode()])
    gt = read_mot_rows(seq.gt_path)
    frames = gt[:, 0].astype(np.int64)
    ids = gt[:, 1].astype(np.int64)
    boxes = np.column_stack([gt[:, 2:4], gt[:, 2:4] + gt[:, 4:6]])
    heights = gt[:, 5][gt[:, 5] > 0]
    typical_h = heights if len(heights) else np.array([80.0])
    difficulty: dict[int, float] = {}
    a = spec.persistence
    scale = spec.imgsz / max(seq.width, seq.height) if spec.imgsz > 0 else 1.0
    out: list[Detections] = []
    for f in range(1, seq.length + 1):
        rows = np.flatnonzero(frames == f)
        xyxy = boxes[rows]
        h = (xyxy[:, 3] - xyxy[:, 1]) * scale
        occ = occlusion(xyxy)
        noise = np.empty(len(rows))
        for k, i in enumerate(ids[rows].tolist()):  # each person's difficulty drifts slowly
            d = a * difficulty.get(i, rng.normal()) + np.sqrt(1 - a * a) * rng.normal()
            difficulty[i] = noise[k] = d
        size = 1.0 / (1.0 + np.exp(-(h - spec.half_height) / (0.25 * spec.half_height)))
        ease = np.clip(size * (1 - spec.occlusion * occ) - 0.15 * noise, 0, 1)
        found = rng.random(len(rows)) < spec.recall * np.clip(ease + 0.1, 0, 1)
        if spec.score == "pose":  # the score's own dependence on height (module docstring)
            p = POSE_SCORE
            ease = (h - p["mid"]) / p["width"] - noise - p["occlusion"] * occ
        xyxy, u = xyxy[found], ease[found]
        h = xyxy[:, 3] - xyxy[:, 1]
        w = xyxy[:, 2] - xyxy[:, 0]
        c = (xyxy[:, :2] + xyxy[:, 2:]) / 2 + rng.normal(0, spec.jitter, (len(u), 2)) * np.column_stack([w, h])
        wh = np.column_stack([w, h]) * np.exp(rng.normal(0, spec.jitter, (len(u), 2)))
        tp = np.column_stack([c - wh / 2, c + wh / 2])
        n_fp = rng.poisson(spec.fp_per_frame)
        fh = np.minimum(rng.choice(typical_h, n_fp) * np.exp(rng.normal(0, 0.2, n_fp)), 0.9 * max(seq.height, 2))
        fw = fh * rng.uniform(0.3, 0.5, n_fp)
        x = rng.uniform(0, 1, n_fp) * np.maximum(seq.width - fw, 1)
        y = rng.uniform(0, 1, n_fp) * np.maximum(seq.height - fh, 1)
        fp = np.column_stack([x, y, x + fw, y + fh])
        score = np.concatenate([_scores(spec.score, u, rng, False), _scores(spec.score, np.zeros(n_fp), rng, True)])
        allb = np.concatenate([tp, fp]).astype(np.float32)
        order = rng.permutation(len(allb))
        if spec.score == "pose":  # the pose stage drops boxes below its score_min
            order = order[score[order] >= POSE_SCORE["score_min"]]
        out.append(Detections(xyxy=allb[order], score=score[order].astype(np.float32),
                              class_id=np.zeros(len(order), np.int32)))
    return dataclasses.replace(seq, detections=out)
