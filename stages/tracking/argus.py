"""Argus tracker (the default): ByteTrack association plus what measurably helped on MOT data.

On top of `ByteTracker`'s two-stage matching it adds:
- a recovery stage: lost tracks get a second chance against the confident boxes left over, with
  buffered IoU (boxes grown by `recover_buffer`) so a track that drifted while unseen still meets
  its object again instead of being replaced by a new id;
- camera-motion compensation when frames are given (`cmc.py`): track states are warped by the
  global frame-to-frame similarity before prediction;
- velocity noise scaled with the frame rate (`rate_exponent`), looser IoU gates (0.1).
Defaults were chosen on the MOT15 train sequences in shared/data/mot (TUD 25 fps, KITTI 10 fps)
with one parameter set for all sequences; no ground truth is used at run time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stages.tracking.association import iou_matrix
from stages.tracking.bytetrack import ByteTracker
from stages.tracking.cmc import CameraMotion, warp_tracks
from stages.tracking.kalman import cxcywh_to_xyxy


class ArgusTracker(ByteTracker):
    """ByteTrack association + lost-track recovery + camera-motion compensation.

    Args:
        recover_buffer: fraction each box is grown on every side for the recovery stage (0 = off).
        recover_iou: minimum buffered IoU to recover a lost track.
        cmc: estimate camera motion from `image` when it is given to `update`.
        other arguments: see `ByteTracker` and `MotionTracker`.
    """

    def __init__(self, *, recover_buffer: float = 0.2, recover_iou: float = 0.1, cmc: bool = True,
                 match_iou: float = 0.1, tentative_iou: float = 0.1, rate_exponent: float = 0.5,
                 **kwargs: float) -> None:
        super().__init__(match_iou=match_iou, tentative_iou=tentative_iou, rate_exponent=rate_exponent,
                         **kwargs)  # type: ignore[arg-type]
        self.recover_buffer = recover_buffer
        self.recover_iou = recover_iou
        self.camera = CameraMotion() if cmc else None

    def _compensate(self, image: np.ndarray | None) -> None:
        if self.camera is None or image is None:
            return
        A = self.camera.estimate(image)
        if A is not None and len(self.tracks):
            warp_tracks(self.tracks.mean, self.tracks.var, A)

    def _extra_stages(self, stage: Callable[..., None], boxes: np.ndarray, high: np.ndarray,
                      confirmed: np.ndarray, free_t: np.ndarray, free_d: np.ndarray) -> None:
        """4. lost tracks vs confident boxes left, with buffered IoU."""
        if not self.recover_buffer:
            return
        lost = self.tracks.since > self._dt + 1e-9
        if not np.count_nonzero(lost):  # no track lost before this frame
            return
        lost &= confirmed & free_t
        cand = high & free_d
        if np.count_nonzero(lost) and np.count_nonzero(cand):
            g = self.recover_buffer
            sim = iou_matrix(cxcywh_to_xyxy(self.tracks.mean, g), cxcywh_to_xyxy(self._cxcywh, g))
            stage(lost, cand, self.recover_iou, sim)
