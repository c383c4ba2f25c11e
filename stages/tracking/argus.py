"""Argus tracker (the default): ByteTrack association plus what measurably helped on MOT data.

On top of `ByteTracker`'s two-stage matching it adds:
- a recovery stage: lost tracks get a second chance against the confident boxes left over, with
  buffered IoU (boxes grown by `recover_buffer`) so a track that drifted while unseen still meets
  its object again instead of being replaced by a new id;
- camera-motion compensation when frames are given (`cmc.py`): track states are warped by the
  global frame-to-frame similarity before prediction;
- optional score-scaled measurement noise in the Kalman update.
"""

from __future__ import annotations

import numpy as np

from stages.tracking.association import match_iou
from stages.tracking.bytetrack import ByteTracker
from stages.tracking.cmc import CameraMotion, warp_tracks


class ArgusTracker(ByteTracker):
    """ByteTrack association + lost-track recovery + camera-motion compensation.

    Args:
        recover_buffer: fraction each box is grown on every side for the recovery stage (0 = off).
        recover_iou: minimum buffered IoU to recover a lost track.
        cmc: estimate camera motion from `image` when it is given to `update`.
        other arguments: see `ByteTracker` and `MotionTracker`.
    """

    def __init__(self, *, recover_buffer: float = 0.3, recover_iou: float = 0.3, cmc: bool = True,
                 **kwargs: float) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.recover_buffer = recover_buffer
        self.recover_iou = recover_iou
        self.camera = CameraMotion() if cmc else None

    def _compensate(self, image: np.ndarray | None) -> None:
        if self.camera is None or image is None:
            return
        A = self.camera.estimate(image)
        if A is not None and len(self.tracks):
            self.tracks.mean, self.tracks.cov = warp_tracks(self.tracks.mean, self.tracks.cov, A)

    def _associate(self, boxes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ti, di = super()._associate(boxes, scores)
        if not self.recover_buffer:
            return ti, di
        t = self.tracks
        free_t = np.ones(len(t), bool)
        free_t[ti] = False
        lost = np.flatnonzero(free_t & (t.id >= 0))
        free_d = scores >= self.high_score
        free_d[di] = False
        cand = np.flatnonzero(free_d)
        if not len(lost) or not len(cand):
            return ti, di
        a, b = match_iou(t.xyxy()[lost], boxes[cand], self.recover_iou, buffer=self.recover_buffer)
        return np.concatenate([ti, lost[a]]), np.concatenate([di, cand[b]])
