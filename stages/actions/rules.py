"""`model: rules`: an action classifier that needs no training, from the geometry of a window.

Cues (S = the window's scale, sqrt of the box area, about 1.9 torso lengths for a standing adult;
"now" = the median of the last 3 samples, about 0.3 s of the 1.2 s window):
  - torso angle: of the shoulder-centre -> hip-centre line from vertical (0 upright, 90 horizontal);
  - knee drop: how far the knees are below the hips, in torso lengths (about 0.8-1 standing, near 0
    when seated facing the camera, negative when lying);
  - speed: of the hip centre over the window, S per second (median of the step speeds);
  - drop: the largest downward move of the hip centre within FALL_WINDOW_S seconds in the window, in S,
    and the fastest downward speed there, S per second;
  - settle: the hip centre's median speed (S per second) from the end of that drop to now, infinite
    while the drop is still under way (its lowest point is the last sample): a fall ends low and
    still, someone walking down stairs or dropping into a squat keeps moving or comes back up;
  - wrist height: of each seen wrist above the shoulder centre, torso lengths (median of "now");
  - onset: how long before "now" that drop began, seconds: a fall's `start_pts_s` (the rules decide
    once the body is down, near the end of the drop; the fall began when the hips started to drop).

Classes and their rules, first match wins (`RULES` holds every threshold):
  1. falling: drop >= fall_drop and drop speed >= fall_speed and settle <= fall_still_speed and, now,
     one of: torso angle >= fall_angle or the box wider than tall (a fast drop of hips and torso to
     horizontal); knees above the hips by
     -fall_knees_up torso lengths after a drop >= fall_drop_end_on (a backward fall seen end-on, where the
     torso stays vertical in the image: the person sits on the ground with knees up; a seated person's
     knees are level with the hips); a drop >= fall_collapse (a faint). The label holds while the drop
     is inside the window, then the person reads as lying;
  2. lying: torso angle >= lying_angle, or the box width >= lying_aspect x its height;
  3. hands_up: a wrist at least hands_up_height torso lengths above the shoulder centre, torso within
     upright_angle of vertical (one wrist: in a side view the far arm is hidden or misplaced);
  4. sitting: knee drop < sitting_knee (thighs about horizontal) with the torso under lying_angle;
  5. running: speed >= running_speed and the torso leaning >= running_lean (a brisk walker moves as fast
     in the image, in S per second, as a jogger going away from the camera; the jogger leans forward);
  6. walking: speed >= walking_speed;
  7. standing: otherwise.
Confidence: 0.55 + 0.45 x how far the deciding cue is past its threshold (capped at 1); for falling,
the mean of the drop's and the drop speed's margins (each capped at 1), so a fall that clears both
thresholds keeps a steady score while it is in the window instead of flickering around `enter`.
"""

from __future__ import annotations

import numpy as np

from stages.actions import features as f

CLASSES = ("standing", "walking", "running", "sitting", "lying", "falling", "hands_up")

# Chosen by `python run.py actions tune DATA_DIR` (coordinate search from the middle of each grid in
# argus/tools/actions/tune.py, eye labels) on the extended fall set of issue 28 (8 people: the shared
# clips plus argus/tools/actions/sources.py), the same values most leave-one-person-out folds chose.
# What to expect on new people is the leave-one-person-out figure of that same search
# (`actions eval --model tune-rules`), in docs/guides/actions.md.
RULES = {
    "fall_drop": 0.4,        # S: hip centre moves down at least this much ...
    "fall_speed": 0.6,       # S/s: ... at a peak downward speed of at least this ...
    "fall_window_s": 1.2,    # ... within this many seconds (fixed: not searched)
    "fall_angle": 40.0,      # degrees: torso at least this far from vertical at the end of the drop, or
    "fall_knees_up": -0.15,  # torso lengths: knees above the hips by this much (on the ground, seen end-on) ...
    "fall_drop_end_on": 0.4,  # S: ... after a drop of at least this, or
    "fall_collapse": 0.9,    # S: a drop of at least this (a collapse, any posture)
    "fall_still_speed": 99.0,  # S/s: the hip centre at most this fast since the drop ended (99 or more: not used)
    "lying_angle": 55.0,     # degrees
    "lying_aspect": 1.2,     # box width / height
    "sitting_knee": 0.55,    # torso lengths: knees at most this far below the hips
    "upright_angle": 30.0,   # degrees: hands_up needs the torso within this of vertical
    "hands_up_height": 0.5,  # torso lengths: a wrist at least this far above the shoulder centre is up
    "running_speed": 0.85,   # S per second, and ...
    "running_lean": 8.0,     # degrees: ... the torso leaning at least this much (joggers lean forward)
    "walking_speed": 0.35,   # S per second
}


def _mid(xy: np.ndarray, seen: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample midpoint of joints a and b (either alone when only one is seen) and whether any is seen."""
    sa, sb = seen[:, a], seen[:, b]
    both = sa & sb
    mid = np.where(both[:, None], (xy[:, a] + xy[:, b]) / 2, np.where(sa[:, None], xy[:, a], xy[:, b]))
    return mid, sa | sb


def cues(window: np.ndarray, window_s: float, r: dict[str, float] | None = None) -> dict[str, float]:
    """The rule inputs of one (steps, FEATURES) window (of the thresholds, only `fall_window_s` is used)."""
    steps = window.shape[0]
    dt = window_s / max(steps - 1, 1)
    valid = window[:, f.VALID] > 0
    xy = window[:, f.XY].reshape(steps, f.JOINTS, 2)
    seen = window[:, f.SEEN] > 0
    shoulders, s_seen = _mid(xy, seen, f.L_SHOULDER, f.R_SHOULDER)
    hips, h_seen = _mid(xy, seen, f.L_HIP, f.R_HIP)
    knees, k_seen = _mid(xy, seen, f.L_KNEE, f.R_KNEE)
    torso_vec = shoulders - hips
    torso_len = np.linalg.norm(torso_vec, axis=1)
    ok = s_seen & h_seen & valid & (torso_len > 1e-3)
    last = np.flatnonzero(valid)[-3:]
    last_ok = [i for i in last if ok[i]]
    angle = float(np.median(np.degrees(np.arctan2(np.abs(torso_vec[last_ok, 0]), -torso_vec[last_ok, 1])))) \
        if last_ok else float("nan")
    tl = float(np.median(torso_len[ok])) if ok.any() else 0.5
    knee_ok = [i for i in last if ok[i] and k_seen[i]]
    knee_drop = float(np.median((knees[knee_ok, 1] - hips[knee_ok, 1]) / tl)) if knee_ok else float("nan")
    box = window[:, f.BOX]
    aspect = float(np.median(box[last, 0] / np.maximum(box[last, 1], 1e-3)))
    centre = window[:, f.CENTRE]
    idx = np.flatnonzero(valid)
    if len(idx) >= 2:
        d = np.diff(centre[idx], axis=0) / (np.diff(idx)[:, None] * dt)
        speed = float(np.median(np.linalg.norm(d, axis=1)))
        span = max(1, round((RULES if r is None else r)["fall_window_s"] / dt))
        y = centre[idx, 1]
        gap = idx[None, :] - idx[:, None]  # [j, k]: samples from j to k
        move = np.where((gap > 0) & (gap <= span), y[None, :] - y[:, None], 0.0)
        j, k = np.unravel_index(int(np.argmax(move)), move.shape)
        drop = float(move[j, k])
        drop_speed = float(np.max(d[j:k, 1])) if k > j else 0.0
        after = np.linalg.norm(d[k:], axis=1)
        settle = float(np.median(after)) if len(after) and drop > 0 else float("inf")
        # the descent began at the last sample from j to k still within a tenth of the drop of y[j]
        # (argmax takes the first of equal moves: a person who stood still before falling gives j = 0)
        began = j + int(np.flatnonzero(y[j:k + 1] <= y[j] + 0.1 * drop)[-1]) if drop > 0 else j
        onset = float((steps - 1 - idx[began]) * dt) if drop > 0 else 0.0
    else:
        speed = drop = drop_speed = onset = 0.0
        settle = float("inf")
    heights = []  # per wrist: median height above the shoulder centre over the last samples, torso lengths
    for w in (f.L_WRIST, f.R_WRIST):
        lw = [i for i in last if seen[i, w] and s_seen[i]]
        heights.append(float(np.median(shoulders[lw, 1] - xy[lw, w, 1])) / tl if lw else float("nan"))
    seen_h = [h for h in heights if np.isfinite(h)]
    return {"angle": angle, "knee_drop": knee_drop, "aspect": aspect, "speed": speed, "drop": drop,
            "drop_speed": drop_speed, "settle": settle, "onset": onset,
            "wrist_high": max(seen_h) if seen_h else float("nan")}


def _conf(margin: float) -> float:
    return float(min(1.0, 0.55 + 0.45 * max(0.0, margin)))


def decide(c: dict[str, float], r: dict[str, float] | None = None) -> tuple[str, float]:
    """(label, confidence) from one window's cues and thresholds `r` (default `RULES`)."""
    r = RULES if r is None else r
    angle = c["angle"] if np.isfinite(c["angle"]) else (90.0 if c["aspect"] >= r["lying_aspect"] else 0.0)
    horizontal = angle >= r["fall_angle"] or c["aspect"] >= 1.0
    knees_up = (np.isfinite(c["knee_drop"]) and c["knee_drop"] <= r["fall_knees_up"]
                and c["drop"] >= r["fall_drop_end_on"])
    collapse = c["drop"] >= r["fall_collapse"]
    still = r.get("fall_still_speed", RULES["fall_still_speed"])
    settled = still >= 99.0 or c.get("settle", 0.0) <= still
    if (c["drop"] >= r["fall_drop"] and c["drop_speed"] >= r["fall_speed"] and settled
            and (horizontal or knees_up or collapse)):
        margins = [min(1.0, c["drop"] / r["fall_drop"] - 1), min(1.0, c["drop_speed"] / r["fall_speed"] - 1)]
        return "falling", _conf(float(np.mean(margins)))
    if angle >= r["lying_angle"] or c["aspect"] >= r["lying_aspect"]:
        return "lying", _conf(max((angle - r["lying_angle"]) / 30, c["aspect"] / r["lying_aspect"] - 1))
    upright = angle < r["upright_angle"]
    if upright and c["wrist_high"] >= r["hands_up_height"]:  # NaN (no wrist seen) compares False
        return "hands_up", _conf((c["wrist_high"] - r["hands_up_height"]) / r["hands_up_height"])
    if np.isfinite(c["knee_drop"]) and c["knee_drop"] < r["sitting_knee"]:
        return "sitting", _conf((r["sitting_knee"] - c["knee_drop"]) / r["sitting_knee"])
    if c["speed"] >= r["running_speed"] and angle >= r["running_lean"]:
        return "running", _conf(c["speed"] / r["running_speed"] - 1)
    if c["speed"] >= r["walking_speed"]:
        return "walking", _conf(min(c["speed"] / r["walking_speed"] - 1, r["running_speed"] / c["speed"] - 1))
    return "standing", _conf(1 - c["speed"] / r["walking_speed"])


def classify(window: np.ndarray, window_s: float, r: dict[str, float] | None = None) -> tuple[str, float]:
    """(label, confidence) of one window by the rules above."""
    return decide(cues(window, window_s, r), r)


def scores_of(decisions: list[tuple[str, float]]) -> np.ndarray:
    """(N, len(CLASSES)) scores: each decision's confidence on its class, the rest shared by the others."""
    out = np.zeros((len(decisions), len(CLASSES)), np.float32)
    for i, (label, conf) in enumerate(decisions):
        out[i] = (1 - conf) / (len(CLASSES) - 1)
        out[i, CLASSES.index(label)] = conf
    return out


def onsets_of(all_cues: list[dict[str, float]], decisions: list[tuple[str, float]]) -> np.ndarray:
    """(N,) seconds before each window's end that its decided action began: the drop's start for
    `falling`, 0 (the window's own time) for every other class."""
    return np.array([c.get("onset", 0.0) if label == "falling" else 0.0
                     for c, (label, _) in zip(all_cues, decisions, strict=True)], np.float64)


def classify_batch(windows: np.ndarray, window_s: float, r: dict[str, float] | None = None) -> np.ndarray:
    """(N, len(CLASSES)) scores of N windows (see `scores_of`)."""
    return classify_with_onsets(windows, window_s, r)[0]


def classify_with_onsets(windows: np.ndarray, window_s: float,
                         r: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores (N, len(CLASSES)), onsets (N,) seconds) of N windows (see `scores_of`, `onsets_of`)."""
    all_cues = [cues(w, window_s, r) for w in windows]
    decisions = [decide(c, r) for c in all_cues]
    return scores_of(decisions), onsets_of(all_cues, decisions)


def thresholds(overrides: dict[str, float] | None) -> dict[str, float]:
    """`RULES` with `overrides` applied; an unknown name is a ValueError naming it."""
    unknown = sorted(set(overrides or {}) - set(RULES))
    if unknown:
        raise ValueError(f"unknown rules threshold(s) {', '.join(unknown)} (known: {', '.join(RULES)})")
    return {**RULES, **(overrides or {})}
