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
        since: (T,) float64 frames since the last match (0 right after one).
        info: (T, 4) int64 columns id, hits, first_frame, last_frame (views below), packed so
            adding and removing tracks touches few arrays.
        id: (T,) track id, -1 while tentative.
        hits: (T,) matched frames in total (consecutive while tentative: a tentative track is
            removed on its first miss).
        first_frame / last_frame: (T,) first and last matched frame index.
    """

    def __init__(self, kalman: BoxKalman) -> None:
        self.kalman = kalman
        self.mean = np.zeros((0, 8))
        self.var = np.zeros((0, 3, 4))
        self.since = np.zeros(0)
        self._set_info(np.zeros((0, 4), np.int64))

    def _set_info(self, info: np.ndarray) -> None:
        """Install a new `info` array with its column views `id`, `hits`, `first_frame`,
        `last_frame` (plain attributes, not properties: they are read several times a frame)."""
        self.info = info
        self.id, self.hits, self.first_frame, self.last_frame = info.T

    def __len__(self) -> int:
        return len(self.since)

    def predict(self, dt: float) -> None:
        """Advance all tracks by `dt` frames; lost tracks stop growing or shrinking."""
        if not len(self):
            return
        mean = self.mean
        size_vel = mean[:, 6:8]  # zeroed where unmatched (copyto: ~1 µs less than `*= mask`)
        np.copyto(size_vel, 0.0, where=(self.since != 0)[:, None])
        self.var = self.kalman.predict_blocks(mean, self.var, dt)
        size = mean[:, 2:4]
        np.maximum(size, 1.0, out=size)
        self.since += dt

    @property
    def cov(self) -> np.ndarray:
        """(T, 8, 8) full covariances (built from the blocks)."""
        return full_cov(self.var)

    def xyxy(self) -> np.ndarray:
        """(T, 4) predicted/current boxes, xyxy."""
        return cxcywh_to_xyxy(self.mean)

    def correct(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None, frame: int) -> None:
        """Update tracks `rows` with their matched (len(rows), 4) cxcywh boxes and scores."""
        if len(rows):
            # `take` gathers rows in a third of the time of `array[rows]` on these small arrays
            mean, var = self.mean.take(rows, 0), self.var.take(rows, 0)
            self.kalman.update_blocks(mean, var, boxes, scores)
            self.mean[rows] = mean
            self.var[rows] = var
            self.since[rows] = 0.0
            self.hits[rows] += 1  # through the 1-D column views: twice as fast as info[rows, 1]
            self.last_frame[rows] = frame

    def spawn(self, boxes: np.ndarray, frame: int) -> np.ndarray:
        """Append tentative tracks for (N, 4) cxcywh boxes; returns their row indices."""
        n = len(boxes)
        start = len(self)
        if n:
            mean, var = self.kalman.initiate_blocks(boxes)
            self.mean = np.concatenate([self.mean, mean])
            self.var = np.concatenate([self.var, var])
            self.since = np.concatenate([self.since, np.zeros(n)])
            new = np.empty((n, 4), np.int64)
            new[:] = (-1, 1, frame, frame)
            self._set_info(np.concatenate([self.info, new]))
        return np.arange(start, start + n)

    def remove(self, mask: np.ndarray) -> list[EndedTrack]:
        """Drop the rows in boolean `mask`; returns the confirmed ones among them."""
        if not np.count_nonzero(mask):
            return []
        ended = [EndedTrack(i, first, last, hits)
                 for i, hits, first, last in self.info[mask & (self.id >= 0)].tolist()]
        keep = (~mask).nonzero()[0]
        self.mean, self.var, self.since = self.mean.take(keep, 0), self.var.take(keep, 0), self.since.take(keep)
        self._set_info(self.info.take(keep, 0))
        return ended
