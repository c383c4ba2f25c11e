"""SORT-style tracker: Kalman prediction + one-stage IoU matching of every track to every box.

Written from the SORT paper (Bewley et al., 2016); no code from the GPL-licensed reference.
"""

from __future__ import annotations

import numpy as np

from stages.tracking.association import match_iou
from stages.tracking.base import MotionTracker


class SortTracker(MotionTracker):
    """One-stage IoU association.

    Args:
        min_iou: minimum IoU between a predicted track box and a detection to match them.
        min_score: detections below this score are ignored (track_id -1).
        lost_frames / min_hits: see `MotionTracker`.
    """

    SETTINGS = (*MotionTracker.SETTINGS, "min_iou", "min_score")

    def __init__(self, *, min_iou: float = 0.3, min_score: float = 0.0, lost_frames: int = 30,
                 min_hits: int = 3, **kwargs: float) -> None:
        super().__init__(lost_frames=lost_frames, min_hits=min_hits, new_track_score=min_score,
                         **kwargs)  # type: ignore[arg-type]
        self.min_iou = min_iou
        self.min_score = min_score

    def _associate(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cand = np.flatnonzero(scores >= self.min_score)
        ti, dj = match_iou(self.tracks.xyxy(), boxes[cand], self.min_iou)
        return ti, cand[dj]
