"""The state of every live track of one tracker, as parallel numpy arrays (struct of arrays).

Row t of every array describes track t. Tracks are tentative until they get an id (`id == -1`),
confirmed while matched, lost while unmatched, and removed (rows dropped) by the tracker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.tracking.kalman import BoxKalman, cxcywh_to_xyxy, full_cov


@dataclass(frozen=True, slots=True)
class EndedTrack:
    """A confirmed track that was removed: its id, first and last matched frame, matched frames."""

    track_id: int
    first_frame: int
    last_frame: int
    hits: int


class TrackTable:
    """Kalman state plus life-cycle counters of T tracks.

    Attributes:
        mean: (T, 8) float64 Kalman means (cx, cy, w, h, velocities), frame pixels.
        var: (T, 3, 4) float64 covariance blocks (`kalman.block_cov`); `cov` gives (T, 8, 8).
        id: (T,) int64 track id, -1 while tentative.
        hits: (T,) int64 matched frames in total (consecutive while tentative: a tentative track
            is removed on its first miss).
        since: (T,) float64 frames since the last match (0 right after one).
        first_frame / last_frame: (T,) int64 first and last matched frame index.
    """

    def __init__(self, kalman: BoxKalman) -> None:
        self.kalman = kalman
        self.mean = np.zeros((0, 8))
        self.var = np.zeros((0, 3, 4))
        self.id = np.zeros(0, np.int64)
        self.hits = np.zeros(0, np.int64)
        self.since = np.zeros(0)
        self.first_frame = np.zeros(0, np.int64)
        self.last_frame = np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.id)

    def predict(self, dt: float) -> None:
        """Advance all tracks by `dt` frames; lost tracks stop growing or shrinking."""
        if not len(self):
            return
        self.mean[:, 6:8] *= (self.since == 0)[:, None]
        self.var = self.kalman.predict_blocks(self.mean, self.var, dt)
        np.maximum(self.mean[:, 2:4], 1.0, out=self.mean[:, 2:4])
        self.since += dt

    @property
    def cov(self) -> np.ndarray:
        """(T, 8, 8) full covariances (built from the blocks)."""
        return full_cov(self.var)

    def xyxy(self) -> np.ndarray:
        """(T, 4) predicted/current boxes, xyxy."""
        return cxcywh_to_xyxy(self.mean)

    def correct(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray, frame: int) -> None:
        """Update tracks `rows` with their matched (len(rows), 4) cxcywh boxes and scores."""
        if len(rows):
            mean, var = self.mean[rows], self.var[rows]
            self.kalman.update_blocks(mean, var, boxes, scores)
            self.mean[rows] = mean
            self.var[rows] = var
            self.hits[rows] += 1
            self.since[rows] = 0.0
            self.last_frame[rows] = frame

    def spawn(self, boxes: np.ndarray, scores: np.ndarray, frame: int) -> np.ndarray:
        """Append tentative tracks for (N, 4) cxcywh boxes; returns their row indices."""
        n = len(boxes)
        start = len(self)
        if n:
            mean, var = self.kalman.initiate_blocks(boxes)
            self.mean = np.concatenate([self.mean, mean])
            self.var = np.concatenate([self.var, var])
            self.id = np.concatenate([self.id, np.full(n, -1, np.int64)])
            self.hits = np.concatenate([self.hits, np.ones(n, np.int64)])
            self.since = np.concatenate([self.since, np.zeros(n)])
            self.first_frame = np.concatenate([self.first_frame, np.full(n, frame, np.int64)])
            self.last_frame = np.concatenate([self.last_frame, np.full(n, frame, np.int64)])
        return np.arange(start, start + n)

    def remove(self, mask: np.ndarray) -> list[EndedTrack]:
        """Drop the rows in boolean `mask`; returns the confirmed ones among them."""
        if not np.count_nonzero(mask):
            return []
        ended = [EndedTrack(int(self.id[i]), int(self.first_frame[i]), int(self.last_frame[i]),
                            int(self.hits[i])) for i in (mask & (self.id >= 0)).nonzero()[0]]
        keep = ~mask
        for name in ("mean", "var", "id", "hits", "since", "first_frame", "last_frame"):
            setattr(self, name, getattr(self, name)[keep])
        return ended
