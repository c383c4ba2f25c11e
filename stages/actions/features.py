"""Windows of pose keypoints in seconds, normalised by the person's size and position.

A window is `steps` samples spread evenly over the last `window_s` seconds of a track; each
sample takes the track's observation nearest in time (within half a step), so 10 FPS, 30 FPS and
`frame_interval` give the same window. A sample with no observation (a missed or carried frame)
is marked invalid and its features are zero.

Normalisation: the window's scale S is the median over its samples of sqrt(box area) (about the
same for a standing and a lying person, unlike the box height); each sample's joints are given
relative to its own hip centre (box centre when the hips are not seen) divided by S, and the hip
centre's trajectory relative to the last sample's. Keypoints below `min_conf` are zero and flagged.

Per-sample features (FEATURES = 62): 34 joint x/y, 17 joint-seen flags, centre dx/dy, box w/S and
h/S, sample-valid flag, then view-independent cues the network would otherwise have to learn from
three people: torso direction (sin, cos of its angle from vertical), knees below hips (torso
lengths), hip-centre velocity (S per second, x and y) and box aspect (log w/h).
"""

from __future__ import annotations

import numpy as np

JOINTS = 17
FEATURES = 62
NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 0, 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 11, 12, 13, 14, 15, 16
# COCO-17 left/right swap (mirroring)
FLIP = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15])
# feature slices
XY = slice(0, 34)
SEEN = slice(34, 51)
CENTRE = slice(51, 53)
BOX = slice(53, 55)
VALID = 55
TORSO = slice(56, 58)
KNEES = 58
VELOCITY = slice(59, 61)
ASPECT = 61


def sample_times(t_end: float, window_s: float, steps: int) -> np.ndarray:
    return t_end - window_s * (steps - 1 - np.arange(steps)) / max(steps - 1, 1)


def window_features(pts: np.ndarray, keypoints: np.ndarray, xyxy: np.ndarray, t_end: float, window_s: float,
                    steps: int, min_conf: float = 0.3) -> np.ndarray | None:
    """(steps, FEATURES) float32 for the window ending at `t_end`, or None when the track does not
    cover the window (its first observation is later than the window's start by more than one
    step) or fewer than half the samples are valid.

    pts (M,) ascending seconds; keypoints (M, 17, 3); xyxy (M, 4): the track's observations (rows
    carried by the single-object tracker already left out; NaN rows count as missing).
    """
    sample = sample_window(pts, keypoints, xyxy, t_end, window_s, steps)
    if sample is None:
        return None
    return batch_features([sample], window_s / max(steps - 1, 1), min_conf)[0]


Sample = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # kp (S,17,3), box (S,4), valid (S,), when (S,)


def sample_window(pts: np.ndarray, keypoints: np.ndarray, xyxy: np.ndarray, t_end: float, window_s: float,
                  steps: int) -> Sample | None:
    """The observations nearest each sample time of the window (see `window_features`), or None."""
    if len(pts) == 0:
        return None
    step_s = window_s / max(steps - 1, 1)
    times = sample_times(t_end, window_s, steps)
    if pts[0] > times[0] + step_s:
        return None
    pos = np.searchsorted(pts, times)
    left = np.clip(pos - 1, 0, len(pts) - 1)
    right = np.clip(pos, 0, len(pts) - 1)
    pick = np.where(np.abs(pts[right] - times) < np.abs(pts[left] - times), right, left)
    when = pts[pick]
    box = xyxy[pick]
    valid = (np.abs(when - times) <= step_s / 2 + 1e-6) & ~np.isnan(box[:, 0])
    if valid.sum() < steps / 2:
        return None
    return keypoints[pick], box, valid, when


def batch_features(samples: list[Sample], step_s: float, min_conf: float = 0.3) -> np.ndarray:
    """(N, steps, FEATURES) float32 for N sampled windows at once (numpy over the whole batch)."""
    kp = np.nan_to_num(np.stack([s[0] for s in samples]).astype(np.float64))
    box = np.nan_to_num(np.stack([s[1] for s in samples]).astype(np.float64))
    valid = np.stack([s[2] for s in samples])
    when = np.stack([s[3] for s in samples]).astype(np.float64)
    n, steps = valid.shape
    seen = (kp[..., 2] >= min_conf) & valid[..., None]
    wh = np.maximum(box[..., 2:] - box[..., :2], 1.0)
    area = np.where(valid, np.sqrt(wh[..., 0] * wh[..., 1]), np.nan)
    scale = np.nanmedian(area, axis=1)[:, None, None]  # (N, 1, 1)
    hips = seen[..., L_HIP] & seen[..., R_HIP]
    centre = np.where(hips[..., None], (kp[..., L_HIP, :2] + kp[..., R_HIP, :2]) / 2, (box[..., :2] + box[..., 2:]) / 2)
    last = steps - 1 - np.argmax(valid[:, ::-1], axis=1)
    out = np.zeros((n, steps, FEATURES), np.float32)
    rel = (kp[..., :2] - centre[..., None, :]) / scale[..., None]
    rel[~seen] = 0.0
    out[..., XY] = rel.reshape(n, steps, 34)
    out[..., SEEN] = seen
    out[..., CENTRE] = (centre - centre[np.arange(n), last][:, None, :]) / scale
    out[..., BOX] = wh / scale
    out[..., VALID] = valid
    shoulders = _mid(kp, seen, L_SHOULDER, R_SHOULDER)
    hip_mid = _mid(kp, seen, L_HIP, R_HIP)
    knees = _mid(kp, seen, L_KNEE, R_KNEE)
    torso = shoulders - hip_mid
    length = np.linalg.norm(torso, axis=-1)
    has_torso = ~np.isnan(length) & (np.nan_to_num(length) > 1e-3)
    safe = np.where(has_torso, length, 1.0)
    out[..., TORSO] = np.where(has_torso[..., None], np.stack([torso[..., 0] / safe, -torso[..., 1] / safe], -1), 0.0)
    knee_ok = has_torso & ~np.isnan(knees[..., 1])
    out[..., KNEES] = np.where(knee_ok, (knees[..., 1] - hip_mid[..., 1]) / safe, 0.0)
    # velocity: from the previous valid sample, by the observations' own times
    index = np.where(valid, np.arange(steps), -1)
    prev = np.maximum.accumulate(np.concatenate([np.full((n, 1), -1), index[:, :-1]], 1), axis=1)
    has_prev = valid & (prev >= 0)
    prev_safe = np.maximum(prev, 0)
    rows = np.arange(n)[:, None]
    dt = np.maximum(when - when[rows, prev_safe], step_s / 4)[..., None]
    velocity = (centre - centre[rows, prev_safe]) / dt / scale
    out[..., VELOCITY] = np.where(has_prev[..., None], velocity, 0.0)
    out[..., ASPECT] = np.log(wh[..., 0] / wh[..., 1])
    out[~valid] = 0.0
    return out


def _mid(kp: np.ndarray, seen: np.ndarray, a: int, b: int) -> np.ndarray:
    """(..., 2) midpoint of joints a and b, either one alone when only it is seen, NaN when neither."""
    sa, sb = seen[..., a:a + 1], seen[..., b:b + 1]
    pa, pb = kp[..., a, :2], kp[..., b, :2]
    return np.where(sa & sb, (pa + pb) / 2, np.where(sa, pa, np.where(sb, pb, np.nan)))


def mirror(features: np.ndarray) -> np.ndarray:
    """The same windows seen in a mirror (x negated, left and right joints swapped); (..., steps, F)."""
    out = features.copy()
    xy = out[..., XY].reshape(*out.shape[:-1], JOINTS, 2)[..., FLIP, :]
    xy[..., 0] *= -1
    out[..., XY] = xy.reshape(*out.shape[:-1], 34)
    out[..., SEEN] = out[..., SEEN][..., FLIP]
    out[..., CENTRE.start] *= -1
    out[..., TORSO.start] *= -1
    out[..., VELOCITY.start] *= -1
    return out
