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
        state: (5, 4, T) float64 Kalman state, component-major: rows position, velocity and the
            covariance blocks pos-pos, pos-vel, vel-vel, each (4, T) over cx, cy, w, h (frame
            pixels) and tracks. Kept this way so that every Kalman step works on contiguous rows
            (`BoxKalman.predict_state` / `update_state`); `mean` and `var` are views of it.
        mean: (T, 8) float64 Kalman means (cx, cy, w, h, velocities): a writable view of `state`.
        var: (T, 3, 4) float64 covariance blocks pos-pos, pos-vel, vel-vel per component, a
            writable view of `state`; `cov` gives (T, 8, 8).
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
        self.state = np.zeros((5, 4, 0))
        self.since = np.zeros(0)
        self._set_info(np.zeros((0, 4), np.int64))

    def _set_info(self, info: np.ndarray) -> None:
        """Install a new `info` array with its column views `id`, `hits`, `first_frame`,
        `last_frame` (plain attributes, not properties: they are read several times a frame)."""
        self.info = info
        self.id, self.hits, self.first_frame, self.last_frame = info.T

    def __len__(self) -> int:
        return len(self.since)

    @property
    def mean(self) -> np.ndarray:
        """(T, 8) view of the means (`state` rows 0-1 are (8, T) contiguous)."""
        return self.state[:2].reshape(8, -1).T

    @property
    def var(self) -> np.ndarray:
        """(T, 3, 4) view of the covariance blocks."""
        return self.state[2:].transpose(2, 0, 1)

    @property
    def cov(self) -> np.ndarray:
        """(T, 8, 8) full covariances (built from the blocks)."""
        return full_cov(self.var)

    def predict(self, dt: float) -> None:
        """Advance all tracks by `dt` frames; lost tracks stop growing or shrinking."""
        if not len(self):
            return
        x = self.state
        np.copyto(x[1, 2:4], 0.0, where=self.since != 0)  # size velocity of unmatched tracks
        self.kalman.predict_state(x, dt)
        size = x[0, 2:4]
        np.maximum(size, 1.0, out=size)
        self.since += dt

    def xyxy(self) -> np.ndarray:
        """(T, 4) predicted/current boxes, xyxy."""
        return cxcywh_to_xyxy(self.state[0].T)

    def correct(self, rows: np.ndarray, boxes: np.ndarray, scores: np.ndarray | None, frame: int) -> None:
        """Update tracks `rows` with their matched (len(rows), 4) cxcywh boxes and scores."""
        if len(rows):
            x = self.state.take(rows, 2)  # (5, 4, M) contiguous copy
            self.kalman.update_state(x, boxes, scores)
            self.state[:, :, rows] = x
            self.since[rows] = 0.0
            self.hits[rows] += 1  # through the 1-D column views: twice as fast as info[rows, 1]
            self.last_frame[rows] = frame

    def spawn(self, boxes: np.ndarray, frame: int) -> np.ndarray:
        """Append tentative tracks for (N, 4) cxcywh boxes; returns their row indices."""
        n = len(boxes)
        start = len(self)
        if n:
            self.state = np.concatenate([self.state, self.kalman.initiate_state(boxes)], axis=2)
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
        self.state, self.since = self.state.take(keep, 2), self.since.take(keep)
        self._set_info(self.info.take(keep, 0))
        return ended
