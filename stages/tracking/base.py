"""The tracker protocol and the shared skeleton of the Kalman + IoU (motion-only) trackers.

Every tracker's `update` receives all detections of one frame and returns the same rows, in the
same order, with `track_id` filled: the id of the confirmed track a row was matched to, else -1.
Matching keeps row indices throughout; nothing is re-matched by IoU afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from pipeline.types import Detections, FeatureMap
from stages.tracking.kalman import BoxKalman, cxcywh_to_xyxy, xyxy_to_cxcywh
from stages.tracking.scores import ScoreScale
from stages.tracking.table import EndedTrack, TrackTable

__all__ = ["EndedTrack", "MotionTracker", "Tracker"]

_EMPTY = np.zeros(0, np.int64)


@runtime_checkable
class Tracker(Protocol):
    """A multi-object tracker for one stream.

    Optional: `predicted_boxes(track_ids, dt) -> (N, 4) xyxy` (NaN rows for unknown ids) moves the boxes
    of frames a detector skipped (`every_frames`) with the tracks' motion; without it they stay put."""

    def update(self, detections: Detections, frame_index: int, dt: float | None = None,
               image: np.ndarray | None = None, feature_map: FeatureMap | None = None) -> Detections:
        """Track one frame; `dt` in frames since the previous call (None = 1). `image` and
        `feature_map` are for trackers that look at the frame (camera motion, single-object)."""
        ...

    def pop_ended(self) -> list[EndedTrack]:
        """Confirmed tracks removed since the previous call."""
        ...

    def set_frame_rate(self, frame_rate: float) -> None:
        """Scale the velocity noise for a stream of `frame_rate` frames per second."""
        ...

    def finish(self) -> list[EndedTrack]:
        """End every track (the stream ended): the not yet popped removed ones plus all live ones."""
        ...

    def active_track_ids(self) -> list[int]:
        """Confirmed tracks still alive (matched or lost but not yet removed)."""
        ...


@dataclass
class IdCounter:
    """The next track id to issue; trackers that share one never issue the same id."""

    next: int


class MotionTracker:
    """Shared life cycle: predict, associate (subclass), correct, confirm, spawn, remove.

    Args:
        lost_frames: a confirmed track unmatched for more than this many frames is removed.
        min_hits: consecutive matches that confirm a tentative track (gets an id).
        new_track_score: minimum score of an unmatched detection to start a tentative track.
        std_pos / std_vel / std_meas: Kalman noise as fractions of the box size (see `BoxKalman`).
        score_scaled_noise: trust confident detections more in the Kalman update.
        confirm_first_frame: tracks started on a stream's first frame are confirmed at once.
        frame_rate: frames per second of the stream; velocity noise per frame is scaled by
            (30 / frame_rate) ** rate_exponent, as motion between frames grows at low rates.
        rate_exponent: see `frame_rate`.
        first_id: the id the first confirmed track gets (ids then count up from it); a stream that
            restarts continues from the previous tracker's `next_id`.
        score_mode: how score thresholds are read (`scores.py`): `absolute` (raw scores) or, for
            `quantile` / `range` / `adaptive`, as levels in the score distribution this stream has
            shown so far.
        score_bands: height bands of those levels (`scores.py`): 1 = one score distribution for
            all boxes; more = each box is read against boxes of a similar height.
    """

    # thresholds `adopt_settings` copies; subclasses add theirs
    SETTINGS: tuple[str, ...] = ("lost_frames", "min_hits", "new_track_score", "rate_exponent")

    def __init__(self, *, lost_frames: int = 30, min_hits: int = 2, new_track_score: float = 0.0,
                 std_pos: float = 0.05, std_vel: float = 0.00625, std_meas: float = 0.05,
                 score_scaled_noise: bool = False, confirm_first_frame: bool = True,
                 frame_rate: float = 30.0, rate_exponent: float = 1.0, first_id: int = 1,
                 score_mode: str = "absolute", score_bands: int = 1) -> None:
        if lost_frames < 0 or min_hits < 1:
            raise ValueError(f"lost_frames must be >= 0 and min_hits >= 1, got {lost_frames}, {min_hits}")
        if first_id < 1:
            raise ValueError(f"first_id must be >= 1, got {first_id}")
        self.lost_frames = lost_frames
        self.min_hits = min_hits
        self.new_track_score = new_track_score
        self.confirm_first_frame = confirm_first_frame
        self.std_vel = std_vel
        self.rate_exponent = rate_exponent
        self.tracks = TrackTable(BoxKalman(std_pos, std_vel, std_meas, score_scaled_noise))
        self.set_frame_rate(frame_rate)
        self._ids = IdCounter(first_id)
        self._ended: list[EndedTrack] = []
        self._calls = 0
        self._dt = 1.0
        self._cxcywh = np.zeros((0, 4))
        self.score_scale = None if score_mode == "absolute" else ScoreScale(score_mode, bands=score_bands)
        self._thr: tuple[float | np.ndarray, ...] = (new_track_score,)  # raw thresholds (`update`): floats or per box

    # -- subclass hooks -------------------------------------------------------------------
    def _associate(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return matched (track_rows, det_rows) for (N, 4) xyxy boxes and (N,) scores (float32)."""
        raise NotImplementedError

    def _compensate(self, image: np.ndarray | None) -> None:
        """Correct track states for camera motion before prediction (default: nothing)."""

    def _threshold_levels(self) -> tuple[float, ...]:
        """The score thresholds as configured; `_thr` holds them as raw scores, same order."""
        return (self.new_track_score,)

    @property
    def score_mode(self) -> str:
        """`absolute`, `quantile`, `range` or `adaptive` (see `scores.py`)."""
        return "absolute" if self.score_scale is None else self.score_scale.mode

    @property
    def score_bands(self) -> int:
        """Height bands of the score distribution (`scores.py`); 1 without bands or in `absolute`."""
        return 1 if self.score_scale is None else self.score_scale.bands

    # -- the protocol ---------------------------------------------------------------------
    def update(self, detections: Detections, frame_index: int, dt: float | None = None,
               image: np.ndarray | None = None, feature_map: FeatureMap | None = None) -> Detections:
        """Track one frame; returns `detections` with `track_id` (N,) int64 filled (-1 = none)."""
        dt = 1.0 if dt is None else float(dt)
        if dt < 0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        self._dt = dt
        t = self.tracks
        self._compensate(image)
        t.predict(dt)
        boxes = detections.xyxy  # (N, 4) float32
        n = len(boxes)
        scores = detections.score
        thr = self._threshold_levels()
        scale = self.score_scale
        if scale is not None:
            if scale.bands > 1:
                heights = boxes[:, 3] - boxes[:, 1]
                scale.observe(scores, heights)
                thr = scale.box_thresholds(thr, heights)
            else:
                scale.observe(scores)
                thr = scale.thresholds(thr)
        self._thr = thr
        self._cxcywh = cxcywh = xyxy_to_cxcywh(boxes)  # (N, 4) float64, for subclasses too
        ti, di = self._associate(boxes, scores) if n and len(t) else (_EMPTY, _EMPTY)
        t.correct(ti, cxcywh.take(di, 0), scores.take(di) if t.kalman.score_scaled else None, frame_index)

        first = self._calls == 0 and self.confirm_first_frame
        self._calls += 1
        tentative = t.id < 0
        if np.count_nonzero(tentative):
            self._confirm(t.hits >= self.min_hits)
        out = np.empty(n, np.int64)  # empty + fill: half the time of np.full for small arrays
        out.fill(-1)
        out[di] = t.id.take(ti)

        # remove before spawning: tentative tracks die on their first miss, confirmed ones after
        # lost_frames (tracks confirmed just now were matched, so `since` is 0 for them)
        dead = t.since > np.where(tentative, 0.0, float(self.lost_frames))
        self._ended += t.remove(dead)

        free = scores >= thr[0]
        free[di] = False
        rows = free.nonzero()[0]
        if len(rows):
            new = t.spawn(cxcywh.take(rows, 0), frame_index)
            if first or self.min_hits <= 1:
                self._confirm(np.arange(len(t)) >= new[0])
                out[rows] = t.id[new]
        return _with_track_id(detections, out)

    def _confirm(self, mask: np.ndarray) -> None:
        rows = (mask & (self.tracks.id < 0)).nonzero()[0]
        if len(rows):
            self.tracks.id[rows] = np.arange(self._ids.next, self._ids.next + len(rows))
            self._ids.next += len(rows)

    @property
    def next_id(self) -> int:
        """The id the next confirmed track will get (every id below it has been issued or skipped)."""
        return self._ids.next

    def predicted_boxes(self, track_ids: np.ndarray, dt: float) -> np.ndarray:
        """(N, 4) float64 xyxy boxes of the tracks `track_ids` moved `dt` frames on by their Kalman velocity,
        without changing any state (frames a detector skipped); NaN rows for ids this tracker has no
        track of (-1 included)."""
        out = np.full((len(track_ids), 4), np.nan)
        t = self.tracks
        if not len(t) or not len(track_ids):
            return out
        known = t.id >= 0
        rows = np.flatnonzero(known)
        order = np.argsort(t.id[rows])
        ids = t.id[rows][order]
        at = np.minimum(np.searchsorted(ids, track_ids), len(ids) - 1)
        found = (ids[at] == track_ids) if len(ids) else np.zeros(len(track_ids), bool)
        if found.any():
            state = t.mean[rows[order[at[found]]]]  # (M, 8) cx, cy, w, h and their velocities
            moved = state[:, :4] + dt * state[:, 4:]
            np.maximum(moved[:, 2:], 1.0, out=moved[:, 2:])
            out[found] = cxcywh_to_xyxy(moved)
        return out

    def share_ids(self, other: MotionTracker) -> None:
        """Issue ids from `other`'s counter from now on (trackers of one stream's classes: ids stay unique)."""
        self._ids = other._ids

    def adopt_settings(self, other: MotionTracker) -> None:
        """Take the thresholds (`SETTINGS`) of `other`, a tracker of the same class built from a
        new config, keeping every track, id and the frame rate: a config change in place."""
        if type(other) is not type(self):
            raise TypeError(f"cannot adopt the settings of a {type(other).__name__} in a {type(self).__name__}")
        for name in self.SETTINGS:
            setattr(self, name, getattr(other, name))
        self.set_frame_rate(self.frame_rate)  # rate-scaled settings follow the new exponents
        if other.score_scale is None or self.score_scale is None:
            self.score_scale = None if other.score_scale is None else (
                ScoreScale(other.score_scale.mode, bands=other.score_scale.bands))
        else:
            self.score_scale.copy_mode(other.score_scale)

    def pop_ended(self) -> list[EndedTrack]:
        """Confirmed tracks removed since the previous call."""
        ended, self._ended = self._ended, []
        return ended

    def set_frame_rate(self, frame_rate: float) -> None:
        """Scale the velocity noise for a stream of `frame_rate` frames per second."""
        if frame_rate <= 0:
            raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
        self.frame_rate = frame_rate
        self.tracks.kalman.std_vel = self.std_vel * (30.0 / frame_rate) ** self.rate_exponent

    def finish(self) -> list[EndedTrack]:
        """End every track (the stream ended): the not yet popped removed ones plus all live ones."""
        t = self.tracks
        return self.pop_ended() + t.remove(np.ones(len(t), bool))

    def active_track_ids(self) -> list[int]:
        """Ids of confirmed tracks still alive."""
        return [int(i) for i in self.tracks.id if i >= 0]


def _with_track_id(detections: Detections, track_id: np.ndarray) -> Detections:
    """`detections.with_columns(track_id=...)` without re-validating the untouched columns.

    `track_id` is built here as (N,) int64, so the result is valid by construction; skipping
    `__post_init__` saves most of the per-frame overhead of small frames. The columns are copied
    through their slot descriptors (1.1 µs against 2.0 µs for `object.__setattr__` by name).
    """
    out = object.__new__(Detections)
    for column in _KEPT_COLUMNS:
        column.__set__(out, column.__get__(detections))
    _TRACK_ID.__set__(out, track_id)
    return out


# slot descriptors of Detections: every column but track_id, and track_id
_KEPT_COLUMNS = tuple(Detections.__dict__[name] for name in Detections.__slots__ if name != "track_id")
_TRACK_ID = Detections.__dict__["track_id"]
