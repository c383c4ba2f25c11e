"""Windows and labels from labelled clips: the training and evaluation data of the action models.

Each clip's main person (`extract.main_person`) gives one window per frame (ending at that frame);
its target is the clip's label at the window's end, mapped to Argus's classes (`labels.CLASS_OF`).
Windows whose label is not a class (bending, jumping, transitions) are kept with target -1: never
trained on, but scored (a class predicted there is a false positive).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from argus.tools.actions.extract import Sequence, extract, lazy_pose, main_person
from argus.tools.actions.labels import CLASS_OF, NO_PERSON, UNSCORED, Clip, DataError
from stages.actions.features import FEATURES, window_features


@dataclass
class ClipData:
    clip: Clip
    sequence: Sequence


@dataclass
class Windows:
    x: np.ndarray  # (N, steps, FEATURES)
    y: np.ndarray  # (N,) class index, -1 for a label outside the classes
    person: np.ndarray  # (N,) object


def load_clips(clips: list[Clip], progress: Callable[[str], None] | None = None) -> list[ClipData]:
    """Extract (or read from the cache) every clip's main person; a clip with nobody is an error."""
    out = []
    with lazy_pose() as pose:
        for clip in clips:
            if progress:
                progress(clip.name)
            seq = main_person(extract(clip.path, pose), subject=clip.subject)
            if seq is None or seq.present.sum() < 2:
                raise DataError(f"{clip.path}: no usable person (nobody tracked in the clip)")
            out.append(ClipData(clip, seq))
    return out


def sequence_windows(seq: Sequence, window_s: float, steps: int, min_conf: float = 0.3,
                     stretch: float = 1.0) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """(frame pts, window or None) for every frame of `seq`; `stretch` != 1 plays the motion faster or
    slower (augmentation: a window of window_s * stretch seconds squeezed into `steps`)."""
    present = seq.present
    pts, kp, box = seq.pts[present], seq.keypoints[present], seq.xyxy[present]
    wins = []
    for t in seq.pts:
        cut = np.searchsorted(pts, t, side="right")
        wins.append(window_features(pts[:cut], kp[:cut], box[:cut], t, window_s * stretch, steps, min_conf))
    return seq.pts, wins


def warp(seq: Sequence, x_scale: float = 1.0, roll_deg: float = 0.0) -> Sequence:
    """The sequence seen by another camera, roughly (augmentation): x squeezed by `x_scale` (a more
    oblique view) and the image rolled by `roll_deg` about the first box centre; boxes become the
    bounds of their warped corners."""
    a = np.radians(roll_deg)
    m = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.diag([x_scale, 1.0])
    present = seq.present
    origin = ((seq.xyxy[present, :2] + seq.xyxy[present, 2:]) / 2)[0] if present.any() else np.zeros(2)
    kp = seq.keypoints.copy()
    kp[:, :, :2] = (kp[:, :, :2] - origin) @ m.T + origin
    corners = np.stack([seq.xyxy[:, [0, 1]], seq.xyxy[:, [2, 1]], seq.xyxy[:, [0, 3]], seq.xyxy[:, [2, 3]]], 1)
    corners = (corners - origin) @ m.T + origin
    xyxy = np.concatenate([corners.min(1), corners.max(1)], 1).astype(np.float32)
    return Sequence(seq.pts, kp.astype(np.float32), xyxy)


AUGMENT = ((1.0, 1.0, 0.0), (0.8, 1.0, 0.0), (1.25, 1.0, 0.0), (1.0, 0.7, 0.0), (1.0, 1.0, 12.0),
           (1.0, 1.0, -12.0))  # (time stretch, x scale, roll degrees)


def clip_windows(data: list[ClipData], classes: tuple[str, ...], window_s: float, steps: int,
                 stretch: float = 1.0, x_scale: float = 1.0, roll_deg: float = 0.0) -> Windows:
    xs, ys, persons = [], [], []
    for item in data:
        seq = item.sequence if x_scale == 1.0 and roll_deg == 0.0 else warp(item.sequence, x_scale, roll_deg)
        pts, wins = sequence_windows(seq, window_s, steps, stretch=stretch)
        for t, w in zip(pts, wins, strict=True):
            raw = item.clip.label_at(float(t))
            if w is None or raw is None or raw in (NO_PERSON, UNSCORED):
                continue
            cls = CLASS_OF.get(raw, raw)
            xs.append(w)
            ys.append(classes.index(cls) if cls in classes else -1)
            persons.append(item.clip.person)
    if not xs:
        return Windows(np.zeros((0, steps, FEATURES), np.float32), np.zeros(0, np.int64), np.zeros(0, object))
    return Windows(np.stack(xs), np.asarray(ys, np.int64), np.asarray(persons, object))


def training_windows(data: list[ClipData], classes: tuple[str, ...], window_s: float, steps: int,
                     augment: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of every clip's windows, plus the AUGMENT variants when `augment`."""
    parts = [clip_windows(data, classes, window_s, steps, *a) for a in (AUGMENT if augment else AUGMENT[:1])]
    return np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts])


def check_classes(data: list[ClipData], classes: tuple[str, ...], window_s: float, steps: int) -> None:
    """Every class needs at least one window of a tracked person (error naming a clip of that class)."""
    found = set(clip_windows(data, classes, window_s, steps).y.tolist())
    for i, name in enumerate(classes):
        if i not in found:
            where = next((d.clip.path for d in data if any(CLASS_OF.get(s[2], s[2]) == name
                                                          for s in d.clip.segments)), None)
            raise DataError(f"{where or name}: class '{name}' has no usable person (no tracked window "
                             f"of {window_s} s)")
