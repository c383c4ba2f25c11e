"""ByteTrack-style tracker: two-stage matching, confident boxes first, then low-score boxes.

Written from the ByteTrack paper (Zhang et al., 2022). Steps of `_associate`:
1. confirmed and lost tracks vs high-score boxes (IoU);
2. confirmed tracks still unmatched and not lost vs low-score boxes (stricter IoU);
3. tentative tracks vs the high-score boxes left;
unmatched boxes with score >= `new_track_score` start tentative tracks (in `MotionTracker`).
"""

from __future__ import annotations

import numpy as np

from stages.tracking.association import match_iou
from stages.tracking.base import MotionTracker


class ByteTracker(MotionTracker):
    """Two-stage (high / low score) IoU association.

    Args:
        high_score: boxes at or above this score are matched first and may start tracks.
        low_score: boxes below this score are ignored entirely.
        new_track_score: an unmatched box needs this score to start a track.
        match_iou: minimum IoU for the first stage.
        low_match_iou: minimum IoU for the second (low-score) stage.
        tentative_iou: minimum IoU to match tentative tracks.
        lost_frames / min_hits and Kalman noise: see `MotionTracker`.
    """

    def __init__(self, *, high_score: float = 0.6, low_score: float = 0.1, new_track_score: float = 0.7,
                 match_iou: float = 0.2, low_match_iou: float = 0.5, tentative_iou: float = 0.3,
                 lost_frames: int = 30, min_hits: int = 2, **kwargs: float) -> None:
        super().__init__(lost_frames=lost_frames, min_hits=min_hits, new_track_score=new_track_score,
                         **kwargs)  # type: ignore[arg-type]
        self.high_score = high_score
        self.low_score = low_score
        self.match_iou = match_iou
        self.low_match_iou = low_match_iou
        self.tentative_iou = tentative_iou

    def _associate(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.tracks
        pred = t.xyxy()
        high = np.flatnonzero(scores >= self.high_score)
        low = np.flatnonzero((scores >= self.low_score) & (scores < self.high_score))
        confirmed = np.flatnonzero(t.id >= 0)
        tentative = np.flatnonzero(t.id < 0)
        tis, dis = [], []

        # 1. confirmed + lost tracks vs confident boxes
        a, b = match_iou(pred[confirmed], boxes[high], self.match_iou)
        tis.append(confirmed[a])
        dis.append(high[b])
        rest_t = np.setdiff1d(confirmed, confirmed[a])
        rest_h = np.setdiff1d(high, high[b])

        # 2. unmatched tracks seen on the previous frame vs low-score boxes
        recent = rest_t[t.since[rest_t] <= self._dt + 1e-9] if len(low) else rest_t[:0]
        a, b = match_iou(pred[recent], boxes[low], self.low_match_iou)
        tis.append(recent[a])
        dis.append(low[b])

        # 3. tentative tracks vs confident boxes left over
        a, b = match_iou(pred[tentative], boxes[rest_h], self.tentative_iou)
        tis.append(tentative[a])
        dis.append(rest_h[b])
        return np.concatenate(tis), np.concatenate(dis)
