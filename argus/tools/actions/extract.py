"""Keypoint sequences of the people in a clip, from Argus's own pose stage and tracker (cached).

Every tracked row of every frame is kept in the cache (`<cache>/actions/<clip hash>-<settings>.npz`,
by content: a renamed or linked clip hits),
so a second training run or a change of main-person choice costs no inference. `main_person`
then stitches the clip's labelled person: the biggest track (or the one the labels point at, see
`main_person`), plus the tracks of similar size that continue it without overlapping in time (an id
switch during a fall).

The person finder is the one the actions guide recommends for falls: whole-frame pose at 640 with
`score_min` 0.1 and the tracker's thresholds read as absolute scores (high 0.5, low 0.1, new track 0.3),
because a person lying on the floor scores 0.1-0.3 after minutes at 0.8 and the default relative
thresholds drop them. On the 10 people of the extended fall set no choice was made on, the shipped rules
caught 40 of 46 fall clips with it against 27 with `score_min` 0.25 and the default tracker, at 4 false
alarms each (docs/guides/actions.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from argus.tools.actions.labels import DataError
from engines.cache import build_cached, cache_dir, cache_key, file_hash
from pipeline.errors import ArgusError
from pipeline.types import Frame, Packet
from stages.pose import PoseConfig, PoseStage
from stages.track import TrackConfig, TrackStage

SUBJECT_RADIUS = 0.35  # frame fractions: how far a track's mean centre may lie from a clip's `subject`
TRACK = {"score_mode": "absolute", "high_score": 0.5, "low_score": 0.1, "new_track_score": 0.3}  # track stage
SETTINGS = {"version": 1, "model": "yolo11n-pose", "imgsz": 640, "score_min": 0.1, "tracker": {"argus": TRACK}}


@dataclass
class TrackedClip:
    """All tracked rows of one clip. Per frame: `pts` (F,), `index` (F,); per row: `frame` (row -> frame
    number in 0..F-1), `track_id`, `xyxy` (R, 4), `keypoints` (R, 17, 3)."""

    pts: np.ndarray
    index: np.ndarray
    frame: np.ndarray
    track_id: np.ndarray
    xyxy: np.ndarray
    keypoints: np.ndarray
    size: tuple[int, int]  # (height, width)


@dataclass
class Sequence:
    """One person over a clip: `pts` (F,), `keypoints` (F, 17, 3) and `xyxy` (F, 4), NaN where absent."""

    pts: np.ndarray
    keypoints: np.ndarray
    xyxy: np.ndarray

    @property
    def present(self) -> np.ndarray:
        return ~np.isnan(self.xyxy[:, 0])


def _run(path: Path, pose: PoseStage) -> dict[str, np.ndarray]:
    from stages.sources.video import VideoSource

    try:
        source = VideoSource(path.stem, str(path))
    except ArgusError as exc:
        raise DataError(f"{path}: unreadable clip ({exc})") from None
    track = TrackStage(TrackConfig(**TRACK))  # type: ignore[arg-type]
    pts, index, frames, ids, boxes, kpts = [], [], [], [], [], []
    size = (0, 0)
    try:
        for item in source.items(threading.Event()):
            if not isinstance(item, Frame):
                continue
            packet = track.process(pose.process([Packet(item)]))[0]
            det = packet.detections
            size = (item.height, item.width)
            keep = det.track_id >= 0
            carried = det.column("carried")
            if carried is not None:
                keep &= ~carried.astype(bool)
            n = len(pts)
            pts.append(item.pts_s)
            index.append(item.index)
            frames.extend([n] * int(keep.sum()))
            ids.extend(det.track_id[keep].tolist())
            boxes.append(det.xyxy[keep])
            kpts.append(det.keypoints[keep] if det.keypoints is not None else np.zeros((int(keep.sum()), 17, 3)))
    except ArgusError:
        raise
    except Exception as exc:  # a decoder error: name the clip
        raise DataError(f"{path}: unreadable clip ({exc})") from None
    finally:
        source.close()
        track.close()
    if not pts:
        raise DataError(f"{path}: unreadable clip (no frame decoded)")
    return {"pts": np.asarray(pts, np.float64), "index": np.asarray(index, np.int64),
            "frame": np.asarray(frames, np.int64), "track_id": np.asarray(ids, np.int64),
            "xyxy": np.concatenate(boxes).astype(np.float32).reshape(-1, 4),
            "keypoints": np.concatenate(kpts).astype(np.float32).reshape(-1, 17, 3),
            "size": np.asarray(size, np.int64)}


def extract(path: Path, pose: Callable[[], PoseStage]) -> TrackedClip:
    """The tracked rows of clip `path` (cached by its content and the extraction settings); `pose`
    builds the pose stage only when the cache misses."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: clip not found")
    try:
        digest = file_hash(path)
    except OSError as exc:
        raise DataError(f"{path}: unreadable clip ({exc.strerror or exc})") from None
    target = cache_dir() / "actions" / f"{digest}-{cache_key(**SETTINGS)}.npz"  # by content, not name

    def build(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.savez_compressed(handle, **_run(path, pose()))

    build_cached(target, build)
    with np.load(target) as data:
        return TrackedClip(data["pts"], data["index"], data["frame"], data["track_id"], data["xyxy"],
                           data["keypoints"], tuple(int(v) for v in data["size"]))  # type: ignore[arg-type]


def default_pose() -> PoseStage:
    return PoseStage(PoseConfig(model=SETTINGS["model"], imgsz=SETTINGS["imgsz"],  # type: ignore[arg-type]
                                score_min=SETTINGS["score_min"], embeddings=True))


@contextmanager
def lazy_pose() -> Iterator[Callable[[], PoseStage]]:
    """A `pose` for `extract` over many clips: the default pose stage, built on the first cache miss
    only and closed on exit."""
    stage: PoseStage | None = None

    def pose() -> PoseStage:
        nonlocal stage
        if stage is None:
            stage = default_pose()
        return stage

    try:
        yield pose
    finally:
        if stage is not None:
            stage.close()


def main_person(clip: TrackedClip, min_area_ratio: float = 0.4,
                subject: tuple[float, float] | None = None) -> Sequence | None:
    """The clip's main person (see the module doc), or None when nobody was tracked. `subject` (x, y as
    fractions of the frame: where the labelled person is on average) picks that person when others are in
    view too (a bystander, a picture-in-picture view of the same scene): only tracks whose mean centre lies
    within SUBJECT_RADIUS of it, or the one nearest it, are theirs."""
    n = len(clip.pts)
    if len(clip.track_id) == 0:
        return None
    area = (clip.xyxy[:, 2] - clip.xyxy[:, 0]) * (clip.xyxy[:, 3] - clip.xyxy[:, 1])
    ids = np.unique(clip.track_id)
    total = {int(t): float(area[clip.track_id == t].sum()) for t in ids}
    mean = {int(t): float(area[clip.track_id == t].mean()) for t in ids}
    order = sorted(total, key=total.get, reverse=True)  # type: ignore[arg-type]
    if subject is not None:
        height, width = clip.size
        centre = (clip.xyxy[:, :2] + clip.xyxy[:, 2:]) / 2 / np.array([width, height])
        away = {int(t): float(np.linalg.norm(centre[clip.track_id == t].mean(0) - subject)) for t in ids}
        nearest = min(away, key=away.get)  # type: ignore[arg-type]
        order = [t for t in order if t == nearest or away[t] <= SUBJECT_RADIUS]
        order.sort(key=lambda t: t != nearest)  # the nearest first, then by total area
    best = mean[order[0]]
    owner = np.full(n, -1, np.int64)
    for t in order:
        if mean[t] < min_area_ratio * best:
            continue
        frames = clip.frame[clip.track_id == t]
        if (owner[frames] >= 0).mean() > 0.1:  # overlaps a chosen track in time: another person
            continue
        free = owner[frames] < 0
        owner[frames[free]] = t
    keypoints = np.full((n, 17, 3), np.nan, np.float32)
    xyxy = np.full((n, 4), np.nan, np.float32)
    for row in np.flatnonzero(owner[clip.frame] == clip.track_id):
        keypoints[clip.frame[row]] = clip.keypoints[row]
        xyxy[clip.frame[row]] = clip.xyxy[row]
    return Sequence(clip.pts.copy(), keypoints, xyxy)
